"""Benchmark of a monthly rerun: incremental vs full on the same next-month dump (issue 23; not a test).

    .venv/bin/python bench/bench_incremental.py --world /tmp/b1m/world --root /tmp/b1m/inc \
        [--next DIR | --share 0.01 --seed 1] [--profile local] [--json OUT.json] [--no-full-rerun] \
        [--stages ingest,classify] [--event-log DIR]

In one SparkSession (one JVM, as `greenlink run --all`): warehouse A gets the whole pipeline on
WORLD (last month), then on NEXT (this month: incremental where it can be, as `greenlink run
--all --input NEXT` on a warehouse holding last month's dump); warehouse B gets the whole
pipeline on NEXT from scratch (what a full run costs). Reports each stage's wall time, mode and
reason per run (from `_meta.runs`), the incremental/full ratio, and whether A equals B table by
table (bronze and silver exactly in Spark, gold with `warehouse_differences`' tolerance). NEXT is written
with `synth.nextmonth.next_month` when not given. Prints one JSON document.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_events import with_event_log  # noqa: E402  (bench/ helpers, not a package)


def stage_times(spark, parent_run_id: str) -> dict:
    """Per stage of one `run`: wall seconds, mode and reason, rows changed per table (and the
    years the networks built)."""
    from pyspark.sql import functions as F

    from greenlink.core import tables

    rows = (tables.read(spark, "_meta.runs")
            .where((F.col("parent_run_id") == parent_run_id) & (F.col("event") == "end"))
            .select("job", "duration_s", "inputs", "counts").collect())
    out = {}
    for r in rows:
        inputs, counts = dict(r["inputs"] or {}), dict(r["counts"] or {})
        out[r["job"]] = {"s": round(r["duration_s"], 1), "mode": inputs.get("mode"), "reason": inputs.get("reason"),
                         **({"years_built": inputs["years.built"]} if "years.built" in inputs else {}),
                         "rows": {k[len("rows."):]: v for k, v in sorted(counts.items()) if k.startswith("rows.") and v},
                         "phases_s": {k[len("phase_ms."):]: round(v / 1000, 1) for k, v in counts.items()
                                      if k.startswith("phase_ms.")}}
    return out


def differences(spark, a: Path, b: Path) -> dict[str, list[str]]:
    """A vs B table by table: bronze and silver (millions of rows) exactly in Spark (rows in
    any order, run columns ignored), gold with `warehouse_differences`' float tolerance."""
    from greenlink.core.catalog import declared
    from greenlink.ops.diff import is_run_column, warehouse_differences

    out = warehouse_differences(a, b, layers=("gold",))
    for name in declared():
        layer, _, table = name.partition(".")
        if layer not in ("bronze", "silver"):
            continue
        held = [(w / layer / table / "_delta_log").is_dir() for w in (a, b)]
        if not any(held):
            continue                                      # a stage the bench did not run
        if not all(held):
            out[name] = [f"only in {a if held[0] else b}"]
            continue
        da, db = (spark.read.format("delta").load(str(w / layer / table)) for w in (a, b))
        cols = [c for c in da.columns if not is_run_column(c)]
        extra = da.select(*cols).exceptAll(db.select(*cols)).count()
        missing = db.select(*cols).exceptAll(da.select(*cols)).count()
        if extra or missing:
            out[name] = [f"{extra} rows only in {a}, {missing} only in {b}"]
    return out


def compare(spark, a: Path, b: Path, result: dict) -> None:
    """`differences` of A and B, and the seconds it took, into `result`."""
    t = time.monotonic()
    result["differences"] = differences(spark, a, b)
    result["compare_s"] = round(time.monotonic() - t, 1)


def report(result: dict, json_path: str | None) -> int:
    """Print `result` (with the load now) as JSON, also into `json_path`; the exit status: 1
    when the warehouses compared differ."""
    result["load_after"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    return 0 if not result.get("differences") else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, help="last month's dump (a generated world)")
    ap.add_argument("--next", default=None, help="this month's dump (default: written into ROOT/next)")
    ap.add_argument("--share", type=float, default=0.01, help="share of changed records for the written NEXT")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", required=True, help="folder for the two warehouses (emptied)")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-full-rerun", action="store_true",
                    help="skip warehouse B (at 8.6M a full run takes ~17 min): the ratio is then taken "
                         "against last month's full run, and A is not compared with B")
    ap.add_argument("--stages", default=None,
                    help="comma-separated stages to run (default: the whole pipeline), e.g. ingest")
    ap.add_argument("--event-log", default=None, metavar="DIR",
                    help="write Spark's event log there (profile it with bench/profile_events.py)")
    args = ap.parse_args()

    from greenlink.core.config import load_profile
    from greenlink.core.session import WAREHOUSE_KEY, get_spark
    from greenlink.ops.cli import PIPELINE
    from greenlink.ops.pipeline import PipelineConfig, run_stages
    from greenlink.synth.nextmonth import next_month

    root = Path(args.root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    nxt = Path(args.next) if args.next else root / "next"
    result: dict = {"world": args.world, "next": str(nxt), "load_before": os.getloadavg()[0]}
    if not args.next:
        t = time.monotonic()
        info = next_month(Path(args.world), nxt, share=args.share, seed=args.seed)
        result["next_month"] = {"s": round(time.monotonic() - t, 1), "share": args.share, "seed": args.seed,
                                "changes": {k: v.get("count") for k, v in info["changes"].items()}}
    profile = load_profile(args.profile)
    if args.event_log:
        profile = with_event_log(profile, args.event_log)
    spark = get_spark(profile, str(root / "A"))
    stages = args.stages.split(",") if args.stages else list(PIPELINE)
    unknown = sorted(set(stages) - set(PIPELINE))
    if unknown:
        ap.error(f"unknown stage(s) {unknown}; stages: {', '.join(PIPELINE)}")
    result["stages"] = stages

    def run(warehouse: str, dump: Path, label: str) -> None:
        spark.conf.set(WAREHOUSE_KEY, str(root / warehouse))
        t = time.monotonic()
        parent = run_stages(spark, stages, PipelineConfig(input=str(dump), reports=str(root / f"reports_{warehouse}")))
        result[label] = {"s": round(time.monotonic() - t, 1), "stages": stage_times(spark, parent)}
        print(f"{label}: {result[label]['s']} s", file=sys.stderr)

    run("A", Path(args.world), "last_month_full")
    run("A", nxt, "this_month_incremental")
    if args.no_full_rerun:
        result["ratio_to_last_month_full"] = round(result["this_month_incremental"]["s"]
                                                   / result["last_month_full"]["s"], 3)
        result["differences"] = {}
    else:
        run("B", nxt, "this_month_full")
        result["ratio"] = round(result["this_month_incremental"]["s"] / result["this_month_full"]["s"], 3)
        compare(spark, root / "A", root / "B", result)
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
