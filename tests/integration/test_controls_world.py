"""`greenlink controls`: panel inputs -> silver tables with reasoned rejects, the SPEC §3 sample
rule (gold.sample_log) and er (gold.er_index) — on the shared generated world (hand-made defective
inputs: tests/integration/test_controls_stage.py)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from greenlink.core import tables
from greenlink.gold.panel.settings import ER_INDICATORS
from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CONTROL_REJECTS, ER_INDEX, ER_WEIGHTS, PROVINCE_IP,
                                   SAMPLE_LOG)

from frames import table_contents

YEARS = list(range(2010, 2021))


# every table the stage writes (their content: frames.table_contents)
STAGE_TABLES = (CITY_CONTROLS, PROVINCE_IP, CITY_ATTRIBUTES, CONTROL_REJECTS, SAMPLE_LOG, ER_INDEX, ER_WEIGHTS)


# --------------------------------------------------------------------------- the generated world

@pytest.fixture(scope="module")
def world_run(spark, pipeline_warehouse, use_warehouse):
    """The controls stage of the shared pipeline run on the generated world: its counts (from
    _meta.runs) and tables. The rerun check is test_panel_world.py::test_pipeline_rerun_changes_no_content."""
    from pyspark.sql import functions as F

    with use_warehouse(pipeline_warehouse):
        ends = (tables.read(spark, "_meta.runs").where((F.col("job") == "controls") & (F.col("event") == "end"))
                .select("status", "counts").collect())
        assert [r["status"] for r in ends] == ["succeeded"]
        yield pipeline_warehouse, dict(ends[0]["counts"]), table_contents(spark, STAGE_TABLES)


def test_sample_rule_drops_exactly_the_degraded_cities(generated_world, world_run):
    _, counts, t = world_run
    structural = json.loads((generated_world / "truth" / "structural.json").read_text(encoding="utf-8"))
    log = t[SAMPLE_LOG.name]
    assert len(log) == 338
    assert sorted(log.loc[~log["in_sample"], "city_code"]) == sorted(structural["degraded_cities"])
    assert log["in_sample"].sum() == structural["sample_size"] == counts["sample.kept"]
    assert set(log.loc[~log["in_sample"], "reason"]) == {"too_many_missing"}
    assert (log["n_values"] == 110).all()
    # the default threshold sits well inside the generated gap between kept and dropped shares
    assert log.loc[log["in_sample"], "missing_share"].max() < 0.1 < 0.3 < log.loc[~log["in_sample"], "missing_share"].min()


def test_world_counts_reconcile_with_the_manifest(generated_world, world_run):
    _, counts, t = world_run
    manifest = json.loads((generated_world / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    for f in ("yearbook/city_controls.csv", "province/ip_stats.csv", "cities/city_attributes.csv"):
        assert counts[f"{f}:rows_in"] == manifest[f]["rows"]
        assert counts[f"{f}:accepted"] + counts[f"{f}:rejected"] == manifest[f]["rows"]
    assert counts["city_controls.rejected"] == counts["province_ip.rejected"] == counts["city_attributes.rejected"] == 0
    assert len(t[CITY_ATTRIBUTES.name]) == 338


def test_world_controls_equal_the_truth(generated_world, world_run):
    _, _, t = world_run
    truth = pd.read_parquet(generated_world / "truth" / "controls.parquet").set_index(["city_code", "year"])
    got = t[CITY_CONTROLS.name].set_index(["city_code", "year"]).loc[truth.index]
    short = dict(zip(("pgdp", "fdi", "deposits_loans", "gdp", "ins") + ER_INDICATORS,
                     ("pgdp", "fdi", "deposits_loans", "gdp", "ins", "so2", "cod", "solid", "sewage", "garbage")))
    for col, tcol in short.items():
        missing = truth[f"{tcol}_missing"].to_numpy()
        assert got[col].isna().to_numpy().tolist() == missing.tolist(), col
        assert got.loc[~missing, col].to_numpy() == pytest.approx(truth.loc[~missing, tcol].to_numpy(), rel=1e-12), col


def test_er_fills_every_sample_city_year(world_run):
    _, _, t = world_run
    sample = set(t[SAMPLE_LOG.name].query("in_sample")["city_code"])
    er = t[ER_INDEX.name]
    assert set(er["city_code"]) == sample
    assert len(er) == len(sample) * 11 and sorted(set(er["year"])) == YEARS
    assert er["er"].notna().all() and er["er"].between(0, 1).all()
    for i in ER_INDICATORS:
        assert (er[f"{i}_flag"] != "missing").all()
    w = t[ER_WEIGHTS.name]
    assert w["w_j"].sum() == pytest.approx(1.0) and (w["n"] == len(sample) * 11).all()
