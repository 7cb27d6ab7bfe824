"""Locating applicants and transfer owners (SPEC §1, §3; issue 3 item 3)."""
from __future__ import annotations

import pytest

from pyspark.sql import functions as F

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.silver import locate as L, places as PL
from greenlink.silver.tables import APPLICANTS, ORG_LOCATIONS


@pytest.fixture(scope="module")
def cfg():
    return PL.load_config()


@pytest.fixture(scope="module")
def matcher(cfg):
    return PL.NameMatcher(cfg)


# --- addresses (cpca + rules), pure Python -------------------------------------------

ADDRESS_CASES = [
    # full forms, with / without province, 省/市 suffixes, postcodes
    ("江苏省苏州市工业园区星湖街328号", ("320500", "320000", None)),
    ("215000 江苏省苏州市姑苏区人民路1号", ("320500", "320000", None)),
    ("(215000)江苏省苏州市", ("320500", "320000", None)),
    ("苏州市工业园区星湖街328号", ("320500", "320000", None)),
    ("江苏苏州工业园区", ("320500", "320000", None)),
    ("中国江苏省南京市江宁区", ("320100", "320000", None)),
    ("内蒙古包头市昆都仑区", ("150200", "150000", None)),
    ("广西南宁市青秀区", ("450100", "450000", None)),
    ("东莞市松山湖高新区", ("441900", "440000", None)),   # prefecture city without districts
    # municipalities are cities; their districts map to them
    ("北京市海淀区中关村大街1号", ("110000", "110000", None)),
    ("100080北京市海淀区", ("110000", "110000", None)),
    ("中华人民共和国北京市", ("110000", "110000", None)),
    ("上海市浦东新区张江路", ("310000", "310000", None)),
    ("重庆渝北", ("500000", "500000", None)),
    ("北京市朝阳区建国路", ("110000", "110000", None)),
    # district only
    ("海淀区中关村", ("110000", "110000", None)),
    ("朝阳区建国路88号", (None, None, "ambiguous_address")),    # Beijing and Changchun
    ("江苏省鼓楼区", (None, "320000", "ambiguous_address")),     # Nanjing and Xuzhou
    # county-level cities map to their prefecture
    ("江苏省昆山市玉山镇", ("320500", "320000", None)),
    ("昆山市玉山镇", ("320500", "320000", None)),
    ("江苏省张家港市杨舍镇", ("320500", "320000", None)),
    # autonomous prefectures
    ("恩施州利川市", ("422800", "420000", None)),
    ("延边朝鲜族自治州延吉市", ("222400", "220000", None)),
    ("吉林省吉林市船营区", ("220200", "220000", None)),
    ("吉林市船营区", ("220200", "220000", None)),
    # county-level units directly under a province belong to no city
    ("湖北省仙桃市", (None, "420000", "not_a_city_unit")),
    ("新疆石河子市北四路", (None, "650000", "not_a_city_unit")),
    ("河南省济源市", (None, "410000", "not_a_city_unit")),
    # province only
    ("广东省", (None, "440000", "province_only_address")),
    # foreign, Hong Kong / Macao / Taiwan, English-only
    ("美国加利福尼亚州圣克拉拉", (None, None, "foreign_address")),
    ("日本国东京都港区", (None, None, "foreign_address")),
    ("东京都港区芝浦", (None, None, "foreign_address")),
    ("韩国京畿道水原市", (None, None, "foreign_address")),
    ("台湾省台北市", (None, None, "foreign_address")),
    ("中国香港九龙", (None, None, "foreign_address")),
    ("香港特别行政区", (None, None, "foreign_address")),
    ("No. 1 Road, Beijing", (None, None, "foreign_address")),
    # words that look foreign but start mainland addresses
    ("新北区XX路", ("320400", "320000", None)),                # 常州市新北区
    ("九龙坡区XX路", ("500000", "500000", None)),              # 重庆市九龙坡区
    # nothing usable
    (None, (None, None, "missing_address")),
    ("   ", (None, None, "missing_address")),
    ("215000", (None, None, "unparseable_address")),
    ("XX县XX镇", (None, None, "unparseable_address")),       # 县 alone is no place
    ("中国", (None, None, "unparseable_address")),
]


@pytest.mark.parametrize("address,expected", ADDRESS_CASES, ids=[str(a) for a, _ in ADDRESS_CASES])
def test_parse_address(cfg, address, expected):
    assert PL.parse_address(address, cfg) == expected


# --- organisation names, pure Python -------------------------------------------------

NAME_CASES = [
    # a city short name at the start (the usual enterprise form)
    ("苏州XX科技有限公司", ("320500", "320000", None)),
    ("宁德时代新能源科技股份有限公司", ("350900", "350000", None)),
    ("北京大学", ("110000", "110000", None)),
    ("延边大学", ("222400", "220000", None)),
    ("恩施州XX有限公司", ("422800", "420000", None)),
    ("江苏省苏州市吴中区XX厂", ("320500", "320000", None)),     # leading chain: most specific
    ("北京市朝阳区XX公司", ("110000", "110000", None)),
    ("上海浦东XX公司", ("310000", "310000", None)),             # alias from conf
    # county-level city short names: only at the start, in brackets, after a unit word
    ("昆山XX电子有限公司", ("320500", "320000", None)),
    ("富士康(昆山)电脑接插件有限公司", ("320500", "320000", None)),
    ("XX江山有限公司", (None, None, "no_place_in_name")),
    # several places: brackets > after a unit word > leading > elsewhere; then rightmost
    ("西安交通大学苏州研究院", ("320500", "320000", None)),
    ("北京大学深圳研究生院", ("440300", "440000", None)),
    ("哈尔滨工业大学(深圳)", ("440300", "440000", None)),
    ("山东大学威海分校", ("371000", "370000", None)),
    ("中国科学院大连化学物理研究所", ("210200", "210000", None)),
    ("国网江苏省电力有限公司南京供电分公司", ("320100", "320000", None)),
    ("中石化南京化工研究院", ("320100", "320000", None)),
    ("苏州长治科技有限公司", ("320500", "320000", None)),       # 长治 is a trade name here
    # province only / no place / traps
    ("江苏XX有限公司", (None, "320000", "province_only_in_name")),
    ("国网江苏省电力有限公司", (None, "320000", "province_only_in_name")),
    ("江苏长治科技有限公司", (None, "320000", "province_only_in_name")),
    ("吉林大学", (None, "220000", "province_only_in_name")),     # 吉林 reads as the province
    ("吉林市XX化纤有限公司", ("220200", "220000", None)),
    ("中国科学院", (None, None, "no_place_in_name")),
    ("华为技术有限公司", (None, None, "no_place_in_name")),
    ("中山大学", (None, None, "no_place_in_name")),             # masked: not 中山市
    ("阿里巴巴集团控股有限公司", (None, None, "no_place_in_name")),
    ("湖北仙桃XX有限公司", (None, "420000", "not_a_city_unit")),
    ("鼓楼区XX公司", (None, None, "ambiguous_place_in_name")),
    ("香港XX有限公司", (None, None, "foreign_name")),
    ("SONY CORPORATION", (None, None, "non_chinese_name")),
]


@pytest.mark.parametrize("name,expected", NAME_CASES, ids=[n for n, _ in NAME_CASES])
def test_locate_name(matcher, name, expected):
    assert matcher.locate(name) == expected


def test_place_table(cfg, tmp_path):
    p = cfg.places
    assert p["吉林"].kind == "province" and p["吉林市"].city_code == "220200"
    assert p["北京"] == PL.PlaceEntry("city", "110000", "110000")
    assert p["昆山"] == PL.PlaceEntry("county", "320500", "320000", restricted=True)
    assert p["海淀区"] == PL.PlaceEntry("county", "110000", "110000")
    assert p["仙桃市"] == PL.PlaceEntry("noncity", None, "420000")
    assert p["鼓楼区"].kind == "ambiguous"
    assert "东方" not in p and "城区" not in p              # excluded short name; 2-character 区 word
    assert cfg.fingerprint and PL.load_config().fingerprint == cfg.fingerprint
    bad = tmp_path / "places.yaml"
    bad.write_text("aliases:\n  浦东: '319999'\n", encoding="utf-8")
    with pytest.raises(UserError, match="not a city_code"):
        PL.load_config(bad)


# --- the whole step on Spark -----------------------------------------------------------

PATENTS = [
    # (application_no, year, applicants_raw, applicant_address)
    ("P01", 2015, "苏州XX科技有限公司;南京大学;王伟", "江苏省苏州市工业园区星湖街328号"),
    ("P02", 2016, "华为技术有限公司;东南大学", "广东省深圳市南山区"),
    ("P03", 2016, "华为技术有限公司;SONY CORPORATION", "广东深圳"),
    ("P04", 2017, "华为技术有限公司", "东莞市松山湖"),
    ("P05", 2017, "东南大学;华为技术有限公司;江苏XX有限公司", None),
    ("P06", 2017, "王伟", None),                                       # individual, no address
    ("P07", 2018, "XX新能源有限公司", "苏州市吴中区"),
    ("P08", 2018, "XX新能源有限公司", "深圳市南山区"),
    ("P09", 2018, "宁波XX有限公司;XX新能源有限公司;王伟", "美国加利福尼亚州"),  # tie; foreign address
    ("P10", 2019, "北京XX有限公司", "上海市浦东新区"),               # address wins over the name
    ("P11", 2019, " ; ", "江苏省苏州市"),                            # no applicant
    ("P12", 2019, "湖北仙桃XX有限公司", "湖北省仙桃市"),
    ("P13", 2020, "王伟;苏州大学", "北京市海淀区"),                  # an individual located by address
]
TRANSFERS = [
    # (application_no, year, owners_before, owners_after, current_owner_address)
    ("P01", 2018, "苏州XX科技有限公司;南京大学", "华为技术有限公司;李四", "广东省东莞市"),
    ("P02", 2019, "华为技术有限公司", "XX新能源有限公司", None),        # to: evidence (tie -> 320500)
    ("P07", 2020, "王伟", "东南大学", "台湾省台北市"),
    ("P08", 2020, "XX新能源有限公司", " ; ", None),
]


@pytest.fixture(scope="module")
def located(spark, cfg):
    patents = spark.createDataFrame(PATENTS, "application_no string, year int, applicants_raw string, applicant_address string")
    transfers = spark.createDataFrame(TRANSFERS, "application_no string, year int, owners_before string, "
                                                 "owners_after string, current_owner_address string")
    result = L.locate(patents, transfers, cfg=cfg)
    # The test reads each result several times: keep them (a job writes each once).
    result.applicants.persist()
    result.transfers.persist()
    out = {
        "applicants": sorted(tuple(r) for r in result.applicants.collect()),
        "orgs": {r["name"]: tuple(r)[1:] for r in result.org_locations.collect()},
        "transfers": sorted(tuple(r) for r in result.transfers.select(
            "application_no", "from_name", "from_city_code", "from_method", "from_unlocated_reason",
            "to_name", "to_city_code", "to_method", "to_unlocated_reason").collect()),
        "owners": sorted(tuple(r) for r in result.transfer_owners.collect()),
        "counts": L.location_count_keys(result.applicants, "applicants"),
        "to_counts": L.location_count_keys(result.transfers, "to", "to_method", "to_unlocated_reason"),
        "result": result,
    }
    yield out
    result.applicants.unpersist()
    result.transfers.unpersist()
    result.unpersist()


def test_applicant_links_located(located):
    E, U = "enterprise", "unlocated"
    assert located["applicants"] == sorted([
        ("P01", 2015, 1, "苏州XX科技有限公司", E, "320500", "320000", "address", None),
        ("P01", 2015, 2, "南京大学", "university", "320100", "320000", "name", None),
        ("P01", 2015, 3, "王伟", "individual", None, None, U, "individual_no_address"),
        ("P02", 2016, 1, "华为技术有限公司", E, "440300", "440000", "address", None),
        ("P02", 2016, 2, "东南大学", "university", None, None, U, "no_place_in_name"),
        ("P03", 2016, 1, "华为技术有限公司", E, "440300", "440000", "address", None),
        ("P03", 2016, 2, "SONY CORPORATION", E, None, None, U, "non_chinese_name"),
        ("P04", 2017, 1, "华为技术有限公司", E, "441900", "440000", "address", None),
        # first applicant without address: name rule, then first-applicant evidence, else the address reason
        ("P05", 2017, 1, "东南大学", "university", None, None, U, "missing_address"),
        ("P05", 2017, 2, "华为技术有限公司", E, "440300", "440000", "first_applicant", None),
        ("P05", 2017, 3, "江苏XX有限公司", E, None, "320000", U, "province_only_in_name"),
        ("P06", 2017, 1, "王伟", "individual", None, None, U, "missing_address"),
        ("P07", 2018, 1, "XX新能源有限公司", E, "320500", "320000", "address", None),
        ("P08", 2018, 1, "XX新能源有限公司", E, "440300", "440000", "address", None),
        ("P09", 2018, 1, "宁波XX有限公司", E, "330200", "330000", "name", None),
        ("P09", 2018, 2, "XX新能源有限公司", E, "320500", "320000", "first_applicant", None),
        ("P09", 2018, 3, "王伟", "individual", None, None, U, "individual_no_address"),
        ("P10", 2019, 1, "北京XX有限公司", E, "310000", "310000", "address", None),
        ("P12", 2019, 1, "湖北仙桃XX有限公司", E, None, "420000", U, "not_a_city_unit"),
        ("P13", 2020, 1, "王伟", "individual", "110000", "110000", "address", None),
        ("P13", 2020, 2, "苏州大学", "university", "320500", "320000", "name", None),
    ])


def test_org_locations(located):
    orgs = located["orgs"]
    # (org_type, city_code, province_code, method, evidence_count, reason, address_records, address_city_code)
    assert orgs["华为技术有限公司"] == ("enterprise", "440300", "440000", "first_applicant", 2, None, 3, "440300")
    # a tie (1 record in 320500, 1 in 440300) goes to the smallest city_code
    assert orgs["XX新能源有限公司"] == ("enterprise", "320500", "320000", "first_applicant", 1, None, 2, "320500")
    # the name wins; the address evidence is kept for audit (P10's address says Shanghai)
    assert orgs["北京XX有限公司"] == ("enterprise", "110000", "110000", "name", 0, None, 1, "310000")
    assert orgs["苏州XX科技有限公司"] == ("enterprise", "320500", "320000", "name", 1, None, 1, "320500")
    assert orgs["东南大学"] == ("university", None, None, "unlocated", 0, "no_place_in_name", 0, None)
    assert orgs["江苏XX有限公司"] == ("enterprise", None, "320000", "unlocated", 0, "province_only_in_name", 0, None)
    # individuals are never pooled, even with a located address elsewhere (P13)
    assert orgs["王伟"] == ("individual", None, None, "unlocated", 0, "individual_no_address", 0, None)
    assert orgs["李四"][3:6] == ("unlocated", 0, "individual_no_address")
    assert len(orgs) == 13     # every distinct name of applicants and owners, once


def test_transfers_located(located):
    assert located["transfers"] == sorted([
        ("P01", "苏州XX科技有限公司", "320500", "name", None, "华为技术有限公司", "441900", "address", None),
        ("P02", "华为技术有限公司", "440300", "first_applicant", None, "XX新能源有限公司", "320500", "first_applicant", None),
        ("P07", "王伟", None, "unlocated", "individual_no_address", "东南大学", None, "unlocated", "foreign_address"),
        ("P08", "XX新能源有限公司", "320500", "first_applicant", None, None, None, "unlocated", "no_owner"),
    ])
    owners = [o for o in located["owners"] if o[0] == "P01"]
    assert owners == sorted([
        ("P01", 2018, "after", 1, "华为技术有限公司", "enterprise", "441900", "440000", "address", None),
        ("P01", 2018, "after", 2, "李四", "individual", None, None, "unlocated", "individual_no_address"),
        ("P01", 2018, "before", 1, "苏州XX科技有限公司", "enterprise", "320500", "320000", "name", None),
        ("P01", 2018, "before", 2, "南京大学", "university", "320100", "320000", "name", None),
    ])


def test_counts_reconcile(located):
    c = located["counts"]
    assert c["applicants.links"] == len(located["applicants"]) == 21
    assert c["applicants.method.address"] == 8
    assert c["applicants.method.name"] == 3
    assert c["applicants.method.first_applicant"] == 2
    assert sum(v for k, v in c.items() if k.startswith("applicants.method.")) == c["applicants.links"]
    unlocated = {k.rsplit(".", 1)[1]: v for k, v in c.items() if k.startswith("applicants.unlocated.")}
    assert unlocated == {"individual_no_address": 2, "no_place_in_name": 1, "non_chinese_name": 1,
                         "missing_address": 2, "province_only_in_name": 1, "not_a_city_unit": 1}
    assert sum(unlocated.values()) == c["applicants.method.unlocated"]
    assert located["to_counts"] == {"to.links": 4, "to.method.address": 1, "to.method.first_applicant": 1,
                                    "to.method.unlocated": 2, "to.unlocated.foreign_address": 1,
                                    "to.unlocated.no_owner": 1}


def _violations(df, spec):
    """Rows breaking each CHECK / NOT NULL of `spec` (one aggregation, no Delta commit)."""
    conds = {name: F.expr(f"coalesce({expr}, false)") for name, expr in spec.checks.items()}
    conds.update({f"{c}_not_null": F.col(c).isNotNull() for c in spec.not_null})
    row = df.agg(*[F.sum(F.when(~c, 1).otherwise(0)).alias(n) for n, c in conds.items()]).first()
    return {n: row[n] for n in conds if row[n]}


def test_results_satisfy_table_constraints(located):
    result = located["result"]
    assert _violations(result.applicants, APPLICANTS) == {}
    assert _violations(result.org_locations, ORG_LOCATIONS) == {}
    assert set(result.applicants.columns) == set(APPLICANTS.schema.fieldNames())
    assert set(result.org_locations.columns) == set(ORG_LOCATIONS.schema.fieldNames())
    spark = result.applicants.sparkSession
    bad_orgs = spark.createDataFrame([
        ("A公司", "enterprise", "320500", "320000", "address", 0, None, 0, None),       # address is link-level
        ("B公司", "enterprise", "320500", "330000", "name", 0, None, 0, None),          # city outside province
        ("C公司", "enterprise", None, None, "unlocated", 2, "no_place_in_name", 1, "320500"),  # evidence > records
        ("D公司", "enterprise", None, None, "unlocated", 0, None, 0, None),             # no reason
    ], ORG_LOCATIONS.schema)
    assert _violations(bad_orgs, ORG_LOCATIONS) == {"valid_values": 3, "location_consistent": 1}


def test_applicants_table_rejects_bad_rows(spark, fresh_warehouse, located):
    tables.write(located["result"].applicants, APPLICANTS)
    assert tables.read(spark, "silver.applicants").count() == 21
    assert tables.protocol(spark, "silver.applicants")[0] == 1
    # located by address on a non-first applicant, and without a city
    bad = spark.createDataFrame([("P99", 2020, 2, "X公司", "enterprise", None, None, "address", None)],
                                APPLICANTS.schema)
    with pytest.raises(Exception, match="(?i)constraint|check"):
        tables.write(bad, APPLICANTS, mode="replace_where", replace_where="year = 2020")
    assert _violations(bad, APPLICANTS) == {"location_consistent": 1}
