"""Applicant lists: splitting, clean-up and organisation types (issue 3 item 2)."""
from __future__ import annotations

import pytest

from greenlink.core.errors import UserError
from greenlink.silver.applicants import (applicant_links, classify_org_type, count_names, load_org_type_rules,
                                         patents_without_applicant, split_names)

from frames import assert_frame_equal

PATENTS = "application_no string, year int, applicants_raw string, applicant_address string"


def test_split_clean_and_order(spark):
    rows = [
        ("P1", 2015, "苏州大学;南京大学", "江苏省苏州市"),
        ("P2", 2015, "苏州大学；南京大学；王伟", "addr2"),           # full-width separator
        ("P3", 2016, "苏州大学，南京大学 , 东南大学", None),          # commas between Chinese names
        ("P4", 2016, "SONY CO., LTD.;苏州大学", "Tokyo"),            # a comma inside a Latin name stays
        ("P5", 2017, "  ;Ｓｏｎｙ　 (ＣＨＩＮＡ)  Co., Ltd. ;; 苏州 XX 科技 有限公司 ;", "x"),
        ("P6", 2017, " ; ；", "y"),                                  # nothing left
        ("P7", 2018, None, None),
        ("P8", 2018, "（苏州）ＡＢ科技有限公司", "z"),               # full-width brackets fold
    ]
    patents = spark.createDataFrame(rows, PATENTS)
    assert_frame_equal(applicant_links(patents), [
        ("P1", 2015, 1, "苏州大学", "江苏省苏州市"), ("P1", 2015, 2, "南京大学", None),
        ("P2", 2015, 1, "苏州大学", "addr2"), ("P2", 2015, 2, "南京大学", None), ("P2", 2015, 3, "王伟", None),
        ("P3", 2016, 1, "苏州大学", None), ("P3", 2016, 2, "南京大学", None), ("P3", 2016, 3, "东南大学", None),
        ("P4", 2016, 1, "SONY CO., LTD.", "Tokyo"), ("P4", 2016, 2, "苏州大学", None),
        # empty entries dropped and the order renumbered; the address stays with order 1
        ("P5", 2017, 1, "Sony (CHINA) Co., Ltd.", "x"), ("P5", 2017, 2, "苏州XX科技有限公司", None),
        ("P8", 2018, 1, "(苏州)AB科技有限公司", "z"),
    ])
    assert_frame_equal(patents_without_applicant(patents), [("P6", 2017), ("P7", 2018)])


def test_names_without_lambdas_equal_the_split_list(spark):
    """count_names and applicant_links skip the lambdas where they change nothing: the same
    counts and names as `split_names`."""
    import random

    from pyspark.sql import functions as F

    rng = random.Random(3)
    pieces = ["苏州大学", "SONY CO.", " LTD.", "王伟", " ", "\u00a0", "\u3000", "\t", ";", "；", ",", "，", "Ａ", "x"]
    lists = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    lists += [None, "", " ", "\u3000\u00a0\t", "甲", "甲 ,乙", "甲\u00a0,乙", "A,B", ";", "；；"]
    df = spark.createDataFrame([(i, x) for i, x in enumerate(lists)], "i int, names string")
    got = df.select("i", count_names(F.col("names")).alias("n"),
                    F.size(split_names(F.col("names"))).alias("split")).collect()
    assert [(r.i, r.n) for r in got if r.n != r.split] == []
    assert {r.n for r in got} >= {0, 1, 2, 3}
    # the links: lists without an empty entry are split without lambdas, the same names in order
    from pyspark.sql import functions as F

    patents = spark.createDataFrame([(f"P{i}", 2015, x, f"addr{i}") for i, x in enumerate(lists)], PATENTS)
    links = applicant_links(patents)
    reference = (patents.select("application_no", "year", "applicant_address",
                                F.posexplode(split_names(F.col("applicants_raw"))).alias("pos", "name"))
                 .select("application_no", "year", (F.col("pos") + 1).alias("applicant_order"), "name",
                         F.when(F.col("pos") == 0, F.col("applicant_address")).alias("address")))
    assert_frame_equal(links, reference)
    assert links.count() > 2000


ORG_TYPE_CASES = {
    # universities, including units of universities and the 科学院 trap
    "清华大学": "university",
    "清华大学深圳研究生院": "university",
    "西安交通大学苏州研究院": "university",
    "中国科学院大学": "university",
    "江苏XX职业技术学院": "university",
    "上海财经大学会计学院": "university",          # 大学会… is not a 学会 (society)
    "南京XX技工学校": "university",
    "MASSACHUSETTS INSTITUTE OF TECHNOLOGY": "university",
    "Univ of California": "other",                 # abbreviations are not guessed
    "THE REGENTS OF THE UNIVERSITY OF CALIFORNIA": "university",
    # institutes
    "中国科学院": "institute",
    "中国科学院大连化学物理研究所": "institute",
    "中国农业科学院": "institute",                   # …科学院, not a 学院
    "中国农业科学院茶叶研究所": "institute",
    "中国工程物理研究院化工材料研究所": "institute",
    "江苏省XX工程技术研究中心": "institute",
    "XX国家重点实验室": "institute",
    "FRAUNHOFER-GESELLSCHAFT ZUR FOERDERUNG DER ANGEWANDTEN FORSCHUNG E.V.": "institute",
    # enterprises: a legal form wins over everything else
    "苏州XX科技有限公司": "enterprise",
    "清华大学科技园有限公司": "enterprise",
    "中国石油化工股份有限公司北京化工研究院": "enterprise",
    "上海XX研究院有限公司": "enterprise",
    "国网江苏省电力有限公司南京供电分公司": "enterprise",
    "XX县XX农民专业合作社": "enterprise",
    "苏州第一机床厂": "enterprise",
    "XX集团": "enterprise",
    "SONY CORPORATION": "enterprise",
    "SIEMENS AG": "enterprise",
    "SAMSUNG ELECTRONICS CO., LTD.": "enterprise",
    "Siemens Aktiengesellschaft": "enterprise",
    "Vestas Wind Systems A/S": "enterprise",
    "KONINKLIJKE PHILIPS N.V.": "enterprise",
    "株式会社XX": "enterprise",
    # other: hospitals, government, associations
    "上海交通大学医学院附属瑞金医院": "other",
    "南京市人民政府": "other",
    "XX市供电局": "other",
    "中国化学会": "other",
    "XX产业技术创新战略联盟": "other",
    "XX中学": "other",
    "JOHN SMITH": "other",                          # a Latin personal name cannot be told apart
    "李": "other",                                  # one character is no name
    # individuals
    "王伟": "individual",
    "欧阳娜娜": "individual",
    "阿依古丽·买买提": "individual",
    "华为": "individual",                           # known limit: a bare 2–4 character brand
}


def test_org_type_rules(spark):
    df = spark.createDataFrame([(n,) for n in ORG_TYPE_CASES], "name string")
    got = {r["name"]: r["org_type"] for r in classify_org_type(df).collect()}
    assert got == ORG_TYPE_CASES


def test_org_type_rules_validate(tmp_path):
    rules = load_org_type_rules()
    assert [r.org_type for r in rules.rules] == ["enterprise", "other", "university", "institute", "individual"]
    bad_type = tmp_path / "t1.yaml"
    bad_type.write_text("rules:\n  - type: company\n    patterns: ['公司']\n", encoding="utf-8")
    with pytest.raises(UserError, match="rule 1 needs `type`"):
        load_org_type_rules(bad_type)
    bad_regex = tmp_path / "t2.yaml"
    bad_regex.write_text("rules:\n  - type: enterprise\n    patterns: ['公司(']\n", encoding="utf-8")
    with pytest.raises(UserError, match="bad pattern"):
        load_org_type_rules(bad_regex)
    no_patterns = tmp_path / "t3.yaml"
    no_patterns.write_text("rules:\n  - type: enterprise\n", encoding="utf-8")
    with pytest.raises(UserError, match="non-empty list"):
        load_org_type_rules(no_patterns)
