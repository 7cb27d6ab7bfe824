"""Benchmark of the networks stage's PageRank alone (not a test).

    .venv/bin/python bench/bench_pagerank.py --warehouse WAREHOUSE [--profile local]
        [--checkpoint-interval K] [--repeat N] [--json OUT.json]

Builds the stage's GraphFrame (`network_graph`: both networks, every year, from the gold edge
tables and the sample of a warehouse the networks stage has written) as the stage does (vertices
and edges local-checkpointed, the stage's session settings), then runs `network_pagerank` on it
N + 1 times in one session and reports each run's wall time (the first warms the JVM and is
reported apart), the Spark jobs each run took and the number of Pregel iterations these imply.
`--checkpoint-interval K` sets `spark.graphx.pregel.checkpointInterval` for the session
(-1, Spark's default: no checkpoints). The pipeline does not set it: GraphX deletes Pregel's
checkpoints while the graph it returns may still need them (docs/benchmarks.md, 2026-12-08).
Nothing is written to the warehouse.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

KEY = "spark.graphx.pregel.checkpointInterval"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warehouse", required=True, help="warehouse holding the gold edge tables and gold.sample_log")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--checkpoint-interval", type=int, default=None, metavar="K",
                    help=f"{KEY} for this session (-1: none, Spark's default)")
    ap.add_argument("--repeat", type=int, default=5, metavar="N", help="timed runs after the warm-up run")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

    from graphframes import GraphFrame

    from greenlink.core import tables
    from greenlink.core.config import load_profile
    from greenlink.core.session import get_spark, stage_settings
    from greenlink.gold.networks import metrics as nm
    from greenlink.gold.networks.settings import NetworksSettings
    from greenlink.gold.sample import sample_cities
    from greenlink.gold.tables import COLLAB_EDGES, TRANSFER_EDGES

    prof = load_profile(args.profile)
    if args.checkpoint_interval is not None:
        prof = replace(prof, spark_conf={**prof.spark_conf, KEY: str(args.checkpoint_interval)})
    spark = get_spark(prof, args.warehouse, app_name="bench-pagerank")
    interval = spark.sparkContext.getConf().get(KEY, "-1")
    cfg = NetworksSettings.load(None)
    tracker = spark.sparkContext.statusTracker()
    group = "bench-pagerank"
    times, jobs = [], []
    with stage_settings(spark, "networks"):
        cities = spark.createDataFrame(sample_cities(spark).toPandas())
        collab, transfer = (tables.read(spark, s.name) for s in (COLLAB_EDGES, TRANSFER_EDGES))
        graph = nm.network_graph(collab, transfer, cities, cfg.year_list)
        graph = GraphFrame(graph.vertices.localCheckpoint(eager=True), graph.edges.localCheckpoint(eager=True))
        n_arcs = nm.directed_view(graph).edges.count()
        for i in range(args.repeat + 1):
            spark.sparkContext.setJobGroup(f"{group}-{i}", "pagerank")
            t = time.monotonic()
            n = nm.network_pagerank(graph, tol=cfg.pagerank_tol).count()
            times.append(time.monotonic() - t)
            jobs.append(len(tracker.getJobIdsForGroup(f"{group}-{i}")))
            print(f"run {i}{' (warm-up)' if i == 0 else ''}: {times[-1]:.2f} s, {jobs[-1]} Spark jobs, {n:,} ranks",
                  flush=True)
    timed = times[1:]
    out = {"warehouse": args.warehouse, "profile": args.profile, KEY: interval, "arcs": n_arcs,
           "vertices": graph.vertices.count(), "pagerank_tol": cfg.pagerank_tol, "warm_up_s": round(times[0], 2),
           "runs_s": [round(t, 2) for t in timed], "median_s": round(statistics.median(timed), 2) if timed else None,
           "spark_jobs": jobs, "load_average": os.getloadavg()[0]}
    print(f"{KEY}={interval}: median {out['median_s']} s over {len(timed)} runs "
          f"({out['vertices']:,} vertices, {n_arcs:,} arcs)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
