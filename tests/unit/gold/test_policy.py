"""SPEC §6 policy synergy: agency parsing, tool detection on realistic texts, zts/gjs/rps."""
from __future__ import annotations

import pytest
import yaml

from greenlink.core.config import conf_file
from greenlink.core.errors import UserError
from greenlink.gold.policy import synergy as SY, text as PT
from greenlink.reference.gazetteer import province_lookup

import paths

DATA = paths.DATA / "policy"
DOCS = yaml.safe_load((DATA / "documents.yaml").read_text(encoding="utf-8"))["documents"]


@pytest.fixture(scope="module")
def agencies():
    return PT.AgencyDictionary.load()


@pytest.fixture(scope="module")
def tools():
    return PT.ToolDictionary.load()


# --------------------------------------------------------------------------- agencies (pure)

@pytest.mark.parametrize("field, expected", [
    # the same body under its full name, short name and with/without province
    ("江苏省科学技术厅、省科技厅、科技厅", ["科学技术厅"]),
    ("省科技厅，江苏省科学技术厅", ["科学技术厅"]),
    # municipalities: 科委 / 科学技术局 are the provincial 科学技术厅
    ("北京市科学技术委员会 北京市教育委员会", ["教育厅", "科学技术厅"]),
    ("天津市科学技术局；天津市财政局", ["科学技术厅", "财政厅"]),
    # pre-2018 names map to the body that took over the function
    ("陕西省经信委、陕西省国资委", ["国有资产监督管理委员会", "工业和信息化厅"]),
    ("省环境保护厅和省发改委", ["发展和改革委员会", "生态环境厅"]),
    # party bodies keep 省委; 中共 and the province name are dropped
    ("中共广东省委 广东省人民政府", ["人民政府", "党委"]),
    ("中共浙江省委组织部、省委人才办", ["党委人才工作领导小组办公室", "党委组织部"]),
    ("广西壮族自治区党委办公厅与自治区人民政府办公厅", ["人民政府办公厅", "党委办公厅"]),
    # names with the place inside them
    ("国家税务总局江苏省税务局、中国人民银行南京分行、江苏银保监局",
     ["人民银行分支机构", "税务局", "银行保险监督管理局"]),
    ("中国科学院西安分院、陕西省科技厅", ["中国科学院分院", "科学技术厅"]),
])
def test_agency_aliases_are_normalised(agencies, field, expected):
    names, unmatched = PT.parse_agencies(field, agencies)
    assert names == sorted(expected)
    assert unmatched == []


def test_agency_splitting_keeps_names_that_contain_he(agencies):
    field = "四川省住房和城乡建设厅和四川省人力资源和社会保障厅联合省发展和改革委员会、省工业和信息化厅等"
    assert PT.split_agencies(field, agencies) == [
        "四川省住房和城乡建设厅", "四川省人力资源和社会保障厅", "省发展和改革委员会", "省工业和信息化厅"]
    # parenthesised asides are dropped; 印发 / 等 at the end are not part of a name
    assert PT.split_agencies("省知识产权局（省市场监督管理局）、省财政厅印发", agencies) == ["省知识产权局", "省财政厅"]
    assert PT.split_agencies("省科技厅 会同 省财政厅", agencies) == ["省科技厅", "省财政厅"]


def test_unknown_agency_is_kept_and_listed(agencies):
    names, unmatched = PT.parse_agencies("浙江省体育局、浙江省科学技术厅", agencies)
    assert names == ["体育局", "科学技术厅"]
    assert unmatched == ["体育局"]
    assert PT.parse_agencies("  、 ，等 ", agencies) == ([], [])


def test_agency_dictionary_rejects_an_alias_under_two_names(tmp_path):
    data = yaml.safe_load(conf_file("policy_agencies.yaml").read_text(encoding="utf-8"))
    data["aliases"]["财政厅"].append("科技厅")
    bad = tmp_path / "agencies.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match="科技厅"):
        PT.AgencyDictionary.load(bad)


# --------------------------------------------------------------------------- tools (pure)

@pytest.mark.parametrize("doc", DOCS, ids=[d["policy_id"] for d in DOCS])
def test_realistic_documents_are_coded_as_a_reader_codes_them(doc, agencies, tools):
    exp = doc["expect"]
    names, unmatched = PT.parse_agencies(doc["agencies"], agencies)
    assert names == sorted(exp["agencies"])
    assert unmatched == []
    matches = PT.detect_tools(doc["text"], tools)
    assert PT.tool_types(matches) == exp["types"]
    found = {f"{m.type}/{m.instrument}" for m in matches if m.n > 0}
    assert set(exp["instruments"]) <= found
    negated = sorted(m.keyword for m in matches if m.n_negated > 0)
    assert negated == sorted(exp.get("negated", []))


def test_keywords_stay_whole_in_the_segmentation(tools):
    tokens = PT.segment("落实税收优惠政策，开展知识产权质押融资和科技成果转化。", tools)
    for kw in ("税收优惠", "知识产权质押融资", "科技成果转化"):
        assert kw in tokens


def test_longest_keyword_wins_and_counts_once(tools):
    matches = PT.detect_tools("开展知识产权质押融资，知识产权质押融资规模扩大。", tools)
    assert [(m.type, m.instrument, m.keyword, m.n) for m in matches] == \
        [("environment", "finance", "知识产权质押融资", 2)]      # not also 知识产权 / 质押融资


def test_simple_negation(tools):
    def types(text):
        return PT.tool_types(PT.detect_tools(text, tools))

    assert types("对转让的技术不享受税收优惠。") == []
    assert types("省财政不再安排专项资金。") == []
    assert types("本年度无专项资金支持。") == []
    # not negations: an obligation, a comparison, a negator in another clause
    assert types("任何单位不得挪用专项资金。") == ["supply"]
    assert types("企业配套资金不低于资助额度。") == ["supply"]
    assert types("不再新建园区，落实税收优惠。") == ["environment"]


def test_tool_dictionary_rejects_a_keyword_under_two_instruments(tmp_path):
    data = yaml.safe_load(conf_file("policy_tools.yaml").read_text(encoding="utf-8"))
    data["types"]["demand"]["instruments"]["procurement"]["keywords"].append("税收优惠")
    bad = tmp_path / "tools.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match="税收优惠"):
        PT.ToolDictionary.load(bad)


def test_provinces_and_years_resolve():
    lookup = province_lookup()
    assert len({v for v in lookup.values()}) == 31
    for raw in ("江苏", "江苏省", "320000", " 江苏省 "):
        assert PT.resolve_province(raw, lookup) == ("320000", "江苏省")
    assert PT.resolve_province("广西", lookup) == ("450000", "广西壮族自治区")
    assert PT.resolve_province("广西自治区", lookup) == ("450000", "广西壮族自治区")
    assert PT.resolve_province("香港", lookup) is None
    assert [PT.parse_year(v) for v in (2015, "2015", "2015年", 2015.0, "二〇一五", 1900, True, None)] == \
        [2015, 2015, 2015, 2015, None, None, None, None]


# --------------------------------------------------------------------------- synergy (Spark)

POLICY_COLS = "province_code string, year int, n_agencies int, n_tool_types int, in_synergy boolean"


def synergy_rows(spark, policies, empty_year="carry_forward", years=(2010, 2013)):
    units = spark.createDataFrame([("320000", "江苏省"), ("330000", "浙江省"), ("520000", "贵州省")],
                                  "province_code string, province_name string")
    df = spark.createDataFrame(policies, POLICY_COLS)
    out = SY.policy_synergy(df, units, years, empty_year).collect()
    return {(r["province_code"], r["year"]): r.asDict() for r in out}


def test_synergy_means_carry_forward_and_empty_province_years(spark):
    policies = [
        # 江苏 2011: two policies with tools (2 and 4 agencies; 1 and 3 types) + one with none
        ("320000", 2011, 2, 1, True), ("320000", 2011, 4, 3, True), ("320000", 2011, 5, 0, False),
        # 江苏 2013: one policy
        ("320000", 2013, 1, 2, True),
        # 浙江 2008 (before the study years) carries into 2010; 2012 observed; 2015 after the study years
        ("330000", 2008, 3, 2, True), ("330000", 2012, 2, 2, True), ("330000", 2015, 9, 3, True),
        # 贵州: only a policy without any tool
        ("520000", 2012, 2, 0, False),
    ]
    got = synergy_rows(spark, policies)
    assert len(got) == 3 * 4                                  # every province × study year
    js11 = got[("320000", 2011)]
    # zts = (2 + 4)/2 = 3, gjs = (1 + 3)/2 = 2, rps = 6; the tool-less policy is counted, not averaged
    assert (js11["n_policies"], js11["n_policies_used"], js11["zts"], js11["gjs"], js11["rps"], js11["fill"],
            js11["source_year"]) == (3, 2, 3.0, 2.0, 6.0, "observed", 2011)
    assert got[("320000", 2010)]["fill"] == "missing"         # no policy in force yet
    assert got[("320000", 2010)]["zts"] is None and got[("320000", 2010)]["rps"] is None
    js12 = got[("320000", 2012)]
    assert (js12["n_policies"], js12["zts"], js12["gjs"], js12["rps"], js12["fill"], js12["source_year"]) == \
        (0, 3.0, 2.0, 6.0, "carried_forward", 2011)
    assert (got[("320000", 2013)]["zts"], got[("320000", 2013)]["rps"]) == (1.0, 2.0)
    zj = [got[("330000", y)] for y in range(2010, 2014)]
    assert [r["fill"] for r in zj] == ["carried_forward", "carried_forward", "observed", "carried_forward"]
    assert [r["source_year"] for r in zj] == [2008, 2008, 2012, 2012]
    assert [r["rps"] for r in zj] == [6.0, 6.0, 4.0, 4.0]     # the 2015 policy never leaks back
    gz12 = got[("520000", 2012)]
    assert (gz12["n_policies"], gz12["n_policies_used"], gz12["fill"], gz12["zts"]) == (1, 0, "missing", None)

    strict = synergy_rows(spark, policies, empty_year="missing")
    assert strict[("320000", 2012)]["fill"] == "missing" and strict[("320000", 2012)]["rps"] is None
    assert strict[("330000", 2010)]["fill"] == "missing"
    assert strict[("320000", 2011)]["rps"] == 6.0
