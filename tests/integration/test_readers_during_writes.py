"""Readers during writes (issue 26, docs/operations.md): while a run rewrites silver and gold
tables, concurrent readers — delta-rs, DuckDB's delta reader (`delta_scan`, the extension the
`duckdb-extension-delta` package ships, as `greenlink.ops.analyst` loads it) and a second
SparkSession (a second JVM: this file run as a script, `spark-reader`) — read those tables in a
loop. Every read must return one committed version: its row count and content checksum equal
those of a version of the table, computed afterwards by delta-rs (delta-rs reads name the
version they read; DuckDB and Spark reads must match a version committed between the start and
the end of the read). No read fails, none sees a mix of two versions.

So that a mix shows, consecutive versions differ: on a copy of the shared `pipeline_warehouse`
the rows of one year are deleted from each table read (one commit each), then classify and
panel run in full (`--full`) and write them back. After the run, `VACUUM` with the default
retention (7 days) keeps time travel to every version of the test readable.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import time
from pathlib import Path

TABLES = ("silver.patents", "silver.applicants", "gold.city_year_panel")
DELETED_YEAR = 2015
READY_S = 180          # until the second SparkSession has read every table once
PAUSE_S = 1.0          # between two rounds of reads of a reader (CI has 2 cores; Spark writes on them)


def checksum(table) -> tuple[int, str]:
    """(rows, checksum) of an Arrow table, whichever engine read it: every row's values by
    column name, hashed, summed modulo 2**64 (row order and column order do not count)."""
    total = 0
    rows = table.to_pylist()
    for r in rows:
        total += int.from_bytes(hashlib.blake2b(repr(sorted(r.items())).encode(), digest_size=8).digest(), "big")
    return len(rows), f"{total % 2**64:016x}"


def table_dir(warehouse: Path | str, name: str) -> Path:
    layer, _, table = name.partition(".")
    return Path(warehouse) / layer / table


def committed(path: Path) -> int:
    """The table's latest committed version (its newest commit file)."""
    return max(int(p.name.split(".")[0]) for p in (path / "_delta_log").glob("*.json"))


def read_loop(engine: str, warehouse: Path, read, stop: threading.Event | None = None,
              stop_file: Path | None = None, ready_file: Path | None = None) -> list[dict]:
    """Read every table in turn until told to stop, then one more round; each read is recorded
    as {engine, table, lo, hi, rows, checksum} (lo, hi: the versions committed before and after
    it; a reader that knows the version it read gives it as lo = hi) or {…, error}."""
    out: list[dict] = []

    def stopping() -> bool:
        return (stop is not None and stop.is_set()) or (stop_file is not None and stop_file.exists())

    last_round = False
    while True:
        if stopping():
            last_round = True
        for name in TABLES:
            path = table_dir(warehouse, name)
            lo = committed(path)
            try:
                known, table = read(str(path))
                hi = committed(path)
                rows, digest = checksum(table)
                if known is not None:
                    lo = hi = known
                out.append({"engine": engine, "table": name, "lo": lo, "hi": hi, "rows": rows, "checksum": digest})
            except Exception as exc:   # noqa: BLE001 - every failed read is recorded, the test fails on it
                out.append({"engine": engine, "table": name, "lo": lo, "hi": committed(path), "error": repr(exc)})
        if ready_file is not None and not ready_file.exists():
            ready_file.write_text("ready")
        if last_round:
            return out
        time.sleep(PAUSE_S)


def delta_rs_read(path: str):
    from deltalake import DeltaTable

    dt = DeltaTable(path)
    return int(dt.version()), dt.to_pyarrow_table()


def duckdb_reader():
    import duckdb

    from greenlink.ops.analyst import delta_extension

    con = duckdb.connect(config={"threads": 1})
    con.execute(f"LOAD '{delta_extension()}'")

    def read(path: str):
        return None, con.execute(f"SELECT * FROM delta_scan('{path}')").to_arrow_table()

    return read


def spark_reader_main(warehouse: str, out: str, stop_file: str, ready_file: str) -> int:
    """The second SparkSession (own JVM): reads every table in a loop until `stop_file` exists."""
    from greenlink.core.session import get_spark

    spark = get_spark("test", warehouse, app_name="greenlink-reader")

    def read(path: str):
        return None, spark.read.format("delta").load(path).toArrow()

    reads = read_loop("spark", Path(warehouse), read, stop_file=Path(stop_file), ready_file=Path(ready_file))
    Path(out).write_text(json.dumps(reads))
    spark.stop()
    return 0


# ------------------------------------------------------------------------------------ the test

def test_readers_during_a_run_see_one_committed_version_and_vacuum_keeps_time_travel(
        spark, use_warehouse, pipeline_warehouse, tmp_path):
    import procs
    from deltalake import DeltaTable

    from greenlink.ops.pipeline import PipelineConfig, run_stages

    wh = tmp_path / "warehouse"
    shutil.copytree(pipeline_warehouse, wh, ignore=shutil.ignore_patterns("_logs"))
    copied = {t: committed(table_dir(wh, t)) for t in TABLES}
    # the second SparkSession starts its JVM while this one prepares the tables
    spark_out, stop_file, ready_file = tmp_path / "spark_reads.json", tmp_path / "stop", tmp_path / "ready"
    reader = procs.start([sys.executable, __file__, "spark-reader", str(wh), str(spark_out), str(stop_file),
                          str(ready_file)], tmp_path / "spark_reader.log", env={"GREENLINK_LOG_DIR": str(tmp_path)})
    threads: list[threading.Thread] = []
    stop = threading.Event()
    try:
        for name in TABLES:     # one commit each: the version before the run differs from the run's
            spark.sql(f"DELETE FROM delta.`{table_dir(wh, name)}` WHERE year = {DELETED_YEAR}")
        before_run = {t: committed(table_dir(wh, t)) for t in TABLES}
        assert all(before_run[t] == copied[t] + 1 for t in TABLES)

        results: dict[str, list[dict]] = {}
        for engine, read in (("delta-rs", delta_rs_read), ("duckdb", duckdb_reader())):
            def loop(engine=engine, read=read):
                results[engine] = read_loop(engine, wh, read, stop=stop)
            threads.append(threading.Thread(target=loop, name=f"reader-{engine}", daemon=True))
            threads[-1].start()
        t0 = time.monotonic()
        while not ready_file.exists():
            assert reader.poll() is None, "the Spark reader died:\n" + procs.Done(
                reader.returncode, tmp_path / "spark_reader.log", 0).tail()
            assert time.monotonic() - t0 < READY_S, f"the Spark reader read nothing in {READY_S}s"
            time.sleep(0.2)

        with use_warehouse(wh):
            run_stages(spark, ["classify", "panel"], PipelineConfig(reports=str(tmp_path / "reports"), full=True))
    finally:
        stop.set()
        stop_file.write_text("stop")
        for t in threads:
            t.join(timeout=120)
        try:
            reader.wait(timeout=120)
        finally:
            procs.kill_group(reader)
    assert reader.returncode == 0, procs.Done(reader.returncode, tmp_path / "spark_reader.log", 0).tail()
    reads = [*results["delta-rs"], *results["duckdb"], *json.loads(spark_out.read_text())]
    print("reads:", {e: sum(r["engine"] == e for r in reads) for e in ("delta-rs", "duckdb", "spark")})

    # every version of every table, computed now that nothing writes
    latest = {t: committed(table_dir(wh, t)) for t in TABLES}
    versions = {t: {v: checksum(DeltaTable(str(table_dir(wh, t)), version=v).to_pyarrow_table())
                    for v in range(latest[t] + 1)} for t in TABLES}
    for t in TABLES:
        assert latest[t] > before_run[t], f"the run wrote no version of {t}"
        assert versions[t][before_run[t]] != versions[t][latest[t]]        # so a mix would show
        assert versions[t][latest[t]] == checksum(DeltaTable(str(table_dir(pipeline_warehouse, t))).to_pyarrow_table())

    failed = [r for r in reads if "error" in r]
    assert not failed, f"{len(failed)} reads failed, e.g. {failed[:3]}"
    seen: dict[tuple[str, str], set[int]] = {}
    for r in reads:
        match = [v for v in range(r["lo"], r["hi"] + 1) if versions[r["table"]][v] == (r["rows"], r["checksum"])]
        assert match, (f"{r['engine']} read of {r['table']} ({r['rows']} rows, checksum {r['checksum']}) is no "
                       f"committed version among {r['lo']}..{r['hi']}: "
                       f"{ {v: versions[r['table']][v] for v in range(r['lo'], r['hi'] + 1)} }")
        seen.setdefault((r["engine"], r["table"]), set()).add(match[0])
    # the reads spanned the writes: every reader saw each table before the run and as it left it
    for engine in ("delta-rs", "duckdb", "spark"):
        for t in TABLES:
            got = seen.get((engine, t), set())
            assert {before_run[t], latest[t]} <= got, f"{engine} read {t} at versions {sorted(got)} only"

    # VACUUM with the default retention (7 days) keeps every version of the test readable (a
    # partitioned table and one without partitions: VACUUM costs Spark jobs, CI has 2 cores)
    vacuumed = ("silver.patents", "gold.city_year_panel")
    for t in vacuumed:
        spark.sql(f"VACUUM delta.`{table_dir(wh, t)}`")
    for t in vacuumed:
        for v in range(copied[t], latest[t] + 1):
            assert checksum(DeltaTable(str(table_dir(wh, t)), version=v).to_pyarrow_table()) == versions[t][v], (t, v)
        old = spark.read.format("delta").option("versionAsOf", copied[t]).load(str(table_dir(wh, t)))
        assert checksum(old.toArrow()) == versions[t][copied[t]], t


if __name__ == "__main__":
    if sys.argv[1:2] == ["spark-reader"]:
        sys.exit(spark_reader_main(*sys.argv[2:6]))
    sys.exit(f"usage: {sys.argv[0]} spark-reader WAREHOUSE OUT STOP_FILE READY_FILE")
