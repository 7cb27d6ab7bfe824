"""Ingest's parts on hand-made values (docs/ingest.md): application numbers and dates
(reference/ids.py, bronze/fields.py), patent types, header matching, encoding sniffing, Excel
cells, CSV line numbering, the row checks' precedence and count reconciliation. The ingest stage
on the hand-written world is tests/integration/test_ingest_stage.py."""
from __future__ import annotations

import codecs
from datetime import date, datetime
from types import SimpleNamespace

import pytest
from pyspark.sql import functions as F

from greenlink.bronze import checks, fields, readers
from greenlink.bronze.layout import InputFile, load_conf, match_columns, sniff_bytes, type_key
from greenlink.core.errors import UserError
from greenlink.core.text import text_key
from greenlink.reference import ids


# ---------------------------------------------------------------- ids.py, fields.py

def test_check_digit_on_published_numbers():
    assert ids.check_digit("201710601862") == "3"          # 201710601862.3
    assert ids.check_digit("97101765") == "4"              # 97101765.4 (8-digit form, before 2003)
    assert ids.check_digit("95115608") == "X"              # ZL95115608.X
    with pytest.raises(ValueError):
        ids.check_digit("2017106018")


def test_application_no_every_form(spark):
    cases = {
        "CN201710601862.3": "201710601862.3", "201710601862.3": "201710601862.3",
        "2017106018623": "201710601862.3", "201710601862": "201710601862.3",      # check digit computed
        "ZL201710601862.3": "201710601862.3", "cn 2017 1060 1862.3": "201710601862.3",
        "２０１７１０６０１８６２．３": "201710601862.3", "\ufeff201710601862.3 ": "201710601862.3",
        "ZL95115608.X": "95115608.X", "95115608x": "95115608.X", "95115608": "95115608.X",
        "zL95115608.x": "95115608.X", "Cnzl 201710601862": "201710601862.3",          # prefixes in any case
        "201710601862.4": None, "20171060186": None, "CN": None, "abc": None, "": None, None: None,
    }
    df = spark.createDataFrame([(k,) for k in cases], "raw string")
    got = {r["raw"]: (r["c"], r["p"]) for r in fields.with_application_no(df, "raw", "c", "p").collect()}
    assert {k: v[0] for k, v in got.items()} == cases
    assert all((c is None) == (p is not None) for c, p in got.values())
    assert fields.with_application_no(df, "raw", "c").columns == ["raw", "c"]
    assert got["201710601862.4"][1] == "check digit 4 does not match the computed 3: '201710601862.4'"
    assert got["CN"][1] == "not an application number: 'CN'"
    assert got[""][1] == got[None][1] == "application number is empty"


def test_patent_type_folds_width_ascii_case_and_spaces(spark):
    spellings = load_conf().patent_types
    cases = {"ＩＮＶＥＮＴＩＯＮ": "invention", " Utility  Model": "utility", "外观 设计": "design",
             "ＤＥＳＩＧＮ\u3000": "design", "İnvention": None, "plant variety": None, None: None}
    df = spark.createDataFrame([(k,) for k in cases], "raw string")
    got = {r["raw"]: r["t"] for r in df.select("raw", checks.patent_type(F.col("raw"), spellings).alias("t")).collect()}
    assert got == cases
    # the driver's key (conf spellings) folds exactly as the executors do
    assert all(spellings.get(type_key(k)) == v for k, v in cases.items() if k is not None)


def test_parse_date_every_form(spark):
    d = date(2018, 3, 5)
    cases = {
        "2018-03-05": d, "2018/3/5": d, "20180305": d, "2018.03.05": d, "2018年3月5日": d,
        "２０１８年３月５日": d, " 2018-3-05 ": d, "2018-03-05 00:00:00": d, "2018-03-05T10:30:00.5": d,
        "2018-02-30": None, "2018-13-01": None, "18-03-05": None, "2018-03": None, "201835": None,
        "未授权": None, "": None, None: None,
    }
    df = spark.createDataFrame([(k,) for k in cases], "raw string")
    got = {r["raw"]: r["d"] for r in df.select("raw", fields.parse_date(F.col("raw")).alias("d")).collect()}
    assert got == cases


# ---------------------------------------------------------------- layout

def test_headers_match_aliases_in_priority_order():
    conf = load_conf().kinds["patents"]
    assert text_key(" 申请（专利权）人 ") == "申请(专利权)人"
    assert text_key("\ufeffApplication Number") == "applicationnumber"
    headers = ["专利权人", "申请号", "申请日", "类型", "IPC", "申请（专利权）人", "地址"]
    cols = match_columns(headers, conf, "x.csv")
    # 申请(专利权)人 precedes 专利权人 among the aliases of applicants
    assert cols == {"application_no": 1, "application_date": 2, "publication_no": None, "grant_date": None,
                    "patent_type": 3, "ipc": 4, "applicants": 5, "applicant_address": 6}
    with pytest.raises(UserError) as err:
        match_columns(["申请号", "申请日", "类型", "IPC"], conf, "patents/a.csv")
    msg = str(err.value)
    assert msg.startswith("patents/a.csv: missing required column 'applicants' (one of: 申请人,")
    assert msg.endswith("the file has: 申请号, 申请日, 类型, IPC") and "\n" not in msg


def test_encoding_sniffing(tmp_path):
    text = "申请号,申请日\n201710601862.3,2018-03-05\n"
    cases = {"u.csv": text.encode("utf-8"), "bom.csv": codecs.BOM_UTF8 + text.encode("utf-8"),
             "g.csv": text.encode("gbk"), "ascii.csv": b"a,b\n1,2\n",
             # valid UTF-8 Chinese well past the evidence threshold, then one damaged byte
             "damaged.csv": ("申请人" * 20 + "\n").encode("utf-8") + b"\xff\n"}
    got = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        got[name] = sniff_bytes(tmp_path / name, evidence_chars=32)
    assert {k: v[1] for k, v in got.items()} == {"u.csv": "UTF-8", "bom.csv": "UTF-8-BOM", "g.csv": "GB18030",
                                                 "ascii.csv": "UTF-8", "damaged.csv": "UTF-8"}
    import hashlib
    assert got["g.csv"][0] == hashlib.sha256(cases["g.csv"]).hexdigest()


def test_excel_cells_read_as_export_text():
    assert readers.cell_text(datetime(2015, 7, 1)) == "2015-07-01"
    assert readers.cell_text(datetime(2015, 7, 1, 9, 30)) == "2015-07-01 09:30:00"
    assert readers.cell_text(2018101234567.0) == "2018101234567"
    assert readers.cell_text(201810123456.7) == "201810123456.7"
    assert readers.cell_text("") is None and readers.cell_text(None) is None


@pytest.mark.slow
def test_csv_rows_numbered_across_many_splits(spark, tmp_path):
    """Files split into many partitions, several files per partition: every line keeps its number."""
    conf = load_conf().kinds["transfers"]
    header = "申请号,变更生效日,变更前权利人,变更后权利人"
    files = []
    for name, n in (("a.csv", 300), ("b.csv", 7), ("c.csv", 0)):
        lines = [header] + [f"{i},2019-01-01,甲{i},乙{i}" for i in range(1, n + 1)]
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(InputFile("transfers", path.resolve(), f"transfers/{name}", "csv", path.stat().st_size,
                               tuple(header.split(",")), match_columns(header.split(","), conf, name), "UTF-8"))
    before = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    try:
        df, rows_in = readers.read_csv(spark, files, conf, lambda _: None)
        got = [(r.source_file, r.source_row, r.application_no) for r in df.collect()]
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", before)
    assert rows_in == {"transfers/a.csv": 300, "transfers/b.csv": 7, "transfers/c.csv": 0}
    assert sorted(got) == sorted([("transfers/a.csv", i, str(i)) for i in range(1, 301)]
                                 + [("transfers/b.csv", i, str(i)) for i in range(1, 8)])


def test_counts_that_do_not_reconcile_fail_loudly():
    from greenlink.bronze.stage import reconcile

    f = SimpleNamespace(relpath="patents/a.csv")
    ok = {"n": 3, "lo": 1, "hi": 3, "distinct": 3, "accepted": 2, "reasons": {"duplicate_row": 1}}
    reconcile([f], {"patents/a.csv": 3}, {"patents/a.csv": ok})
    with pytest.raises(RuntimeError, match=r"patents/a.csv: read 4 rows but accepted 2 \+ rejected 1 = 3"):
        reconcile([f], {"patents/a.csv": 4}, {"patents/a.csv": ok})
    with pytest.raises(RuntimeError, match=r"patents/a.csv: source_row is not exactly 1..3 \(min 1, max 3, distinct 2\)"):
        reconcile([f], {"patents/a.csv": 3}, {"patents/a.csv": {**ok, "distinct": 2}})



def test_one_reason_per_row_in_precedence_order(spark):
    """A repeat of a bad row is a duplicate (its first copy carries the reason); malformed rows
    are never duplicates; the first failing check wins."""
    conf = load_conf().kinds["transfers"]
    rows = [  # source_file, source_row, raw_record, malformed, application_no, effective_date, before, after, address
        ("transfers/a.csv", 1, "l1", None, "201810123456.5", "2019-13-01", "甲", "乙", None),
        ("transfers/a.csv", 2, "l2", None, "201810123456.5", "2019-13-01", "甲", "乙", None),
        ("transfers/a.csv", 3, "l3", "3 fields where the header has 5", "201810123456.5", "x", None, None, None),
        ("transfers/a.csv", 4, "l4", "3 fields where the header has 5", "201810123456.5", "x", None, None, None),
        ("transfers/a.csv", 5, "l5", None, "bad", "bad", None, None, None),
        ("transfers/a.csv", 6, "l6", None, "201810123456.5", "2019-01-01", " ; ", "乙", None),
        ("transfers/a.csv", 7, "l7", None, "201810123456.5", "2019-01-01", "甲", None, None),
        ("transfers/a.csv", 8, "l8", None, "201810123456", "2019-01-01", "甲", "乙；丙", None),
    ]
    parsed = (spark.createDataFrame(rows, readers.parsed_schema(conf))
              .withColumn("line_hash", readers.line_hash(F.lit("test"), F.col("raw_record"))))
    got = {r.source_row: (r.reason, r.detail, r.application_no)
           for r in checks.check_transfers(parsed, conf.columns).collect()}
    assert got == {
        1: ("bad_effective_date", "effective date is not a date: '2019-13-01'", "201810123456.5"),
        2: ("duplicate_row", "repeat of transfers/a.csv row 1", "201810123456.5"),
        3: ("malformed_row", "3 fields where the header has 5", "201810123456.5"),
        4: ("malformed_row", "3 fields where the header has 5", "201810123456.5"),
        5: ("missing_application_no", "not an application number: 'bad'", None),
        6: ("missing_owners", "owners before are empty", "201810123456.5"),
        7: ("missing_owners", "owners after are empty", "201810123456.5"),
        8: (None, None, "201810123456.5"),                                 # check digit computed
    }
