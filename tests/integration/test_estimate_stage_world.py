"""The estimate stage on the pipeline warehouse: gold.estimates and Tables 1-7 rendered end to
end, a rerun on the same panel leaves gold.estimates unchanged (a missing panel: tests/unit/estimate/test_estimate_stage.py)."""
from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from greenlink.core import tables
from greenlink.estimate.stage import EstimateConfig, run
from greenlink.estimate.tables import ESTIMATES


@pytest.fixture(scope="module")
def estimated(spark, pipeline_warehouse, use_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("estimate")
    wh = root / "warehouse"
    shutil.copytree(pipeline_warehouse, wh)        # the pipeline warehouse is read-only for tests
    args = EstimateConfig(reports=str(root / "reports"))
    with use_warehouse(wh):
        first = run(spark, args)
        v1 = tables.latest_version(spark, "gold.estimates")
        est = tables.read(spark, "gold.estimates").toPandas()
        second = run(spark, args)                   # same panel, specs and code: skipped
        third = run(spark, replace(args, full=True))   # estimated again: the same estimates
        v2 = tables.latest_version(spark, "gold.estimates")
    return {"first": first, "second": second, "third": third, "v": (v1, v2), "est": est,
            "reports": root / "reports" / "tables"}


def test_estimates_cover_the_article_tables(estimated):
    est = estimated["est"]
    assert {"table2", "table3", "table4", "table5", "table6", "table7"} <= set(est["table"])
    base = est[(est["table"] == "table2")]
    # the cross-equation terms of the base system, in every column of Table 2
    assert set(base[base["term"] == "ln_rsi[t-1]"]["column"]) == {"(1)", "(2)"}
    assert set(base[base["term"] == "ln_gtr[t-1]"]["column"]) == {"(3)", "(4)"}
    assert est["run"].nunique() == 1 and est["coef"].notna().any()
    assert len(est) == estimated["first"]["estimates.rows"]
    # issue 24: the equation statistics are columns of gold.estimates (schema: estimate.tables.ESTIMATES)
    assert list(est.columns) == ESTIMATES.schema.fieldNames()
    tob = est[(est["table"] == "table3") & (est["model"] == "tobit")]
    assert tob["sigma"].notna().all() and tob["loglik"].notna().all() and tob["n_informative"].notna().all()


def test_every_table_renders(estimated):
    out = estimated["reports"]
    for n in range(1, 8):
        for ext in ("md", "tex", "csv"):
            assert (out / f"table{n}.{ext}").stat().st_size > 0, f"table{n}.{ext}"


def test_rerun_leaves_estimates_unchanged(estimated):
    v1, v2 = estimated["v"]
    assert v1 == v2
    assert "estimates.rows" not in estimated["second"]          # skipped: nothing estimated
    assert estimated["third"].get("estimates.unchanged") == 1   # --full: estimated, found equal
