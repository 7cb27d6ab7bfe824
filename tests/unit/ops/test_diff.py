"""`greenlink diff` on small hand-made tables, and whole-warehouse comparison (the catalog and
the natural keys on a real warehouse: tests/integration/test_diff_world.py)."""
from __future__ import annotations

import pytest
from pyspark.sql import types as T

from greenlink.core import catalog, tables
from greenlink.core.errors import UserError
from greenlink.ops import diff

PANEL = catalog.register(tables.TableSpec(
    name="gold.diff_panel",
    schema=T.StructType([
        T.StructField("city_code", T.StringType()), T.StructField("year", T.IntegerType()),
        T.StructField("ln_gtr", T.DoubleType()), T.StructField("cgl", T.IntegerType()),
        T.StructField("top", T.MapType(T.StringType(), T.LongType())), T.StructField("run_id", T.StringType())]),
    not_null=("city_code", "year"),
    keys=("city_code", "year"),
))
V1 = [("110000", 2010, 1.0, 1, {"a": 1, "b": 2}, "r1"), ("110000", 2011, 2.0, 1, {}, "r1"),
      ("120000", 2010, 0.5, 0, {"x": 1}, "r1"), ("130100", 2010, None, 0, None, "r1")]
# 2011 removed; 2012 added; 120000 changes ln_gtr and cgl; 130100 unchanged apart from float
# noise, map order and run id (none of which is a change)
V2 = [("110000", 2010, 1.0 + 1e-13, 1, {"b": 2, "a": 1}, "r2"), ("110000", 2012, 3.0, 1, {}, "r2"),
      ("120000", 2010, 0.75, 1, {"x": 1}, "r2"), ("130100", 2010, None, 0, None, "r2")]


def test_table_spec_keys_must_be_columns():
    with pytest.raises(ValueError, match="'nope' is not in the schema"):
        tables.TableSpec(name="gold.x", schema=PANEL.schema, keys=("nope",))


@pytest.mark.slow
def test_diff_by_natural_key_between_versions(spark, fresh_warehouse, monkeypatch, capsys):
    tables.write(spark.createDataFrame(V1, PANEL.schema), PANEL)
    tables.write(spark.createDataFrame(V2, PANEL.schema), PANEL)
    d = diff.diff_table(spark, PANEL.name, from_version=-1)
    lo, hi = diff.version_range(spark, PANEL.name)
    assert (d.from_version, d.to_version) == (hi - 1, hi)
    assert (d.rows_from, d.rows_to, d.added, d.removed, d.changed, d.unchanged) == (4, 4, 1, 1, 1, 2)
    assert d.column_changes == {"cgl": 1, "ln_gtr": 1} and d.ignored == ("run_id",)
    assert ("changed", ("120000", 2010), {"ln_gtr": (0.5, 0.75), "cgl": (0, 1)}) in d.examples
    assert {(k, key) for k, key, _ in d.examples} >= {("added", ("110000", 2012)), ("removed", ("110000", 2011))}
    same = diff.diff_table(spark, PANEL.name, from_version=hi, to_version=hi)
    assert (same.added, same.removed, same.changed, same.unchanged) == (0, 0, 0, 4)
    with pytest.raises(UserError, match=f"has versions {lo}..{hi}; --from-version 99"):
        diff.diff_table(spark, PANEL.name, from_version=99)

    # the command: parsed like `greenlink diff ...`, printed as a readable table
    from greenlink.core import session
    from greenlink.ops import cli

    monkeypatch.setattr(session, "get_spark", lambda *a, **k: spark)
    args = cli.build_parser().parse_args(["diff", "--from-version", str(hi - 1), "--tables", PANEL.name])
    assert diff.main(args) == 0
    out = capsys.readouterr().out
    assert f"gold.diff_panel  version {hi - 1} -> {hi}  (key: city_code, year)" in out
    assert "added 1  removed 1  changed 1  unchanged 2" in out
    assert "changed columns: cgl (1 rows), ln_gtr (1 rows)" in out
    row = next(line for line in out.splitlines() if "ln_gtr" in line and "0.75" in line)
    assert row.split()[-3:] == ["ln_gtr", "0.5", "0.75"]


def test_duplicate_keys_and_missing_keys_are_user_errors(spark):
    a = spark.createDataFrame([("x", 1), ("x", 2)], "k string, v int")
    with pytest.raises(UserError, match=r"key \(k\) is not unique in the old version"):
        diff.diff_frames(a, a, ["k"], table="t")
    with pytest.raises(UserError, match="declares no natural key"):
        diff.natural_keys("gold.unknown", registry={})


def test_spec_registry_finds_declared_tables():
    reg = catalog.specs()
    assert {"bronze.patents_raw", "bronze.rejects", "_meta.runs"} <= set(reg)
    # every gold table of the study declares its natural key
    for name in ("gold.estimates", "gold.city_year_panel", "gold.collab_edges", "gold.transfer_edges",
                 "gold.city_network_metrics", "gold.network_summary"):
        assert diff.natural_keys(name, reg), name
    assert diff.natural_keys("gold.estimates", reg) == ("table", "column", "equation", "term")


def write(path, rows, schema):
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.Table.from_pylist(rows, schema=schema), mode="overwrite")


def test_warehouses_compare_by_content(tmp_path):
    import pyarrow as pa

    schema = pa.schema([("k", pa.string()), ("x", pa.float64()), ("m", pa.map_(pa.string(), pa.int64())),
                        ("tags", pa.list_(pa.string())), ("run_id", pa.string())])
    rows = [{"k": "a", "x": 0.1, "m": [("p", 1), ("q", 2)], "tags": ["u"], "run_id": "r1"},
            {"k": "b", "x": None, "m": None, "tags": [], "run_id": "r1"}]
    same = [{"k": "b", "x": None, "m": None, "tags": [], "run_id": "r9"},
            {"k": "a", "x": 0.1 + 1e-12, "m": [("q", 2), ("p", 1)], "tags": ["u"], "run_id": "r9"}]
    write(tmp_path / "a" / "gold" / "t", rows, schema)
    write(tmp_path / "b" / "gold" / "t", same, schema)
    write(tmp_path / "a" / "_meta" / "runs", rows, schema)            # _meta is not content
    assert diff.warehouse_differences(tmp_path / "a", tmp_path / "b") == {}
    import time
    from datetime import datetime, timezone

    time.sleep(0.05)                       # commit timestamps have millisecond resolution
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    time.sleep(0.05)
    changed = [dict(same[0]), dict(same[1], tags=["v"])]
    write(tmp_path / "b" / "gold" / "t", changed, schema)
    write(tmp_path / "b" / "silver" / "extra", rows, schema)
    got = diff.warehouse_differences(tmp_path / "a", tmp_path / "b")
    assert got["silver.extra"] == [f"only in {tmp_path / 'b'}"]
    assert got["gold.t"] == ["column tags: 1 row(s) differ, e.g. ('u',) != ('v',)"]
    # b as it was before the change equals a: compare with b first, as of then
    assert diff.warehouse_differences(tmp_path / "b", tmp_path / "a", a_as_of=before) == {}
