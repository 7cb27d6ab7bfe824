"""Benchmark of one stage of a monthly rerun, classify, repeated on the same state (issue 23; not a test).

    # once: a warehouse holding last month's full ingest + classify and this month's ingest
    .venv/bin/python bench/bench_classify_incremental.py --snapshot /tmp/b1m/snap \
        --world /tmp/b1m/world --next /tmp/b1m/next1
    # then, as often as wanted (each run starts from a fresh copy of the snapshot)
    .venv/bin/python bench/bench_classify_incremental.py --snapshot /tmp/b1m/snap --root /tmp/b1m/cls \
        [--full] [--compare] [--snapshot-code] [--event-log DIR] [--jfr FILE.jfr] [--json OUT.json]

`bench_incremental.py` runs both months from scratch (minutes at 1M before classify starts);
this one times only what changes when classify's incremental path changes. In one
SparkSession: warehouse A (a copy of the snapshot) gets `classify` (incremental: only bronze
changed); with `--full`, warehouse B (another copy) gets `classify --full`, and `--compare` checks
that A's silver and bronze equal B's (as `bench_incremental.py` does). Reports wall time,
mode and phases per run from `_meta.runs`. Prints one JSON document.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_incremental import compare, report, stage_times  # noqa: E402  (bench/ helpers, not a package)
from profile_events import with_event_log  # noqa: E402
from profile_jfr import TASK_THREADS, frames, markdown, phase_windows, recording, summarise  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snapshot", required=True, help="the warehouse to start from (written with --world/--next)")
    ap.add_argument("--world", default=None, help="with --next: write the snapshot from these two dumps")
    ap.add_argument("--next", default=None)
    ap.add_argument("--root", default=None, help="folder for the copies (emptied)")
    ap.add_argument("--full", action="store_true", help="also time a full classify on a second copy")
    ap.add_argument("--compare", action="store_true", help="with --full: compare the two warehouses")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--json", default=None)
    ap.add_argument("--event-log", default=None, metavar="DIR")
    ap.add_argument("--snapshot-code", action="store_true",
                    help="the snapshot was written by another version of the code: take classify's code "
                         "digest as the one its last run recorded, so the current code runs the incremental "
                         "path (a changed code digest otherwise makes classify run in full)")
    ap.add_argument("--jfr", default=None, metavar="FILE.jfr",
                    help="record the incremental run with the JDK's Flight Recorder and report the task "
                         "threads' frames per phase (bench/profile_jfr.py's tally)")
    ap.add_argument("--top", type=int, default=12, help="with --jfr: frames shown per phase")
    args = ap.parse_args()

    from greenlink.core.config import load_profile
    from greenlink.core.session import WAREHOUSE_KEY, get_spark
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    profile = load_profile(args.profile)
    if args.event_log:
        profile = with_event_log(profile, args.event_log)
    snap = Path(args.snapshot)
    result: dict = {"snapshot": str(snap), "load_before": os.getloadavg()[0]}

    if args.world:
        if not args.next:
            ap.error("--world needs --next")
        if snap.exists():
            shutil.rmtree(snap)
        spark = get_spark(profile, str(snap))
        for dump, stages in ((args.world, ["ingest", "classify"]), (args.next, ["ingest"])):
            t = time.monotonic()
            run_stages(spark, stages, PipelineConfig(input=str(dump), reports=str(snap.parent / "reports_snap")))
            print(f"{'+'.join(stages)} {dump}: {time.monotonic() - t:.1f} s", file=sys.stderr)
        return 0
    if not args.root:
        ap.error("--root is needed to time classify")

    root = Path(args.root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    spark = None
    if args.snapshot_code:
        from greenlink.core import state
        from greenlink.ops.analyst import read_table

        runs = read_table(snap, "_meta.runs")
        ended = runs[(runs["job"] == "classify") & (runs["event"] == "end") & (runs["status"] == "succeeded")]
        recorded = dict(ended.sort_values("at").iloc[-1]["inputs"])["state.code"]
        real = state.code_digest
        state.code_digest = lambda module: recorded if module == "greenlink.silver.stage" else real(module)
        result["snapshot_code"] = recorded
    for label, full in (("incremental", False), ("full", True))[: 2 if args.full else 1]:
        wh = root / ("B" if full else "A")
        shutil.copytree(snap, wh, symlinks=True)
        if spark is None:
            spark = get_spark(profile, str(wh))
        spark.conf.set(WAREHOUSE_KEY, str(wh))
        windows: list[tuple[str, int, int]] = []
        jfr = Path(args.jfr) if args.jfr and not full else None
        with recording(spark, jfr) if jfr else nullcontext(), phase_windows(windows):
            t = time.monotonic()
            parent = run_stages(spark, ["classify"], PipelineConfig(full=full, reports=str(root / f"reports_{label}")))
        result[label] = {"s": round(time.monotonic() - t, 1), **stage_times(spark, parent)["classify"]}
        if jfr:
            tally = frames(jfr, windows, TASK_THREADS)
            summary = {n: summarise(tally["windows"][n], args.top) for n, _, _ in windows if n in tally["windows"]}
            result["jfr"] = {"recording": str(jfr), "windows": summary}
            print(markdown(summary, windows), file=sys.stderr)
        print(f"{label}: {result[label]['s']} s", file=sys.stderr)
    if args.full and args.compare:
        compare(spark, root / "A", root / "B", result)
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
