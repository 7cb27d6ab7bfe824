"""gold.city_year_panel from the whole pipeline: equal to the generator's truth, unchanged by a
rerun, and its Table 1 as the estimate stage writes it (`greenlink estimate --panel`: the
pipeline fixture skips the estimate stage) unchanged too (its assembly on hand-built inputs:
tests/unit/gold/test_panel.py)."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from greenlink.core import tables
from greenlink.estimate.stage import EstimateConfig, run_panel_file
from greenlink.gold.tables import PANEL

from frames import table_contents


# --------------------------------------------------------------------------- the whole pipeline

# SPEC §4 variables compared with truth/city_year.parquet: counts exactly, ratios and
# centralities to floating-point precision (the truth's Brandes is a dense-matrix one).
EXACT = ("rsi", "ex", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "gtr_ip", "app")
FLOATS = ("in", "DC", "BC", "in_gt", "dc_out", "dc_in", "bc_gt")


def _panel_of(spark, use_warehouse, wh) -> pd.DataFrame:
    with use_warehouse(wh):
        return tables.read(spark, PANEL.name).toPandas().sort_values(["city_code", "year"]).reset_index(drop=True)


def _table1(warehouse, out):
    """Table 1 (md, tex, csv) of the panel in `warehouse`, as `greenlink estimate --panel
    <warehouse>/gold/city_year_panel --tables table1` writes it; returns the folder."""
    run_panel_file(EstimateConfig(panel=str(warehouse / "gold" / "city_year_panel"), tables="table1", out=str(out),
                                  formats=("md", "tex", "csv"), plots=False))
    return out


def test_pipeline_panel_equals_the_truth(spark, use_warehouse, pipeline_warehouse, generated_world, tmp_path):
    got = _panel_of(spark, use_warehouse, pipeline_warehouse)
    truth = (pd.read_parquet(generated_world / "truth" / "city_year.parquet")
             .sort_values(["city_code", "year"]).reset_index(drop=True))
    assert list(zip(got["city_code"], got["year"])) == list(zip(truth["city_code"], truth["year"]))
    for c in EXACT:
        assert got[c].tolist() == truth[c].astype("int64").tolist(), c
    for c in FLOATS:
        assert got[c].to_numpy() == pytest.approx(truth[c].to_numpy(), abs=1e-12), c
    # the generated yearbook leaves sample cities only er-indicator gaps, which er fills
    for c in ("ln_pgdp", "ln_fdi", "fin", "ins", "qrate", "HSR", "cgl", "er"):
        assert got[c].notna().all(), c
    reports = _table1(pipeline_warehouse, tmp_path / "tables")
    assert sorted(p.name for p in reports.glob("table1.*")) == ["table1.csv", "table1.md", "table1.tex"]
    import csv

    rows = list(csv.reader((reports / "table1.csv").read_text(encoding="utf-8").splitlines()))
    n_of = {r[0]: r[2] for r in rows[2:] if len(r) == 7}
    assert n_of["rsi"] == n_of["er"] == f"{len(got):,}"


def test_pipeline_rerun_changes_no_content(spark, use_warehouse, pipeline_warehouse, generated_world, tmp_path):
    """Rerun controls, networks and panel on a copy of the pipeline warehouse (the shared one is
    never written): every table controls and panel write, the network metrics and the panel's
    Table 1 stay the same."""
    import shutil

    from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CITY_NETWORK_METRICS, CONTROL_REJECTS, ER_INDEX,
                                       ER_WEIGHTS, PROVINCE_IP, SAMPLE_LOG)
    from greenlink.ops.pipeline import PipelineConfig, stage_config, stage_module

    copy = tmp_path / "warehouse"
    shutil.copytree(pipeline_warehouse, copy)
    args = PipelineConfig(reports=str(tmp_path / "reports"), input=str(generated_world))
    specs = (CITY_CONTROLS, PROVINCE_IP, CITY_ATTRIBUTES, CONTROL_REJECTS, SAMPLE_LOG, ER_INDEX, ER_WEIGHTS,
             CITY_NETWORK_METRICS, PANEL)
    with use_warehouse(copy):
        for stage in ("controls", "networks", "panel"):
            ns = stage_config(stage, args)
            if hasattr(ns, "figures"):
                ns = replace(ns, figures=False)   # maps are files, not table content
            stage_module(stage).run(spark, ns)
    with use_warehouse(pipeline_warehouse):
        before = table_contents(spark, specs)
    with use_warehouse(copy):
        after = table_contents(spark, specs)
    for spec in specs:
        pd.testing.assert_frame_equal(after[spec.name], before[spec.name], check_exact=True, obj=spec.name)
    rerun, first = _table1(copy, tmp_path / "rerun"), _table1(pipeline_warehouse, tmp_path / "first")
    for f in ("table1.md", "table1.tex", "table1.csv"):
        assert (rerun / f).read_bytes() == (first / f).read_bytes(), f
