"""Benchmark of a run's change counts (not a test): delta-rs against Spark.

    .venv/bin/python bench/bench_change_counts.py --warehouse WAREHOUSE [--profile local]
        [--repeat N] [--json OUT.json]

Every run records, for every table it owns, the rows its commits added, changed and removed
(`core.state.change_counts`). For each table of the warehouse this asks for the counts of its
last commit both ways, in one warm session, N times each, alternating: read from the local log
by delta-rs (what a local warehouse uses) and by Spark's Delta history and counts (what a URI
warehouse uses; here forced by withholding the local path). Reports the median seconds per
table of each and checks that both give the same counts.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--profile", default="local")
    ap.add_argument("--repeat", type=int, default=3, metavar="N")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

    from greenlink.core import state
    from greenlink.core.catalog import declared
    from greenlink.core.session import get_spark

    spark = get_spark(args.profile, args.warehouse, app_name="bench-change-counts")
    local_path = state._local_path
    names = [n for n in declared() if (state.log_version(spark, n) or 0) > 0]   # a commit before the last

    def timed(name: str, since: int, spark_path: bool) -> tuple[float, dict]:
        state._local_path = (lambda loc: None) if spark_path else local_path
        try:
            t = time.monotonic()
            counts = state.change_counts(spark, name, since)
            return time.monotonic() - t, counts
        finally:
            state._local_path = local_path

    for name in names:      # warm-up: both ways once for every table
        since = state.log_version(spark, name) - 1
        timed(name, since, False), timed(name, since, True)
    rows, same = [], True
    for name in names:
        since = state.log_version(spark, name) - 1
        runs = {"delta_rs": [], "spark": []}
        counts = {}
        for _ in range(args.repeat):
            for way in runs:
                s, counts[way] = timed(name, since, way == "spark")
                runs[way].append(s)
        same &= counts["delta_rs"] == counts["spark"]
        rows.append({"table": name, "since": since, "counts": counts["delta_rs"], "equal": counts["delta_rs"] == counts["spark"],
                     **{f"{way}_s": round(statistics.median(v), 3) for way, v in runs.items()}})
        print(f"{name:40s} delta-rs {rows[-1]['delta_rs_s']:6.3f} s   spark {rows[-1]['spark_s']:6.3f} s   "
              f"{'equal' if rows[-1]['equal'] else 'DIFFERENT'}", flush=True)
    total = {way: round(sum(r[f"{way}_s"] for r in rows), 2) for way in ("delta_rs", "spark")}
    print(f"{len(rows)} tables: delta-rs {total['delta_rs']} s, spark {total['spark']} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps({"warehouse": args.warehouse, "repeat": args.repeat, "tables": rows,
                                               "total_s": total, "all_equal": same}, indent=2) + "\n")
    spark.stop()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
