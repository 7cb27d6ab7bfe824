"""Analysts read the warehouse without Spark: versions, layers and errors on a small table (every
bronze table of a real run: tests/integration/test_analyst_world.py)."""
from __future__ import annotations

import pytest

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.ops import analyst


def test_versions_layers_and_errors(spark, fresh_warehouse):
    spec = tables.TableSpec(name="silver.analyst_smoke", schema=spark.createDataFrame([(1, "a")], "k int, v string").schema)
    tables.write(spark.createDataFrame([(1, "a")], spec.schema), spec)
    tables.write(spark.createDataFrame([(1, "b"), (2, "c")], spec.schema), spec)
    wh = fresh_warehouse
    v = analyst.table_version(wh, spec.name)
    assert analyst.read_table(wh, spec.name).sort_values("k")["v"].tolist() == ["b", "c"]
    assert analyst.read_table(wh, spec.name, version=v - 1)["v"].tolist() == ["a"]
    assert analyst.LAYERS == tables.LAYERS
    con = analyst.duckdb_connection(wh)
    assert con.sql("SELECT count(*) FROM silver.analyst_smoke").fetchone() == (2,)
    with pytest.raises(UserError, match="does not exist"):
        analyst.read_table(wh, "gold.nothing")
    with pytest.raises(UserError, match="must be <layer>.<name>"):
        analyst.table_path(wh, "panel")
