"""Analysts read the warehouse without Spark: delta-rs (pandas) and DuckDB see what Spark wrote
in every bronze table of a clean run (a small table: tests/unit/ops/test_analyst.py)."""
from __future__ import annotations

import pyarrow as pa

from greenlink.ops import analyst, diff


def canonical(table: pa.Table, schema: pa.Schema):
    """Rows in canonical order, values in the types Spark reports (DuckDB's pandas dates are
    datetime64, delta-rs's are date objects: the cast aligns them)."""
    return diff.canonical_frame(table.select(schema.names).cast(schema))


def test_bronze_reads_equal_sparks(spark, reference_warehouse):
    wh = reference_warehouse.path
    names = [n for n in analyst.table_names(wh) if n.startswith("bronze.")]
    assert {"bronze.patents_raw", "bronze.transfers_raw", "bronze.rejects"} <= set(names)
    con = analyst.duckdb_connection(wh)
    for name in names:
        want = spark.read.format("delta").load(str(analyst.table_path(wh, name))).toArrow()
        expected, floats = canonical(want, want.schema)
        assert len(expected) > 0 or name not in ("bronze.patents_raw", "bronze.transfers_raw"), name
        got_pandas = pa.Table.from_pandas(analyst.read_table(wh, name), preserve_index=False)
        got_duckdb = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        for reader, got in (("delta-rs", got_pandas), ("duckdb", got_duckdb)):
            assert sorted(got.column_names) == sorted(want.column_names), (reader, name)
            frame, _ = canonical(got, want.schema)
            assert diff.frames_differences(expected, frame, floats) == [], (reader, name)
