"""`greenlink controls`: panel inputs -> silver tables with reasoned rejects, the SPEC §3 sample
rule (gold.sample_log) and er (gold.er_index): the pure parts on hand-made values (the stage on
hand-made defective inputs: tests/integration/test_controls_stage.py; on the shared generated
world: tests/integration/test_controls_world.py)."""
from __future__ import annotations

import pandas as pd
import pytest

from greenlink.core.errors import UserError
from greenlink.gold.controls.checks import PlaceNames, admin_level_of, cell_text, number, year_number
from greenlink.gold.panel.settings import PanelSettings
from greenlink.gold.sample import sample_log


# --------------------------------------------------------------------------- pure parts

@pytest.fixture(scope="module")
def names():
    return PlaceNames(PanelSettings.load().city_aliases)


@pytest.mark.parametrize("raw, province, code", [
    ("苏州市", None, "320500"), ("苏州", None, "320500"), (" 苏 州 ", None, "320500"), ("恩施州", None, "422800"),
    ("恩施土家族苗族自治州", None, "422800"), ("北京", None, "110000"), ("北京市", "北京", "110000"),
    ("320500", None, "320500"), ("襄樊市", None, "420600"), ("吉林", "吉林省", "220200"), ("海南", "青海", "632500"),
    ("吉林市", None, "220200"),
])
def test_city_names_resolve(names, raw, province, code):
    assert names.city(raw, province).code == code


@pytest.mark.parametrize("raw, province, reason", [
    ("吉林", None, "ambiguous_city"), ("海南", None, "ambiguous_city"), ("昆山市", None, "unknown_city"),
    ("江苏", None, "unknown_city"), ("", None, "unknown_city"), (None, None, "unknown_city"),
    ("苏州", "浙江省", "province_mismatch"), ("苏州", "火星", "unknown_province"),
])
def test_bad_city_names_are_rejected_with_a_reason(names, raw, province, reason):
    got = names.city(raw, province)
    assert (got.code, got.reason) == (None, reason)
    assert got.detail


def test_admin_levels_and_cgl():
    conf = PanelSettings.load()
    assert admin_level_of("直辖市", conf.admin_levels, conf.cgl_levels)[:2] == ("直辖市", 1)
    assert admin_level_of(" 副省级 ", conf.admin_levels, conf.cgl_levels)[:2] == ("副省级城市", 1)
    assert admin_level_of("地级市", conf.admin_levels, conf.cgl_levels)[:2] == ("地级市", 0)
    assert admin_level_of("", conf.admin_levels, conf.cgl_levels) == (None, None, None, None)
    assert admin_level_of("县级市", conf.admin_levels, conf.cgl_levels)[2] == "unknown_admin_level"


def test_panel_conf_is_validated(tmp_path):
    bad = tmp_path / "panel.yaml"
    bad.write_text("years: [2010, 2020]\nsample: {columns: [pgdp, gdpp], max_missing_share: 0.2}\n"
                   "admin_levels: {}\n", encoding="utf-8")
    with pytest.raises(UserError, match="gdpp"):
        PanelSettings.load(bad)
    bad.write_text("years: [2010, 2020]\nsample: {columns: [pgdp], max_missing_share: 1.5}\n", encoding="utf-8")
    with pytest.raises(UserError, match="max_missing_share"):
        PanelSettings.load(bad)


def test_cells_numbers_and_years(spark):
    markers = PanelSettings.load().missing_markers
    rows = [("1,234,567.5",), ("３０．８",), (" 45.2% ",), ("—",), ("",), (None,), ("abc",), ("NaN",),
            ("1,2",), ("2015年",), ("2015.0",), ("1984",), ("-3",)]
    df = spark.createDataFrame(rows, "t string")
    text = cell_text(df["t"], markers)
    got = df.select(text.alias("text"), number(text).alias("n"), year_number(text).alias("y")).collect()
    assert [r["n"] for r in got] == [1234567.5, 30.8, 45.2, None, None, None, None, None, None, None, 2015.0,
                                     1984.0, -3.0]
    assert [r["text"] is None for r in got][3:6] == [True, True, True]
    assert [r["y"] for r in got][9:12] == [2015, 2015, None]


def test_sample_rule(spark):
    units = spark.createDataFrame([(c, c, c[:2] + "0000", 0.0, 0.0) for c in ("320500", "320200", "320100", "320400")],
                                  "city_code string, city_name string, province_code string, longitude double, "
                                  "latitude double")
    cols = ("pgdp", "gdp")
    rows = []
    for y in range(2010, 2020):               # 10 years x 2 columns = 20 cells per city
        rows.append(("320500", y, 1.0, 1.0 if y > 2013 else None))     # 4 of 20 missing: 0.20, kept
        rows.append(("320200", y, 1.0, 1.0 if y > 2014 else None))     # 5 of 20: 0.25 > 0.20, dropped
        rows.append(("320400", y, None if y < 2012 else 1.0, None))    # gdp never observed
    rows.append(("320500", 2009, None, None))                          # outside the years: not looked at
    controls = spark.createDataFrame(rows, "city_code string, year int, pgdp double, gdp double")
    log = sample_log(units, controls, cols, (2010, 2019), 0.2, 1).toPandas().set_index("city_code")
    assert log.loc["320500", ["n_values", "n_missing", "in_sample"]].tolist() == [20, 4, True]
    assert log.loc["320500", "missing_share"] == pytest.approx(0.2) and pd.isna(log.loc["320500", "reason"])
    assert log.loc["320200", ["n_missing", "in_sample", "reason"]].tolist() == [5, False, "too_many_missing"]
    assert log.loc["320100", ["n_missing", "reason"]].tolist() == [20, "no_yearbook_rows"]
    assert log.loc["320400", "reason"] == "too_many_missing"
    relaxed = sample_log(units, controls, cols, (2010, 2019), 0.9, 1).toPandas().set_index("city_code")
    assert relaxed.loc["320400", "reason"] == "unobserved_column: gdp"
    assert relaxed.loc["320200", "in_sample"]
