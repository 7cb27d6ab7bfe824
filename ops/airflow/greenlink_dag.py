"""Airflow DAG `greenlink_monthly`: the greenlink pipeline on the newest dump, one task per stage.

    newest_dump >> ingest >> classify >> policy >> ... >> estimate

`newest_dump` prints the newest dump folder (ops/monthly.sh --newest; its last line is the
task's XCom). Every stage task submits `greenlink run --stages <stage> --input <that folder>`
to the cluster through ops/submit.sh, so a failed stage can be cleared and retried alone and
each stage gets its own row in _meta.runs. ops/submit.sh passes the Delta and GraphFrames
jars of .cache/jars (or, with --packages, their coordinates and GREENLINK_MAVEN_REPOS as
--repositories), so the networks stage finds GraphFrames on the cluster. The stages and their order are read from
greenlink's own registry (`STAGES` in lib/greenlink/core/stages.py), parsed rather than imported:
Airflow's interpreter needs neither greenlink nor Spark. BashOperator keeps the DAG free of
provider packages; with apache-airflow-providers-apache-spark, a SparkSubmitOperator with
application=jobs/run.py and the same arguments (`python -m greenlink.ops.submit --dry-run`
prints them) is equivalent.

Deploy: copy or link this file into the DAGs folder and set the Airflow Variables (or
environment) GREENLINK_HOME, GREENLINK_MASTER, GREENLINK_DUMPS, GREENLINK_WAREHOUSE.
"""
from __future__ import annotations

import ast
import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG

try:                                   # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:                    # Airflow 2
    from airflow.operators.bash import BashOperator

HOME = os.environ.get("GREENLINK_HOME", str(Path(__file__).resolve().parents[2]))
WAREHOUSE = os.environ.get("GREENLINK_WAREHOUSE", "/data/greenlink/warehouse")
# A stage waits this long for a run still holding the warehouse (a manual run, a late retry).
LOCK_WAIT_S = 1800


def pipeline_stages(home: str = HOME) -> list[str]:
    """The stage names of `STAGES` in lib/greenlink/core/stages.py (one `Stage(name, package,
    help)` a stage, in pipeline order), read without importing greenlink."""
    source = Path(home, "lib", "greenlink", "core", "stages.py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        target = getattr(node, "target", None) or (node.targets[0] if isinstance(node, ast.Assign) else None)
        if getattr(target, "id", None) == "STAGES":
            return [ast.literal_eval(stage.args[0]) for stage in node.value.elts]
    raise RuntimeError(f"no STAGES tuple in {source}")


def stage_command(stage: str) -> str:
    inp = "{{ ti.xcom_pull(task_ids='newest_dump') }}"
    return (f"cd {HOME} && ops/submit.sh run --stages {stage} --input '{inp}' "
            f"--warehouse {WAREHOUSE} --lock-wait {LOCK_WAIT_S}")


with DAG(
    dag_id="greenlink_monthly",
    description="greenlink: green patent networks pipeline on the newest dump",
    schedule="0 3 2 * *",                     # 2nd of the month, 03:00 (as ops/cron/greenlink.cron)
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,                        # runs of the DAG never overlap
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10), "execution_timeout": timedelta(hours=12)},
    tags=["greenlink", "spark"],
) as dag:
    previous = BashOperator(task_id="newest_dump", bash_command=f"cd {HOME} && ops/monthly.sh --newest")
    for stage in pipeline_stages():
        task = BashOperator(task_id=stage, bash_command=stage_command(stage))
        previous >> task
        previous = task
