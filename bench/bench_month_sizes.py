"""What a monthly rerun costs by the size of the month (issue 23; not a test).

    .venv/bin/python bench/bench_month_sizes.py --world /tmp/b1m/world --root /tmp/b1m/sizes \
        --next /tmp/b1m/world --next /tmp/b1m/next_s0 --next /tmp/b1m/next_s0.001 --next /tmp/b1m/next1 \
        [--full-of /tmp/b1m/next1] [--profile local] [--json OUT.json]

`bench_incremental.py` times one month against a full run; this one asks what part of a month's
cost depends on the month at all. In one SparkSession (one JVM, as `greenlink run --all`):
last month's whole pipeline on WORLD into warehouse L, once; then, for each NEXT (dumps written
by `greenlink generate --next-month-of WORLD --share S`, or WORLD itself: the same bytes again),
a fresh copy of L gets the whole pipeline on NEXT (incremental where it can be). With
`--full-of NEXT`, a new warehouse also gets the full pipeline on that dump, the denominator of
the ratios, and the copy that took NEXT incrementally is compared with it table by table.

Reports per month its changed records (NEXT_MONTH.json's counts), wall seconds per stage and
mode, and per stage a least-squares line through (changed patent records, seconds) over the
re-cut months (every NEXT but WORLD itself): the cost of a month in which no record changed
(intercept) and the cost per thousand changed records (slope). Prints one JSON document.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_incremental import compare, report, stage_times  # noqa: E402  (bench/ helpers, not a package)
from profile_events import with_event_log  # noqa: E402


def changed_records(dump: Path, world: Path) -> dict[str, int] | None:
    """The month's changes by kind (NEXT_MONTH.json), {} for WORLD itself, None when unknown."""
    if dump.resolve() == world.resolve():
        return {}
    listed = dump / "NEXT_MONTH.json"
    if not listed.is_file():
        return None
    return {k: int(v["count"]) for k, v in json.loads(listed.read_text(encoding="utf-8"))["changes"].items()}


def fit(points: list[tuple[int, float]]) -> dict | None:
    """Least-squares seconds = a + b * records over (records, seconds): a, and b per 1,000 records."""
    if len({x for x, _ in points}) < 2:
        return None
    b, a = np.polyfit([x for x, _ in points], [y for _, y in points], 1)
    return {"fixed_s": round(float(a), 1), "s_per_1000_records": round(float(b) * 1000, 2), "points": len(points)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, help="last month's dump (a generated world)")
    ap.add_argument("--next", action="append", required=True, metavar="DIR",
                    help="a dump for this month (repeat: each is run on its own copy of last month)")
    ap.add_argument("--full-of", default=None, metavar="DIR",
                    help="one of the --next dumps: also run it in full (ratios, and a table-by-table check)")
    ap.add_argument("--root", required=True, help="folder for the warehouses (emptied)")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--json", default=None)
    ap.add_argument("--event-log", default=None, metavar="DIR")
    args = ap.parse_args()
    world = Path(args.world)
    months = [Path(n) for n in args.next]
    if args.full_of and Path(args.full_of) not in months:
        ap.error("--full-of must be one of the --next dumps")
    known = {m: changed_records(m, world) for m in months}
    unknown = [str(m) for m, c in known.items() if c is None]
    if unknown:
        ap.error(f"no NEXT_MONTH.json in {', '.join(unknown)} (write them with `greenlink generate --next-month-of`)")

    from greenlink.core.config import load_profile
    from greenlink.core.session import WAREHOUSE_KEY, get_spark
    from greenlink.ops.cli import PIPELINE
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    root = Path(args.root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    profile = load_profile(args.profile)
    if args.event_log:
        profile = with_event_log(profile, args.event_log)
    spark = get_spark(profile, str(root / "L"))
    # one reports folder for every warehouse: the networks stage depends on where it draws,
    # and a copy drawing elsewhere would run it in full for that reason alone
    reports = str(root / "reports")
    result: dict = {"world": str(world), "load_before": os.getloadavg()[0], "months": []}

    def run(warehouse: Path, dump: Path) -> dict:
        spark.conf.set(WAREHOUSE_KEY, str(warehouse))
        t = time.monotonic()
        parent = run_stages(spark, list(PIPELINE), PipelineConfig(input=str(dump), reports=reports))
        return {"s": round(time.monotonic() - t, 1), "stages": stage_times(spark, parent)}

    result["last_month_full"] = run(root / "L", world)
    print(f"last month, full: {result['last_month_full']['s']} s", file=sys.stderr)
    for i, dump in enumerate(months):
        wh = root / f"M{i}"
        t = time.monotonic()
        shutil.copytree(root / "L", wh, ignore=shutil.ignore_patterns("_logs", "_checkpoints"))
        copied = round(time.monotonic() - t, 1)
        done = run(wh, dump)
        changes = known[dump]
        patents = sum(n for k, n in changes.items() if k.startswith("patents."))
        result["months"].append({"next": str(dump), "same_bytes": dump.resolve() == world.resolve(),
                                 "changes": changes, "patent_records_changed": patents,
                                 "load": os.getloadavg()[0], "copy_s": copied, **done})
        print(f"{dump}: {patents:,} patent records changed, {done['s']} s", file=sys.stderr)
    if args.full_of:
        full_of = Path(args.full_of)
        result["full"] = {"next": str(full_of), **run(root / "F", full_of)}
        print(f"{full_of}, full: {result['full']['s']} s", file=sys.stderr)
        for m in result["months"]:
            m["ratio_to_full"] = round(m["s"] / result["full"]["s"], 3)
        compare(spark, root / f"M{months.index(full_of)}", root / "F", result)
    recut = [m for m in result["months"] if not m["same_bytes"]]
    stages = ["run", *PIPELINE]
    result["per_stage_fit"] = {
        s: fit([(m["patent_records_changed"], m["s"] if s == "run" else m["stages"][s]["s"])
                for m in recut if s == "run" or s in m["stages"]])
        for s in stages}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
