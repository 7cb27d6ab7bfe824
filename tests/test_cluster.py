"""The pipeline submitted to a Spark standalone cluster (ops/cluster.sh: a master and two
workers on loopback) writes the same tables as a local run — the networks stage with
GraphFrames (its jars shipped with Delta's from .cache/jars).

The most expensive test of the suite, so it is budgeted: one cluster start, one
spark-submit of `jobs/run.py` with the stages the shared local reference ran
(`reference_warehouse`: `pipeline_warehouse`, or ingest only where that fixture is absent),
one content comparison of every bronze, silver and gold table. Every step has a timeout, the cluster is stopped whatever happens, and the master
port is chosen by the OS (port 0), so parallel runs and a user's own cluster do not clash.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import procs

from greenlink.core.jars import local_jars
from greenlink.ops import submit
from greenlink.ops.analyst import read_table
from greenlink.ops.cli import PIPELINE
from greenlink.ops.diff import warehouse_differences
from greenlink.ops.pipeline import reads_input as stage_reads_input

CLUSTER = str(procs.ROOT / "ops" / "cluster.sh")
BUDGET_S = 1800          # cluster start + pipeline on 2 one-core workers + stop, on a shared 2-core machine
START_TIMEOUT_S = 240


def submissions(reference_stages: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(job, options) to submit so that the cluster runs what the reference ran: `run --all`
    or `run --stages …`, then any stage the reference ran after them that is not (yet) in
    cli.PIPELINE, through its own entry point."""
    in_pipeline = [s for s in reference_stages if s in PIPELINE]
    extra = [s for s in reference_stages if s not in PIPELINE]
    assert list(reference_stages) == in_pipeline + extra, f"cannot replay stage order {reference_stages}"
    first = ["--all"] if in_pipeline == list(PIPELINE) else ["--stages", ",".join(in_pipeline)]
    return [("run", first), *[(s, []) for s in extra]]


def test_pipeline_on_cluster_equals_local_run(reference_warehouse, generated_world, tmp_path):
    t0 = time.monotonic()
    state = tmp_path / "cluster"
    env = {"GREENLINK_MASTER_PORT": "0", "GREENLINK_CLUSTER_STATE": str(state),
           "GREENLINK_WORKER_CORES": "1", "GREENLINK_WORKER_MEMORY": "1g",
           "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    wh = tmp_path / "warehouse"
    # the networks stage runs on GraphFrames: its jar and the graphx jar go with Delta's
    assert {"graphframes-spark4_2.13-0.11.0.jar", "graphframes-graphx-spark4_2.13-0.11.0.jar"} <= {
        j.name for j in local_jars()}
    try:
        started = procs.run([CLUSTER, "start"], tmp_path / "start.log", START_TIMEOUT_S, env)
        assert started.returncode == 0, started.tail()
        master = started.log.read_text().strip().splitlines()[-1]
        assert master.startswith("spark://127.0.0.1:"), started.tail()
        seconds = 0.0
        for job, options in submissions(reference_warehouse.stages):
            reads_input = job == "run" or stage_reads_input(job)
            common = ["--warehouse", str(wh)] + (["--input", str(generated_world)] if reads_input else [])
            cmd = submit.spark_submit_command(
                job, [*options, *common], master=master, jars=local_jars(), python=sys.executable,
                driver_memory="1g",
                # small world: few partitions (these --conf win over the cluster profile's 64)
                conf={"spark.executor.memory": "1g", "spark.ui.enabled": "false",
                      "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4",
                      "spark.databricks.delta.snapshotPartitions": "2",
                      # each executor JVM lives for one small pipeline: its C2 JIT compiler spent
                      # more CPU than its tasks; C1 only there (test 342/358 -> 307/287 s,
                      # docs/benchmarks.md). The driver keeps C2: a local run with C1 only was slower.
                      "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1"},
                spark_submit=submit.spark_submit_binary())
            assert cmd[-2:] == ["--profile", "cluster"]
            done = procs.run(cmd, tmp_path / f"submit-{job}.log", BUDGET_S - (time.monotonic() - t0), env)
            assert done.returncode == 0, done.tail()
            seconds += done.seconds
    finally:
        subprocess.run([CLUSTER, "stop"], env={**os.environ, **env}, timeout=120, capture_output=True)
    status = subprocess.run([CLUSTER, "status"], env={**os.environ, **env}, capture_output=True, text=True)
    assert status.stdout.count("stopped") == 3, status.stdout

    # the work ran in executors on both workers, not in a local driver
    assert all(list((state / f"work{w}").glob("app-*")) for w in (1, 2))
    ends = read_table(wh, "_meta.runs").query("event == 'end'")
    assert set(ends["status"]) == {"succeeded"} and {"run", *reference_warehouse.stages} <= set(ends["job"])
    assert warehouse_differences(reference_warehouse.path, wh) == {}
    # GraphFrames ran on the cluster: components, PageRank and the reciprocity motif are there
    assert "networks" in set(ends["job"])
    summary = read_table(wh, "gold.network_summary")
    assert summary.loc[summary["network"] == "transfer", "reciprocated_pairs"].notna().all()
    assert read_table(wh, "gold.city_network_metrics")[["pagerank", "pagerank_gt"]].gt(0).all().all()
    print(f"cluster test: {time.monotonic() - t0:.0f}s of {BUDGET_S}s budget "
          f"(start {started.seconds:.0f}s, pipeline {seconds:.0f}s)")
