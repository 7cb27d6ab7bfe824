"""gold.city_year_panel assembly (hand-built inputs), its Delta constraints and its Table 1 as the
estimate stage writes it (the stage in the whole pipeline: tests/integration/test_panel_world.py)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from greenlink.core import tables
from greenlink.estimate.fitting import run_tables
from greenlink.estimate.render import write_reports
from greenlink.estimate.stage import article_tables
from greenlink.gold.panel.assembly import app_audit, app_counts, assemble_panel, coverage_problems, panel_grid
from greenlink.gold.tables import LN_VARS, NETWORK_VARS, PANEL, PANEL_COLUMNS

YEARS = (2019, 2020)
SZ, BJ, WX = "320500", "110000", "320200"        # 苏州市, 北京市 (sample); 无锡市 (not in the sample)
NET_SCHEMA = "city_code string, year int, " + ", ".join(
    f"`{c}` {'long' if c in ('rsi', 'ex', 'rsi_ip', 'gtr', 'gtr_local', 'gtr_other', 'ex_gt', 'gtr_ip') else 'double'}"
    for c in NETWORK_VARS)


def _metrics_row(city: str, year: int, rsi: int = 0, ex: int = 0, gtr: int = 0, gtr_local: int = 0) -> tuple:
    vals = {"rsi": rsi, "ex": ex, "in": rsi / ex if ex else 0.0, "DC": ex / 2, "BC": 0.0, "rsi_ip": 0,
            "gtr": gtr, "gtr_local": gtr_local, "gtr_other": gtr - gtr_local, "ex_gt": 1 if gtr else 0,
            "in_gt": float(gtr) if gtr else 0.0, "dc_out": 0.5 if gtr > gtr_local else 0.0, "dc_in": 0.0,
            "bc_gt": 0.0, "gtr_ip": gtr_local}
    return (city, year, *[vals[c] for c in NETWORK_VARS])


@pytest.fixture(scope="module")
def inputs(spark):
    """Hand-built stage inputs: two sample cities, two years, every kind of gap."""
    sample = spark.createDataFrame([(SZ, "苏州市", "320000"), (BJ, "北京市", "110000")],
                                   "city_code string, city_name string, province_code string")
    metrics = spark.createDataFrame([_metrics_row(SZ, 2019, rsi=5, ex=2, gtr=3, gtr_local=1),
                                     _metrics_row(SZ, 2020), _metrics_row(BJ, 2019, rsi=1, ex=1),
                                     _metrics_row(BJ, 2020, gtr=2, gtr_local=2)], NET_SCHEMA)
    patents = spark.createDataFrame(
        [(SZ, 2019, "invention"), (SZ, 2019, "design"), (SZ, 2019, "utility"), (SZ, 2020, "invention"),
         (None, 2019, "invention"), (WX, 2020, "utility"), (BJ, 2018, "invention")],
        "city_code string, year int, patent_type string")
    controls = spark.createDataFrame(
        [(SZ, 2019, 150000.0, 99.0, 300.0, 100.0, 48.5),
         (SZ, 2020, None, 0.0, 320.0, 160.0, 50.0),             # pgdp missing
         (BJ, 2019, 160000.0, 1000.0, 500.0, 200.0, 80.0)],     # BJ 2020 absent from the yearbook
        "city_code string, year int, pgdp double, fdi double, deposits_loans double, gdp double, ins double")
    province_ip = spark.createDataFrame(
        [("320000", 2019, 10, 1000), ("320000", 2020, None, 1000), ("110000", 2019, 5, 0), ("110000", 2020, 4, 800)],
        "province_code string, year int, disputes long, grants long")
    attributes = spark.createDataFrame([(SZ, 0, 2020)], "city_code string, cgl int, hsr_open_year int")
    er = spark.createDataFrame([(SZ, 2019, 0.25), (SZ, 2020, 0.5), (BJ, 2019, 0.75), (BJ, 2020, 1.0)],
                               "city_code string, year int, er double")
    synergy = spark.createDataFrame([("320000", 2019, 2.0, 2.5, 5.0), ("320000", 2020, None, None, None),
                                     ("110000", 2019, 3.0, 1.0, 3.0), ("110000", 2020, 3.0, 2.0, 6.0)],
                                    "province_code string, year int, zts double, gjs double, rps double")
    return dict(sample=sample, metrics=metrics, patents=patents, controls=controls, province_ip=province_ip,
                attributes=attributes, er=er, synergy=synergy)


@pytest.fixture(scope="module")
def panel(inputs):
    i = inputs
    grid = panel_grid(i["sample"], YEARS)
    return assemble_panel(grid, i["metrics"], app_counts(i["patents"], YEARS), i["controls"], i["province_ip"],
                          i["attributes"], i["er"], i["synergy"]).toPandas().sort_values(["city_code", "year"])


def test_panel_has_one_row_per_sample_city_year_and_every_column(panel):
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert list(zip(panel["city_code"], panel["year"])) == [(BJ, 2019), (BJ, 2020), (SZ, 2019), (SZ, 2020)]
    assert list(panel["city_name"]) == ["北京市", "北京市", "苏州市", "苏州市"]
    assert list(panel["province_code"]) == ["110000", "110000", "320000", "320000"]


def test_network_variables_and_their_logs(panel, inputs):
    got = panel.set_index(["city_code", "year"])
    want = inputs["metrics"].toPandas().set_index(["city_code", "year"]).loc[got.index]
    for c in NETWORK_VARS:
        assert list(got[c]) == list(want[c]), c
    for v in LN_VARS:
        assert got[f"ln_{v}"].tolist() == pytest.approx([math.log1p(x) for x in got[v]], abs=1e-15), v
    assert got.loc[(SZ, 2019), "ln_rsi"] == pytest.approx(math.log(6))


def test_app_counts_all_types_by_first_applicant_city_and_year(panel, inputs):
    got = panel.set_index(["city_code", "year"])["app"]
    assert got.to_dict() == {(BJ, 2019): 0, (BJ, 2020): 0, (SZ, 2019): 3, (SZ, 2020): 1}
    audit = {r["outcome"]: r["rows"] for r in app_audit(inputs["patents"], inputs["sample"], YEARS).collect()}
    assert audit == {"counted": 4, "unlocated": 1, "outside_sample": 1}     # the 2018 row is outside the years


def test_controls_are_derived_and_gaps_stay_null(panel):
    p = panel.set_index(["city_code", "year"])
    assert p.loc[(SZ, 2019), "ln_pgdp"] == pytest.approx(math.log(150000.0))
    assert p.loc[(SZ, 2019), "ln_fdi"] == pytest.approx(math.log(100.0))
    assert p.loc[(SZ, 2019), "fin"] == pytest.approx(3.0)
    assert p.loc[(SZ, 2019), "ins"] == 48.5
    assert pd.isna(p.loc[(SZ, 2020), "ln_pgdp"]) and p.loc[(SZ, 2020), "fin"] == pytest.approx(2.0)
    assert p.loc[(SZ, 2020), "ln_fdi"] == 0.0
    # a city-year absent from the yearbook: every yearbook control null, nothing invented
    assert p.loc[(BJ, 2020), ["ln_pgdp", "ln_fdi", "fin", "ins"]].isna().all()
    # qrate = 1 - disputes/grants; null without disputes or without grants
    assert p.loc[(SZ, 2019), "qrate"] == pytest.approx(0.99)
    assert pd.isna(p.loc[(SZ, 2020), "qrate"]) and pd.isna(p.loc[(BJ, 2019), "qrate"])
    assert p.loc[(BJ, 2020), "qrate"] == pytest.approx(0.995)


def test_hsr_cgl_er_and_policy(panel):
    p = panel.set_index(["city_code", "year"])
    assert p.loc[(SZ, 2019), "HSR"] == 0 and p.loc[(SZ, 2020), "HSR"] == 1   # opened in 2020
    assert p.loc[(SZ, 2019), "cgl"] == 0
    # no attributes row: HSR and cgl unknown, not 0
    assert p.loc[[(BJ, 2019), (BJ, 2020)], ["HSR", "cgl"]].isna().all().all()
    assert p["er"].tolist() == [0.75, 1.0, 0.25, 0.5]
    assert p.loc[(SZ, 2019), ["zts", "gjs", "rps"]].tolist() == [2.0, 2.5, 5.0]
    assert p.loc[(SZ, 2020), ["zts", "gjs", "rps"]].isna().all()
    assert p.loc[(BJ, 2020), "rps"] == 6.0


def test_coverage_problems_name_missing_and_foreign_city_years(spark, inputs):
    grid = panel_grid(inputs["sample"], YEARS)
    assert coverage_problems(grid, inputs["metrics"], YEARS).collect() == []
    stale = inputs["metrics"].where("NOT (city_code = '110000' AND year = 2020)").unionByName(
        spark.createDataFrame([_metrics_row(WX, 2019)], NET_SCHEMA))
    got = {r["problem"]: r["rows"] for r in coverage_problems(grid, stale, YEARS).collect()}
    assert got == {"missing": 1, "not_in_sample": 1}


def _write_table1(panel: pd.DataFrame, out):
    """Table 1 of `panel` as the estimate stage writes it (`estimate.stage.run_estimation`), in md, tex, csv."""
    return write_reports(run_tables(panel, article_tables("table1")), out, ("md", "tex", "csv"), plots=False)


@pytest.mark.slow
def test_delta_constraints_and_table1(spark, fresh_warehouse, panel, tmp_path):
    sdf = spark.createDataFrame(panel, PANEL.schema)
    tables.write(sdf, PANEL)
    assert tables.protocol(spark, PANEL.name)[0] == 1
    back = tables.read(spark, PANEL.name).toPandas().sort_values(["city_code", "year"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, panel.reset_index(drop=True), check_dtype=False)
    # a negative count, a share above 1 and a wrong log are refused by the CHECKs; a null key by NOT NULL
    for bad in ({"rsi": -1}, {"DC": 1.5}, {"ln_gtr": 9.0}, {"city_name": None}):
        rows = panel.copy()
        for k, v in bad.items():
            rows.loc[rows.index[0], k] = v
        with pytest.raises(Exception, match="(?i)constraint|null"):
            tables.write(spark.createDataFrame(rows.astype(object).where(rows.notna(), None), PANEL.schema), PANEL)
    spec_rows = _write_table1(back, tmp_path / "t1")
    assert sorted(p.name for p in spec_rows) == ["table1.csv", "table1.md", "table1.tex"]
    md = (tmp_path / "t1" / "table1.md").read_text(encoding="utf-8")
    assert "| rsi |" in md and "| ln app |" in md and "| bc |" in md
    csv = (tmp_path / "t1" / "table1.csv").read_text(encoding="utf-8").splitlines()
    assert csv[1] == "Variable,Name,N,Mean,Sd,Min,Max"
    ln_pgdp = next(line for line in csv if line.startswith("ln pgdp,"))
    assert ln_pgdp.split(",")[2] == "2"          # N counts non-missing values only
    # same panel in another row order -> the same bytes
    _write_table1(back.sample(frac=1, random_state=3), tmp_path / "t1b")
    for name in ("table1.md", "table1.tex", "table1.csv"):
        assert (tmp_path / "t1" / name).read_bytes() == (tmp_path / "t1b" / name).read_bytes()
