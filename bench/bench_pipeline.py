"""Benchmark of the whole pipeline, stage by stage, on a generated world (not a test).

    .venv/bin/python bench/bench_pipeline.py --patents 1000000 [--seed 1] [--root /tmp/bench_pipeline]
        [--profile local] [--reuse-world] [--stages ingest,classify,...] [--repeat N] [--json OUT.json] [--event-log DIR]

Generates the world (unless --reuse-world finds it under ROOT/world), then runs every stage of
`greenlink run` in one SparkSession on ROOT/warehouse, timing each stage (ingest with --force:
a rerun on unchanged inputs would otherwise time ingest's skip); also the green
classification alone on the same Parquet file twice — Spark (`ipc_columns.explode_ipc` +
`green.classify_green`) and the single DuckDB query of bench/bench_green_duckdb.py —
as the single-machine reference of issue 3. Reports wall time and rows/s per stage, the
networks stage's betweenness share, peak RSS of the Python driver and of the Spark JVM
(sampled every 0.5 s; per stage also by process: the JVM's RSS, the Python workers' PSS),
the machine's load, and output sizes. With --repeat N the stages run N times in the one JVM,
each into a fresh warehouse (`repeats`: the warm runs' stage times).
Prints one JSON document.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import Peak, folder_sizes  # noqa: E402  (bench/ helpers, not a package)
from profile_events import with_event_log  # noqa: E402


def _rows(counts: dict, *keys: str) -> int:
    return next((int(counts[k]) for k in keys if k in counts), 0)


def green_reference(spark, warehouse: Path, root: Path) -> dict:
    """Spark vs DuckDB green classification on one Parquet file of (application_no, ipc)."""
    from bench_green_duckdb import count_green_duckdb
    from pyspark.sql import functions as F

    from greenlink.core import tables
    from greenlink.silver.green import classify_green, load_inventory
    from greenlink.silver.ipc_columns import explode_ipc

    src = root / "green_input.parquet"
    (tables.read(spark, "bronze.patents_raw").select("application_no", F.col("ipc_raw").alias("ipc"))
     .dropDuplicates(["application_no"]).coalesce(2).write.mode("overwrite").parquet(str(src)))
    t = time.monotonic()
    pats = spark.read.parquet(str(src))
    green = classify_green(explode_ipc(pats, "application_no", "ipc"), load_inventory(spark))
    row = green.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("is_green").cast("long")).alias("g")).first()
    spark_s = time.monotonic() - t
    t = time.monotonic()
    duck_rows, duck_green = count_green_duckdb(str(src / "*.parquet"), threads=2)
    duck_s = time.monotonic() - t
    return {"rows": int(row["n"]), "rows_duckdb": duck_rows, "green_spark": int(row["g"]), "green_duckdb": duck_green,
            "spark_s": round(spark_s, 1), "duckdb_s": round(duck_s, 1), "ratio": round(spark_s / duck_s, 2)}


def run_pipeline(spark, stages: list[str], config, peak: Peak | None = None) -> dict:
    """Run `stages` in order on the session's warehouse; wall time, rows/s and phases per stage,
    and with `peak` the stage's peak memory by process (`Peak.stage`)."""
    from dataclasses import replace

    from greenlink.ops.pipeline import run_stage, stage_config

    out = {}
    for stage in stages:
        t = time.monotonic()
        cfg = stage_config(stage, config)
        if stage == "ingest":   # time the work: a rerun on unchanged inputs would skip it
            cfg = replace(cfg, force=True)
        counts = run_stage(spark, stage, cfg) or {}
        wall = time.monotonic() - t
        rows = _rows(counts, "patents.rows_in", "patents.records_in", "policies.records_in")
        entry = {"wall_s": round(wall, 1), "rows_in": rows, "rows_per_s": round(rows / wall, 1) if rows else None}
        phase = {k.split(".", 1)[1]: v for k, v in counts.items() if k.startswith("phase_ms.")}
        if phase:
            entry["phase_s"] = {k: round(v / 1000, 1) for k, v in phase.items()}
            if "betweenness" in phase:
                entry["betweenness_share"] = round(phase["betweenness"] / 1000 / wall, 3)
        if peak is not None:
            entry["peak_mb"] = peak.stage()
        out[stage] = entry
        print(f"{stage}: {entry}", file=sys.stderr, flush=True)
    return out


def world_options(ap: argparse.ArgumentParser) -> None:
    """The world and session options of the pipeline benchmarks (ROOT/world, ROOT/warehouse)."""
    ap.add_argument("--patents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", default="/tmp/bench_pipeline")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--reuse-world", action="store_true")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world_options(ap)
    ap.add_argument("--stages", default=None, help="subset of the pipeline stages (default: all)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the stages N times in the same JVM (fresh warehouse each time): cold vs warm")
    ap.add_argument("--no-green-reference", action="store_true")
    ap.add_argument("--ingest-reference", action="store_true",
                    help="after the stages, time bench/bench_ingest_duckdb.py on the same world (issue 11)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--event-log", default=None, metavar="DIR",
                    help="write Spark's event log there (profile it with bench/profile_events.py)")
    a = ap.parse_args(argv)

    from dataclasses import replace

    from greenlink.core.config import load_profile
    from greenlink.core.session import WAREHOUSE_KEY, get_spark, session_conf
    from greenlink.ops.cli import PIPELINE
    from greenlink.ops.pipeline import PipelineConfig
    from greenlink.synth.world import generate

    root = Path(a.root)
    world, warehouse = root / "world", root / "warehouse"
    unknown = set((a.stages or "").split(",")) - set(PIPELINE) - {""}
    if unknown:
        ap.error(f"--stages: unknown stage(s) {', '.join(sorted(unknown))}; stages: {', '.join(PIPELINE)}")
    # --stages '' runs none: only the references, on the warehouse a previous run left
    stages = [s for s in PIPELINE if a.stages is None or s in a.stages.split(",")]
    result: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else argv,
                    "patents": a.patents, "seed": a.seed, "stages": {}}
    with Peak() as peak:
        profile = load_profile(a.profile)
        if a.event_log:
            profile = with_event_log(profile, a.event_log)
        spark = get_spark(profile, str(warehouse))
        if not (a.reuse_world and (world / "MANIFEST.json").exists()):
            t = time.monotonic()
            generate(spark, world, a.patents, a.seed)
            result["generate_s"] = round(time.monotonic() - t, 1)
        result["peak_rss_parts"] = {"generate_and_start": peak.part()}
        peak.stage()
        config = PipelineConfig(reports=str(root / "reports"), input=str(world))
        result["stages"] = run_pipeline(spark, stages, config, peak)
        # the same stages again in the same JVM, each time into a fresh warehouse: the first run
        # pays the JVM's warm-up (class loading, the JIT compiling Spark), the repeats do not
        for n in range(2, a.repeat + 1):
            shutil.rmtree(root / f"warehouse_{n}", ignore_errors=True)
            with session_conf(spark, {WAREHOUSE_KEY: str(root / f"warehouse_{n}")}):
                rerun = run_pipeline(spark, stages, replace(config, reports=str(root / f"reports_{n}")))
            result.setdefault("repeats", []).append({s: e["wall_s"] for s, e in rerun.items()})
        result["peak_rss_parts"]["stages"] = peak.part()   # the figure for the memory target
        if not a.no_green_reference:
            result["green_reference"] = green_reference(spark, warehouse, root)
            result["peak_rss_parts"]["green_reference"] = peak.part()
    if a.ingest_reference:
        spark.stop()  # DuckDB gets the JVM's memory: at 8.6M patents both would not fit in 24 GB
        # outside Peak: the JVM and driver peaks above stay Spark's; DuckDB reports its own
        from bench_ingest_duckdb import check_warehouse, run_reference
        ref = run_reference(world, threads=2)
        con = ref.pop("_con")
        spark_s = sum(result["stages"][s]["wall_s"] for s in ("ingest", "classify") if s in result["stages"])
        result["ingest_reference"] = {
            "duckdb_s": ref["seconds"], "spark_s": round(spark_s, 1) or None,
            "ratio": round(spark_s / ref["seconds"], 2) if spark_s else None,
            # the stages also do transfers, locate and writes the reference skips: their patent-only phases
            "spark_patent_phases_s": round(sum(v for st in result["stages"].values() for k, v in
                                               st.get("phase_s", {}).items()
                                               if k in ("patents.read_check", "green", "dedupe")), 1),
            **{k: v for k, v in ref.items() if k != "seconds"},
            "check": check_warehouse(con, warehouse, ref["files_read"], ref) if "classify" in stages else None}
        con.close()
    result.update({
        "peak_rss_python_driver_mb": round(peak.driver / 2**20), "peak_rss_jvm_mb": round(peak.children / 2**20),
        "load_avg_1min_mean": round(sum(peak.load) / max(len(peak.load), 1), 2),
        "world_bytes": folder_sizes(world), "warehouse_bytes": folder_sizes(warehouse),
    })
    print(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
