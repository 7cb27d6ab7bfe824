"""`greenlink controls` on hand-made defective inputs: every bad row rejected with its reason, the
counts reconcile, accepted values parsed and resolved, gold.sample_log and er on them, one-line
input errors (its pure parts: tests/unit/gold/test_controls.py; on the shared generated world:
tests/integration/test_controls_world.py)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from greenlink.core.errors import UserError
from greenlink.gold.controls.stage import KINDS, ControlsConfig, run
from greenlink.gold.panel.settings import CITY_CONTROL_VALUES
from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CONTROL_REJECT_REASONS, CONTROL_REJECTS, ER_INDEX,
                                   ER_WEIGHTS, PROVINCE_IP, SAMPLE_LOG)

from frames import table_contents

YEARS = list(range(2010, 2021))
ZH = ["城市", "年份", "人均地区生产总值(元)", "当年实际使用外资金额(万美元)", "年末金融机构存贷款余额(万元)", "地区生产总值(万元)",
      "第三产业增加值占GDP比重(%)", "工业二氧化硫去除率(%)", "工业化学需氧量去除率(%)", "一般工业固体废物综合利用率(%)",
      "污水处理厂集中处理率(%)", "生活垃圾无害化处理率(%)"]


# every table the stage writes (their content: frames.table_contents)
STAGE_TABLES = (CITY_CONTROLS, PROVINCE_IP, CITY_ATTRIBUTES, CONTROL_REJECTS, SAMPLE_LOG, ER_INDEX, ER_WEIGHTS)


# --------------------------------------------------------------------------- defective inputs

def _row(city: str, year, k: int = 0, **over) -> list:
    """A plausible yearbook row (values vary with the year and k so the entropy is defined)."""
    t = int(year) - 2010 if str(year).isdigit() else 0
    vals = {"pgdp": 90000 + 4000 * t + 1000 * k, "fdi": 50000.5 + 100 * t, "deposits_loans": 20000000 + 9 * t,
            "gdp": 10000000 + 500000 * t, "ins": 40.5 + t * 0.5, "so2": 70 + t + k, "cod": 80 - t + k,
            "solid": 85 + (t % 3) + k, "sewage": 82 + t, "garbage": 90 + (t % 4)}
    vals.update(over)
    return [city, str(year), *[str(v) for v in vals.values()]]


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> None:
    import csv
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _write_xlsx(path: Path, header: list[str], rows: list[list]) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    """An input folder with every reject reason, formats and encodings mixed.
    Returns (folder, {(source_file, source_row): expected reason})."""
    root = tmp_path_factory.mktemp("panel_inputs")
    expect: dict[tuple[str, int], str] = {}
    yb = []
    yb += [_row("苏州市", y, deposits_loans="1,234,567" if y == 2010 else 20000000, so2="—" if y == 2012 else 75)
           for y in YEARS]                                                         # rows 1-11
    yb += [_row("无锡", y, 1, so2="120" if y == 2017 else 70 + y - 2010) for y in YEARS]   # rows 12-22
    bad = [(_row("昆山市", 2015), "unknown_city"), (_row("吉林", 2015), "ambiguous_city"),
           (_row("苏州市", "20x5"), "bad_year"), (_row("无锡市", 2016, fdi="abc"), "bad_value"),
           (_row("苏州", 2013, deposits_loans=20000000, so2=75), "duplicate_row"),
           (_row("苏州市", 2014) + ["extra"], "malformed_row"),
           (_row("南京市", 2010, pgdp=100), "conflicting_rows"), (_row("南京市", 2010, pgdp=200), "conflicting_rows"),
           (_row("南京市", 2011, gdp=-5), "bad_value"), (_row("", 2012), "unknown_city"),
           (_row("上海市", 2012), None)]
    for i, (r, reason) in enumerate(bad, start=len(yb) + 1):
        yb.append(r)
        if reason:
            expect[("yearbook/city_controls.csv", i)] = reason
    yb += [_row("常州市", y, so2="") for y in YEARS]                                  # so2 never observed
    _write_csv(root / "yearbook" / "city_controls.csv", ZH, yb, encoding="gbk")
    en = ["city", "province", "year", *CITY_CONTROL_VALUES]
    xl = [[r[0], "吉林省", int(r[1]), *[float(v) for v in r[2:]]] for r in (_row("吉林", y, 2) for y in YEARS)]
    xl += [["苏州", "浙江省", 2015, *[1.0] * 10], ["苏州", "火星", 2016, *[1.0] * 10]]
    expect[("yearbook/extra.xlsx", 12)] = "province_mismatch"
    expect[("yearbook/extra.xlsx", 13)] = "unknown_province"
    _write_xlsx(root / "yearbook" / "extra.xlsx", en, xl)

    ip = [["江苏省", "2010", "10", "1000"], ["江苏", "2011", "1,200", "2000"], ["火星省", "2010", "1", "10"],
          ["江苏省", "2012", "5", "12.5"], ["江苏省", "2013", "-1", "100"], ["广西", "2015年", "3", "300"],
          ["江苏省", "2010", "10", "1000"], ["吉林省", "2014", "", "100"], ["吉林省", "2099", "1", "1"]]
    for i, reason in {3: "unknown_province", 4: "bad_value", 5: "bad_value", 7: "duplicate_row", 9: "bad_year"}.items():
        expect[("province/ip_stats.csv", i)] = reason
    _write_csv(root / "province" / "ip_stats.csv", ["省份", "年份", "专利侵权纠纷案件数", "专利授权量"], ip, encoding="utf-8-sig")

    ca = [["苏州市", "江苏省", "地级市", "2010"], ["无锡", "江苏", "地级市", ""], ["恩施州", "湖北省", "自治州", "2020"],
          ["南京市", "江苏省", "县级市", "2012"], ["常州市", "江苏省", "地级市", "明年"], ["吉林", "吉林省", "地级市", "2013"],
          ["北京", "北京市", "直辖市", "2008"], ["北京市", "北京", "直辖市", "2009"], ["杭州市", "江苏省", "省会城市", "2010"]]
    for i, reason in {4: "unknown_admin_level", 5: "bad_hsr_year", 7: "conflicting_rows", 8: "conflicting_rows",
                      9: "province_mismatch"}.items():
        expect[("cities/city_attributes.csv", i)] = reason
    _write_csv(root / "cities" / "city_attributes.csv", ["城市", "省份", "行政级别", "高铁开通年份"], ca, encoding="gbk")
    return root, expect


@pytest.fixture(scope="module")
def defective_run(spark, defective, tmp_path_factory, use_warehouse):
    root, _ = defective
    with use_warehouse(tmp_path_factory.mktemp("defective") / "warehouse"):
        counts = run(spark, ControlsConfig(input=str(root)))
        yield counts, table_contents(spark, STAGE_TABLES)


def test_every_bad_row_is_rejected_with_its_reason(defective, defective_run):
    _, expect = defective
    counts, t = defective_run
    rej = t[CONTROL_REJECTS.name]
    got = {(r.source_file, r.source_row): r.reason for r in rej.itertuples()}
    assert got == expect
    assert rej["detail"].notna().all() and rej["raw_record"].notna().all()
    assert set(rej["kind"]) == set(KINDS)
    for r in rej.itertuples():
        assert r.reason in CONTROL_REJECT_REASONS[r.kind]


def test_rows_in_equal_accepted_plus_rejected(defective_run):
    counts, t = defective_run
    files = {"yearbook/city_controls.csv": 44, "yearbook/extra.xlsx": 13, "province/ip_stats.csv": 9,
             "cities/city_attributes.csv": 9}
    for f, n in files.items():
        assert counts[f"{f}:rows_in"] == n
        assert counts[f"{f}:accepted"] + counts[f"{f}:rejected"] == n
    for kind, spec in (("city_controls", CITY_CONTROLS), ("province_ip", PROVINCE_IP),
                       ("city_attributes", CITY_ATTRIBUTES)):
        assert counts[f"{kind}.rows_in"] == counts[f"{kind}.accepted"] + counts[f"{kind}.rejected"]
        assert counts[f"{kind}.accepted"] == len(t[spec.name])
        assert counts[f"{kind}.rejected"] == (t[CONTROL_REJECTS.name]["kind"] == kind).sum()
        assert counts[f"{kind}.rejected"] == sum(counts[f"{kind}.rejected.{r}"] for r in CONTROL_REJECT_REASONS[kind])


def test_accepted_values_are_parsed_and_resolved(defective_run):
    _, t = defective_run
    c = t[CITY_CONTROLS.name].set_index(["city_code", "year"])
    assert c.loc[("320500", 2010), "deposits_loans"] == 1234567.0              # thousands separators
    assert pd.isna(c.loc[("320500", 2012), "so2_removal_rate"])                # a missing marker is a gap
    assert c.loc[("320200", 2017), "so2_removal_rate"] == 120.0                 # kept raw; er treats it as invalid
    assert c.loc[("320200", 2010), "city_raw"] == "无锡"
    assert c.loc[("220200", 2015), "city_name"] == "吉林市"                     # settled by the province column
    assert c.loc[("220200", 2015), "source_file"] == "yearbook/extra.xlsx"
    assert ("320100", 2010) not in c.index                                      # conflicting rows: neither kept
    assert c.loc[("320500", 2013), "source_row"] == 4                           # the first of two duplicates
    p = t[PROVINCE_IP.name].set_index(["province_code", "year"])
    assert p.loc[("320000", 2011), "disputes"] == 1200
    assert p.loc[("450000", 2015), "grants"] == 300
    assert pd.isna(p.loc[("220000", 2014), "disputes"])
    a = t[CITY_ATTRIBUTES.name].set_index("city_code")
    assert sorted(a.index) == ["220200", "320200", "320500", "422800"]
    assert a.loc["320500", ["admin_level", "cgl", "hsr_open_year"]].tolist() == ["地级市", 0, 2010]
    assert pd.isna(a.loc["320200", "hsr_open_year"])


def test_sample_log_and_er_on_defective_inputs(defective_run):
    counts, t = defective_run
    log = t[SAMPLE_LOG.name].set_index("city_code")
    assert len(log) == 338 and counts["sample.units"] == 338
    assert sorted(log.index[log["in_sample"]]) == ["220200", "320200", "320500"]
    assert log.loc["320400", "reason"] == "unobserved_column: so2_removal_rate"
    assert log.loc["310000", "reason"] == "too_many_missing"
    assert log.loc["320100", "reason"] == "no_yearbook_rows"
    assert log.loc["320500", "n_missing"] == 1
    er = t[ER_INDEX.name].set_index(["city_code", "year"])
    assert len(er) == 33 and er["er"].notna().all() and er["er"].between(0, 1).all()
    assert list(er.loc[("320200", 2017), "invalid_raw"]) == ["so2_removal_rate"]
    assert er.loc[("320200", 2017), "so2_removal_rate_flag"] == "interpolated"
    assert er.loc[("320500", 2012), "so2_removal_rate_flag"] == "interpolated"
    w = t[ER_WEIGHTS.name]
    assert w["w_j"].sum() == pytest.approx(1.0) and (w["n"] == 33).all()


def test_input_errors_are_one_line(spark, defective, tmp_path):
    root, _ = defective
    ns = lambda p: ControlsConfig(input=str(p))      # noqa: E731
    with pytest.raises(UserError, match="--input"):
        run(spark, ControlsConfig(input=None))
    import shutil

    broken = tmp_path / "in"
    shutil.copytree(root, broken)
    shutil.rmtree(broken / "cities")
    with pytest.raises(UserError, match="no cities/ folder"):
        run(spark, ns(broken))
    shutil.copytree(root / "cities", broken / "cities")
    _write_csv(broken / "province" / "ip_stats.csv", ["省份", "年份", "专利授权量"], [["江苏", "2010", "1"]])
    with pytest.raises(UserError, match="disputes") as exc:
        run(spark, ns(broken))
    assert "\n" not in str(exc.value)
    shutil.copy(root / "province" / "ip_stats.csv", broken / "province" / "ip_stats.csv")
    (broken / "cities" / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="notes.txt"):
        run(spark, ns(broken))
