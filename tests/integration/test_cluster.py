"""The pipeline submitted to a Spark standalone cluster (ops/cluster.sh: a master and two
workers on loopback) writes the same tables as a local run — the networks stage with
GraphFrames (its jars shipped with Delta's from .cache/jars) — also when the cluster loses an
executor, a worker or the driver in the middle of a stage (docs/operations.md, "Cluster faults").

The most expensive tests of the suite, so they are budgeted: one cluster start for the module,
one spark-submit of `jobs/run.py` with the stages the shared local reference ran
(`reference_warehouse`: `pipeline_warehouse`, or ingest only where that fixture is absent),
then the fault tests each on a copy of the reference warehouse, running only the stage they
hurt (`--stages S --full`); every table is compared by content with the reference. Every step
has a timeout, the cluster is stopped whatever happens, and the master port is chosen by the
OS (port 0), so parallel runs and a user's own cluster do not clash.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import procs
import pytest

from greenlink.core.errors import UserError
from greenlink.core.jars import local_jars
from greenlink.core.lock import LOCK_NAME
from greenlink.core.runs import Run, runs_view
from greenlink.core.session import NO_EXECUTOR_KEY, ExecutorWatchdog, session_conf
from greenlink.ops import submit
from greenlink.ops.analyst import read_table
from greenlink.ops.cli import PIPELINE
from greenlink.ops.diff import warehouse_differences
from greenlink.ops.pipeline import reads_input as stage_reads_input

CLUSTER = str(procs.ROOT / "ops" / "cluster.sh")
BUDGET_S = 1800          # cluster start + pipeline on 2 one-core workers + stop, on a shared 2-core machine
START_TIMEOUT_S = 240
STAGE_TIMEOUT_S = 600    # one fault test's submit (one stage of the 5,000-patent world), or waiting in it
# small world: few partitions (these --conf win over the cluster profile's 64)
SUBMIT_CONF = {"spark.executor.memory": "1g", "spark.ui.enabled": "false",
               "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4",
               "spark.databricks.delta.snapshotPartitions": "2",
               # each executor JVM lives for one small pipeline: its C2 JIT compiler spent
               # more CPU than its tasks; C1 only there (test 342/358 -> 307/287 s,
               # docs/benchmarks.md). The driver keeps C2: a local run with C1 only was slower.
               "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


class Cluster(NamedTuple):
    master: str
    state: Path                  # GREENLINK_CLUSTER_STATE: pid files, logs, work1/ and work2/
    env: dict[str, str]
    start_seconds: float

    def sh(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([CLUSTER, *args], env={**os.environ, **self.env}, timeout=timeout,
                              capture_output=True, text=True)

    def worker_pid(self, w: int) -> int:
        return int((self.state / f"worker{w}.pid").read_text())

    def apps(self) -> set[str]:
        """Ids of the applications that ran executors on either worker."""
        return {d.name for d in self.state.glob("work*/app-*")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One standalone cluster (master + 2 one-core workers) for every test of this module;
    stopped at the end whatever happened, and checked to be stopped."""
    state = tmp_path_factory.mktemp("cluster") / "state"
    env = {"GREENLINK_MASTER_PORT": "0", "GREENLINK_CLUSTER_STATE": str(state),
           "GREENLINK_WORKER_CORES": "1", "GREENLINK_WORKER_MEMORY": "1g",
           "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    try:
        started = procs.run([CLUSTER, "start"], state.parent / "start.log", START_TIMEOUT_S, env)
        assert started.returncode == 0, started.tail()
        master = started.log.read_text().strip().splitlines()[-1]
        assert master.startswith("spark://127.0.0.1:"), started.tail()
        yield Cluster(master, state, env, started.seconds)
    finally:
        subprocess.run([CLUSTER, "stop"], env={**os.environ, **env}, timeout=120, capture_output=True)
    status = subprocess.run([CLUSTER, "status"], env={**os.environ, **env}, capture_output=True, text=True)
    assert status.stdout.count("stopped") == 3, status.stdout


@pytest.fixture
def two_workers(cluster):
    """Both workers up (`start` on a running cluster starts again a worker a test stopped)."""
    done = cluster.sh("start", timeout=START_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert cluster.sh("status").stdout.count("running") == 3
    return cluster


def submit_command(master: str, job: str, args: list[str], conf: dict[str, str] | None = None) -> list[str]:
    cmd = submit.spark_submit_command(job, args, master=master, jars=local_jars(), python=sys.executable,
                                      driver_memory="1g", conf={**SUBMIT_CONF, **(conf or {})},
                                      spark_submit=submit.spark_submit_binary())
    assert cmd[-2:] == ["--profile", "cluster"]
    return cmd


def submissions(reference_stages: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(job, options) to submit so that the cluster runs what the reference ran: `run --all`
    or `run --stages …`, then any stage the reference ran after them that is not (yet) in
    cli.PIPELINE, through its own entry point."""
    in_pipeline = [s for s in reference_stages if s in PIPELINE]
    extra = [s for s in reference_stages if s not in PIPELINE]
    assert list(reference_stages) == in_pipeline + extra, f"cannot replay stage order {reference_stages}"
    first = ["--all"] if in_pipeline == list(PIPELINE) else ["--stages", ",".join(in_pipeline)]
    return [("run", first), *[(s, []) for s in extra]]


def test_pipeline_on_cluster_equals_local_run(two_workers, reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    cluster = two_workers
    wh = tmp_path / "warehouse"
    # the networks stage runs on GraphFrames: its jar and the graphx jar go with Delta's
    assert {"graphframes-spark4_2.13-0.11.0.jar", "graphframes-graphx-spark4_2.13-0.11.0.jar"} <= {
        j.name for j in local_jars()}
    apps_before = {w: set((cluster.state / f"work{w}").glob("app-*")) for w in (1, 2)}
    seconds = 0.0
    for job, options in submissions(reference_warehouse.stages):
        reads_input = job == "run" or stage_reads_input(job)
        common = ["--warehouse", str(wh)] + (["--input", str(generated_world)] if reads_input else [])
        done = procs.run(submit_command(cluster.master, job, [*options, *common]), tmp_path / f"submit-{job}.log",
                         BUDGET_S - (time.monotonic() - t0), cluster.env)
        assert done.returncode == 0, done.tail()
        seconds += done.seconds

    # the work ran in executors on both workers, not in a local driver
    assert all(set((cluster.state / f"work{w}").glob("app-*")) - apps_before[w] for w in (1, 2))
    ends = read_table(wh, "_meta.runs").query("event == 'end'")
    assert set(ends["status"]) == {"succeeded"} and {"run", *reference_warehouse.stages} <= set(ends["job"])
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    # GraphFrames ran on the cluster: components, PageRank and the reciprocity motif are there
    assert "networks" in set(ends["job"])
    summary = read_table(wh, "gold.network_summary")
    assert summary.loc[summary["network"] == "transfer", "reciprocated_pairs"].notna().all()
    assert read_table(wh, "gold.city_network_metrics")[["pagerank", "pagerank_gt"]].gt(0).all().all()
    print(f"cluster test: {time.monotonic() - t0:.0f}s of {BUDGET_S}s budget "
          f"(cluster start {cluster.start_seconds:.0f}s, pipeline {seconds:.0f}s)")


# --- faults: an executor, a worker, the driver lost in the middle of a stage ------------------

class StageRun(NamedTuple):
    proc: subprocess.Popen
    log: Path
    run_id: str                  # the stage's run in _meta.runs
    app: str                     # the Spark application id


def started_run(log: Path, stage: str) -> str | None:
    """The run id of `stage` once its `<stage>: started run <id>` line is in the submit log."""
    m = re.search(rf"^.*\b{stage}: started run ([^\s;]+)", log.read_text(errors="replace"), re.M)
    return m.group(1) if m else None


def tasks_begun(cluster: Cluster, app: str, w: int) -> int:
    """Tasks worker w's executors of `app` have begun (their logs, Spark's default INFO level)."""
    return sum(f.read_text(errors="replace").count("Running task")
               for f in (cluster.state / f"work{w}" / app).glob("*/stderr"))


def stage_command(cluster: Cluster, stage: str, wh: Path, world: Path, conf: dict[str, str] | None = None) -> list[str]:
    """spark-submit of `run --stages STAGE --full` on `wh`."""
    return submit_command(cluster.master, "run", ["--stages", stage, "--full", "--warehouse", str(wh),
                                                  "--input", str(world)], conf)


def start_stage(cluster: Cluster, stage: str, wh: Path, world: Path, log: Path,
                conf: dict[str, str] | None = None) -> StageRun:
    """Submit `run --stages STAGE --full` on `wh` and return once the stage has begun, with its
    application id."""
    apps_before = cluster.apps()
    p = procs.start(stage_command(cluster, stage, wh, world, conf), log, cluster.env)
    try:
        run_id = procs.wait_until(lambda: p.poll() is not None or started_run(log, stage), STAGE_TIMEOUT_S,
                                  f"{stage} to start (log {log})")
        assert p.poll() is None, f"the run ended before {stage} started:\n" + procs.Done(p.returncode, log, 0).tail()
        (app,) = procs.wait_until(lambda: cluster.apps() - apps_before, 60, "the application's executors")
    except BaseException:
        procs.kill_group(p)
        raise
    return StageRun(p, log, run_id, app)


def busy_worker(cluster: Cluster, run: StageRun, workers=(1, 2)) -> int:
    """Wait until a worker's executor begins a task of the stage that is running (a task begun after
    the stage's start line) and return that worker: the stage is then under way on it."""
    begun = {w: tasks_begun(cluster, run.app, w) for w in workers}

    def more():
        assert run.proc.poll() is None, "the run ended before a fault could be injected:\n" + procs.Done(
            run.proc.returncode, run.log, 0).tail()
        return next((w for w in workers if tasks_begun(cluster, run.app, w) > begun[w]), None)
    return procs.wait_until(more, STAGE_TIMEOUT_S, f"a task of {run.run_id} on workers {workers}", every=0.2)


def finish(run: StageRun, timeout: float = STAGE_TIMEOUT_S) -> procs.Done:
    t0 = time.monotonic()
    try:
        rc = run.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.kill_group(run.proc)
        raise AssertionError(f"run still going after {timeout:.0f}s:\n" + procs.Done(-9, run.log, 0).tail()) from None
    return procs.Done(rc, run.log, time.monotonic() - t0)


def spark_log_text(wh: Path) -> str:
    """The driver's Spark log of every run on `wh` (core.console: `<warehouse>/_logs/spark-*.log`)."""
    return "\n".join(f.read_text(errors="replace") for f in sorted((wh / "_logs").glob("spark-*.log")))


def run_status(wh: Path, run_id: str) -> str:
    runs = read_table(wh, "_meta.runs")
    ends = runs[(runs["run_id"] == run_id) & (runs["event"] == "end")]
    return ",".join(ends["status"]) or "running"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def copy_of(reference: Path, tmp_path: Path) -> Path:
    """A writable copy of the reference warehouse: silver and gold are there, so a fault test runs
    only the stage it hurts (`--full` rebuilds it although nothing changed)."""
    wh = tmp_path / "warehouse"
    shutil.copytree(reference, wh, ignore=shutil.ignore_patterns("_logs", LOCK_NAME + "*"))
    return wh


def test_executor_killed_mid_classify_is_replaced_and_the_run_equals_local(
        two_workers, reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    cluster = two_workers
    wh = copy_of(reference_warehouse.path, tmp_path)
    run = start_stage(cluster, "classify", wh, generated_world, tmp_path / "submit.log")
    w = busy_worker(cluster, run)
    (victim,) = procs.executor_pids(cluster.worker_pid(w), run.app)
    os.kill(victim, signal.SIGKILL)
    done = finish(run)
    assert done.returncode == 0, done.tail()
    assert run_status(wh, run.run_id) == "succeeded"
    # the driver saw the executor go; the worker started a new one for the application
    # (standalone relaunch), and the stage's lost tasks and shuffle output were computed again
    assert re.search(r"Lost executor \d+", spark_log_text(wh)), "the driver never lost an executor"
    assert len(list((cluster.state / f"work{w}" / run.app).glob("[0-9]*"))) == 2
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    print(f"executor kill test: {time.monotonic() - t0:.0f}s (classify run {done.seconds:.0f}s after the kill)")


def test_driver_killed_mid_stage_then_resubmitted_equals_local(
        two_workers, reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    cluster = two_workers
    wh = copy_of(reference_warehouse.path, tmp_path)
    # panel: the cheapest stage; what is tested is the driver's death and the resubmit
    run = start_stage(cluster, "panel", wh, generated_world, tmp_path / "submit-killed.log")
    busy_worker(cluster, run)
    procs.kill_group(run.proc)       # spark-submit's JVM and the Python driver it started
    # killed in the stage: its run is still `running` and its lock is left behind (stale)
    assert run_status(wh, run.run_id) == "running"
    assert (wh / LOCK_NAME).exists()
    # the same command again, no cleanup: the stale lock is taken over, the run marked killed
    again = procs.run(stage_command(cluster, "panel", wh, generated_world), tmp_path / "submit-again.log",
                      STAGE_TIMEOUT_S, cluster.env)
    assert again.returncode == 0, again.tail()
    assert run_status(wh, run.run_id) == "killed"
    assert not (wh / LOCK_NAME).exists()
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    print(f"driver kill test: {time.monotonic() - t0:.0f}s (resubmitted run {again.seconds:.0f}s)")


def test_worker_lost_mid_networks_the_run_finishes_on_the_other(
        two_workers, reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    cluster = two_workers
    wh = copy_of(reference_warehouse.path, tmp_path)
    run = start_stage(cluster, "networks", wh, generated_world, tmp_path / "submit.log")
    busy_worker(cluster, run, workers=(2,))
    executors = procs.executor_pids(cluster.worker_pid(2), run.app)
    assert cluster.sh("kill-worker", "2").returncode == 0      # a crash: SIGKILL, not a clean stop
    done = finish(run)
    assert done.returncode == 0, done.tail()
    assert run_status(wh, run.run_id) == "succeeded"
    assert "worker2 stopped" in cluster.sh("status").stdout
    # worker 2's executor went with it (it exits when its worker is gone)
    assert executors
    procs.wait_until(lambda: not any(map(alive, executors)), 60, "the lost worker's executor to exit")
    assert re.search(r"Lost executor \d+", spark_log_text(wh)), "the driver never lost an executor"
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    print(f"worker loss test: {time.monotonic() - t0:.0f}s (networks run {done.seconds:.0f}s after the loss)")


# --- the last worker lost: the executor watchdog (core.session.ExecutorWatchdog) -------------

def test_watchdog_fails_a_run_whose_application_has_no_executor(spark, fresh_warehouse, monkeypatch):
    """The watchdog's logic without a cluster (a local session, told its master is a cluster's):
    once the executors are gone, a Spark job of the run that waits longer than the timeout is
    cancelled, the run fails with one line naming the job and its phase, and its end is recorded
    without Spark (delta-rs)."""
    import threading
    import time as _time

    gone = threading.Event()
    monkeypatch.setattr(spark.sparkContext, "master", "spark://127.0.0.1:1")
    monkeypatch.setattr(ExecutorWatchdog, "executors", lambda self: 0 if gone.is_set() else 1)
    with session_conf(spark, {NO_EXECUTOR_KEY: "2"}), pytest.raises(UserError) as failed:
        with Run(spark, "watchdog") as run, run.phase("wait"):
            gone.set()
            t0 = time.monotonic()
            spark.sparkContext.parallelize([0], 1).map(lambda _: _time.sleep(25)).count()
    waited = time.monotonic() - t0
    message = str(failed.value)
    assert message.startswith("watchdog (wait): no Spark executor for ") and "\n" not in message
    assert "no_executor_timeout_s 2 s" in message and "last commit" in message, message
    assert waited < 15, f"the job was not cancelled in time ({waited:.0f}s)"
    runs = read_table(fresh_warehouse, "_meta.runs")
    end = runs[(runs["run_id"] == run.run_id) & (runs["event"] == "end")]
    assert list(end["status"]) == ["failed"] and end["message"].iloc[0].startswith("UserError: " + message)
    # Spark reads the delta-rs commit too; and a local master starts no watchdog
    assert runs_view(spark).filter(f"run_id = '{run.run_id}'").first()["status"] == "failed"
    # a --conf value that is no timeout is refused before the run starts
    with session_conf(spark, {NO_EXECUTOR_KEY: "soon"}), pytest.raises(UserError, match="not a number of seconds"):
        Run(spark, "watchdog").__enter__()
    monkeypatch.undo()
    with session_conf(spark, {NO_EXECUTOR_KEY: "1"}), Run(spark, "watchdog") as run:
        spark.sparkContext.parallelize([0], 1).map(lambda _: _time.sleep(3)).count()
    assert runs_view(spark).filter(f"run_id = '{run.run_id}'").first()["status"] == "succeeded"


def table_versions(wh: Path) -> dict[str, int]:
    """Every Delta table's latest version (`layer.name` -> version), `_meta.runs` but."""
    from deltalake import DeltaTable

    return {f"{d.parent.parent.name}.{d.parent.name}": DeltaTable(str(d.parent)).version()
            for d in sorted(wh.glob("*/*/_delta_log")) if d.parent.parent.name != "_meta"}


def test_last_worker_lost_fails_in_one_line_and_every_table_keeps_its_version(
        two_workers, reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    cluster = two_workers
    wh = copy_of(reference_warehouse.path, tmp_path)
    before = table_versions(wh)
    timeout_s = 15
    # panel: the cheapest stage (as in the driver kill test), so the rerun below costs little;
    # what is tested is the watchdog, whatever stage has a Spark job waiting
    run = start_stage(cluster, "panel", wh, generated_world, tmp_path / "submit.log",
                      conf={NO_EXECUTOR_KEY: str(timeout_s)})
    busy_worker(cluster, run)
    executors = [pid for w in (1, 2) for pid in procs.executor_pids(cluster.worker_pid(w), run.app)]
    for w in (1, 2):
        assert cluster.sh("kill-worker", str(w)).returncode == 0
    lost_at = time.monotonic()
    # the watchdog waits timeout_s (and one look, 5 s at most), cancels, the run records its end
    done = finish(run, timeout=timeout_s + 150)
    assert done.returncode == 2, done.tail()
    printed = [line for line in done.log.read_text(errors="replace").splitlines() if line.startswith("greenlink run:")]
    assert len(printed) == 1 and "Traceback" not in done.log.read_text(errors="replace"), done.tail()
    assert re.match(rf"greenlink run: panel( \(\w+\))?: no Spark executor for \d+ s "
                    rf"\(no_executor_timeout_s {timeout_s} s\).*start the cluster's workers.*last commit", printed[0]), printed
    assert run_status(wh, run.run_id) == "failed"
    runs = read_table(wh, "_meta.runs")
    assert set(runs[(runs["event"] == "end")]["status"]) == {"succeeded", "failed"}   # the reference's, and these
    message = runs[(runs["run_id"] == run.run_id) & (runs["event"] == "end")]["message"].iloc[0]
    assert "no Spark executor" in message and "Spark's log" in message
    assert table_versions(wh) == before
    procs.wait_until(lambda: not any(map(alive, executors)), 60, "the lost workers' executors to exit")

    # workers back (as the next test's fixture does): the same command completes, equal to local
    assert cluster.sh("start", timeout=START_TIMEOUT_S).returncode == 0
    assert cluster.sh("status").stdout.count("running") == 3
    again = procs.run(stage_command(cluster, "panel", wh, generated_world), tmp_path / "submit-again.log",
                      STAGE_TIMEOUT_S, cluster.env)
    assert again.returncode == 0, again.tail()
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    print(f"last worker loss test: {time.monotonic() - t0:.0f}s (failed {done.seconds:.0f}s after the loss "
          f"at {lost_at - t0:.0f}s, rerun {again.seconds:.0f}s)")
