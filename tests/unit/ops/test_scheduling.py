"""Scheduling files: the cron entry, the monthly script and the Airflow DAG (Airflow is not a
dependency: the DAG is compiled, then built against a minimal stand-in of its API)."""
from __future__ import annotations

import os
import py_compile
import runpy
import subprocess
import sys
import types

from greenlink.ops.cli import PIPELINE

from paths import ROOT

DAG_FILE = ROOT / "ops" / "airflow" / "greenlink_dag.py"


class FakeTask:
    def __init__(self, task_id: str, bash_command: str, **_: object) -> None:
        self.task_id, self.bash_command, self.upstream = task_id, bash_command, []
        FakeDAG.current.tasks.append(self)

    def __rshift__(self, other: "FakeTask") -> "FakeTask":
        other.upstream.append(self.task_id)
        return other


class FakeDAG:
    current: "FakeDAG"

    def __init__(self, **kwargs: object) -> None:
        self.kwargs, self.tasks = kwargs, []

    def __enter__(self) -> "FakeDAG":
        FakeDAG.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_airflow_dag_has_one_task_per_stage_in_order(monkeypatch):
    py_compile.compile(str(DAG_FILE), doraise=True)
    airflow = types.ModuleType("airflow")
    airflow.DAG = FakeDAG
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = FakeTask
    for name, mod in {"airflow": airflow, "airflow.operators": types.ModuleType("airflow.operators"),
                      "airflow.operators.bash": bash}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("GREENLINK_WAREHOUSE", "/wh")
    dag = runpy.run_path(str(DAG_FILE))["dag"]
    assert dag.kwargs["dag_id"] == "greenlink_monthly" and dag.kwargs["max_active_runs"] == 1
    ids = [t.task_id for t in dag.tasks]
    assert ids == ["newest_dump", *PIPELINE]
    assert all(t.upstream == [prev] for prev, t in zip(ids, dag.tasks[1:]))
    ingest = dag.tasks[1].bash_command
    assert "ops/submit.sh run --stages ingest --input '{{ ti.xcom_pull(task_ids='newest_dump') }}'" in ingest
    assert "--warehouse /wh --lock-wait" in ingest


def test_cron_entry_runs_the_monthly_script():
    lines = [ln for ln in (ROOT / "ops" / "cron" / "greenlink.cron").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    jobs = [ln for ln in lines if "=" not in ln.split()[0]]
    assert len(jobs) == 1
    fields = jobs[0].split()
    assert len(fields) > 5 and all(f == "*" or f.isdigit() for f in fields[:5])
    assert "ops/monthly.sh" in jobs[0] and os.access(ROOT / "ops" / "monthly.sh", os.X_OK)


def test_monthly_submits_the_whole_pipeline_on_the_newest_complete_dump(tmp_path):
    dumps = tmp_path / "dumps"
    for name, complete in (("2024-05", True), ("2024-06", True), ("2024-07", False), (".incoming-2024-08", True)):
        (dumps / name).mkdir(parents=True)
        if complete:
            (dumps / name / "patents").mkdir()
    env = {**os.environ, "GREENLINK_DUMPS": str(dumps), "GREENLINK_WAREHOUSE": "/wh",
           "GREENLINK_MASTER": "spark://m:7077", "GREENLINK_PYTHON": sys.executable}
    newest = subprocess.run([ROOT / "ops" / "monthly.sh", "--newest"], env=env, capture_output=True, text=True)
    assert newest.stdout.strip() == str(dumps / "2024-06")
    done = subprocess.run([ROOT / "ops" / "monthly.sh", "--dry-run"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--master spark://m:7077" in done.stdout
    assert done.stdout.strip().endswith(f"jobs/run.py --all --input {dumps / '2024-06'} --warehouse /wh --profile cluster")
    empty = subprocess.run([ROOT / "ops" / "monthly.sh"], env={**env, "GREENLINK_DUMPS": str(tmp_path / "none")},
                           capture_output=True, text=True)
    assert empty.returncode != 0 and "no dump folder" in empty.stderr
