"""The ingest stage (docs/ingest.md) on the hand-written world in tests/data/ingest/world (CSV:
UTF-8 with BOM + CRLF, UTF-8 English headers, GBK; the Parquet and .xlsx files are built from the
literals below): what it accepts and rejects, reingests, next month's dump, one-line errors.
Ingest's parts on hand-made values are tests/unit/bronze/test_ingest.py."""
from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from pyspark.sql import functions as F

from greenlink.bronze.stage import ingest
from greenlink.bronze.tables import INGEST_REASONS, PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.core.runs import RUNS
from greenlink.core.session import WAREHOUSE_KEY
from greenlink.ops import cli

from paths import DATA

WORLD = DATA / "ingest" / "world"
BRONZE = (PATENTS_RAW.name, TRANSFERS_RAW.name, REJECTS.name)


# ---------------------------------------------------------------- the world

PARQUET_2016 = pd.DataFrame({                     # English canonical names, all strings
    "application_no": ["201610600001.9", "201630600002.4", None, "201610600004.2"],
    "application_date": ["2016-05-05", "2016-06-06", "2016-07-07", "2016-08-08"],
    "publication_no": ["CN106600001B", "CN306600002S", "CN106600003A", "CN106600004A"],
    "grant_date": ["2018-01-01", None, None, None],
    "patent_type": ["invention", "design", "invention", "plant variety"],
    "ipc": ["H01M 8/04", None, "G06F 1/00", "A01H 1/00"],
    "applicants": ["上海交通大学", "广州设计公司", "某公司", "某农业公司"],
    "applicant_address": ["上海市闵行区东川路800号", "广东省广州市", "北京市", "山东省济南市"],
})
XLSX_2015 = [                                     # Chinese headers, no optional columns
    ["申请号", "申请日", "专利类型", "IPC", "申请人"],
    ["201510700001.1", datetime(2015, 7, 1), "发明", "B61D 17/00", "中车青岛四方机车车辆股份有限公司"],
    ["201520700002.1", "2015/7/2", "实用新型", "F03D 1/06", "新疆金风科技股份有限公司"],
    [],
    [None, datetime(2015, 7, 3), "发明", "B61D", "某公司"],
    ["201510700003.0", datetime(2015, 7, 4), "发明", "B61D 17/00", "某公司", "多余"],
]


def build_world(dest: Path) -> Path:
    shutil.copytree(WORLD, dest)
    PARQUET_2016.to_parquet(dest / "patents" / "2016.parquet", index=False)
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in XLSX_2015:
        ws.append(row)
    ws["A9"].number_format = "0.00"               # a formatted empty row after the data
    wb.save(dest / "patents" / "2015.xlsx")
    return dest


@contextmanager
def warehouse_at(spark, path: Path):
    before = spark.conf.get(WAREHOUSE_KEY)
    spark.conf.set(WAREHOUSE_KEY, str(path))
    try:
        yield
    finally:
        spark.conf.set(WAREHOUSE_KEY, before)


def versions(spark) -> dict[str, int]:
    from delta.tables import DeltaTable

    return {n: DeltaTable.forPath(spark, tables.path(spark, n)).history(1).first()["version"] for n in BRONZE}


def snapshot(spark) -> dict[str, list[tuple]]:
    return {n: sorted(tuple(r) for r in tables.read(spark, n).drop("run_id").collect()) for n in BRONZE}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(tmp_path_factory.mktemp("ingest") / "world")


@pytest.fixture(scope="module")
def first(spark, world, tmp_path_factory):
    """One ingest of the world into its own warehouse, and what it left behind."""
    wh = tmp_path_factory.mktemp("ingest_wh")
    with warehouse_at(spark, wh):
        counts = ingest(spark, world)
        runs = [r.asDict() for r in tables.read(spark, RUNS.name).filter("job = 'ingest' AND event = 'end'").collect()]
        return SimpleNamespace(
            wh=wh, counts=counts, run=runs[0], versions=versions(spark), tables=snapshot(spark),
            patents={(r.source_file, r.source_row): r for r in tables.read(spark, PATENTS_RAW.name).collect()},
            transfers={(r.source_file, r.source_row): r for r in tables.read(spark, TRANSFERS_RAW.name).collect()},
            rejects={(r.source_file, r.source_row): r for r in tables.read(spark, REJECTS.name).collect()},
            protocols={n: tables.protocol(spark, n) for n in BRONZE})


# ---------------------------------------------------------------- what the world must give

D = date.fromisoformat
# (file, row): (application_no, application_date, grant_date, patent_type)
ACCEPTED_PATENTS = {
    ("patents/2015.xlsx", 1): ("201510700001.1", D("2015-07-01"), None, "invention"),
    ("patents/2015.xlsx", 2): ("201520700002.1", D("2015-07-02"), None, "utility"),
    ("patents/2016.parquet", 1): ("201610600001.9", D("2016-05-05"), D("2018-01-01"), "invention"),
    ("patents/2016.parquet", 2): ("201630600002.4", D("2016-06-06"), None, "design"),
    ("patents/2017_gbk.csv", 1): ("201710500001.6", D("2017-01-05"), D("2019-03-01"), "invention"),
    ("patents/2017_gbk.csv", 2): ("201720500002.6", D("2017-02-06"), D("2017-08-01"), "utility"),
    ("patents/2018_cn.csv", 1): ("201810123456.5", D("2018-03-05"), D("2020-06-02"), "invention"),
    ("patents/2018_cn.csv", 2): ("201820234567.9", D("2018-03-05"), None, "utility"),
    ("patents/2018_cn.csv", 9): ("201810123456.5", D("2018-03-05"), D("2020-06-02"), "invention"),  # near duplicate
    ("patents/2018_cn.csv", 10): ("201810555555.0", D("2018-09-01"), None, "invention"),
    ("patents/2018_cn.csv", 14): ("201810888888.5", D("2018-11-11"), None, "design"),
    ("patents/2019_en.csv", 1): ("201910100001.6", D("2019-01-02"), None, "invention"),
    ("patents/2019_en.csv", 2): ("201920100002.6", D("2019-02-03"), None, "utility"),
    ("patents/2019_en.csv", 4): ("201910100004.X", D("2019-04-05"), None, "invention"),
}
# (file, row): (application_no, effective_date, owners_before, owners_after, current_owner_address)
ACCEPTED_TRANSFERS = {
    ("transfers/2019.csv", 1): ("201810123456.5", D("2019-05-01"), "北京大学", "北京科技成果转化有限公司",
                                "北京市海淀区中关村大街1号"),
    ("transfers/2019.csv", 2): ("201810555555.0", D("2019-06-02"), "北京理工大学", "深圳华为技术有限公司",
                                "广东省深圳市龙岗区坂田街道"),
    ("transfers/2020_en.csv", 1): ("201710500001.6", D("2020-01-15"), "中国科学院广州能源研究所", "佛山某能源公司", None),
    ("transfers/2020_en.csv", 2): ("201710500001.6", D("2020-02-16"), "中国科学院广州能源研究所", "佛山某能源公司", None),
}
# (file, row): (kind, reason, detail)
REJECTED = {
    ("patents/2015.xlsx", 3): ("patents", "malformed_row", "empty row"),
    ("patents/2015.xlsx", 4): ("patents", "missing_application_no", "application number is empty"),
    ("patents/2015.xlsx", 5): ("patents", "malformed_row", "6 filled cells where the header has 5"),
    ("patents/2016.parquet", 3): ("patents", "missing_application_no", "application number is empty"),
    ("patents/2016.parquet", 4): ("patents", "unknown_patent_type", "unknown patent type: 'plant variety'"),
    ("patents/2017_gbk.csv", 3): ("patents", "bad_grant_date", "grant date is not a date: '未授权'"),
    ("patents/2017_gbk.csv", 4): ("patents", "duplicate_row", "repeat of patents/2017_gbk.csv row 1"),
    ("patents/2017_gbk.csv", 5): ("patents", "malformed_row", "bytes not valid GB18030"),
    ("patents/2018_cn.csv", 3): ("patents", "malformed_row", "6 fields where the header has 8"),
    ("patents/2018_cn.csv", 4): ("patents", "duplicate_row", "repeat of patents/2018_cn.csv row 1"),
    ("patents/2018_cn.csv", 5): ("patents", "missing_application_no", "application number is empty"),
    ("patents/2018_cn.csv", 6): ("patents", "bad_application_date", "application date is not a date: '2018-02-30'"),
    ("patents/2018_cn.csv", 7): ("patents", "bad_grant_date", "grant date 2017-01-01 before application date 2018-06-01"),
    ("patents/2018_cn.csv", 8): ("patents", "unknown_patent_type", "unknown patent type: '植物新品种'"),
    ("patents/2018_cn.csv", 11): ("patents", "malformed_row", "empty line"),
    ("patents/2018_cn.csv", 12): ("patents", "bad_application_date", "application date year 1980 outside 1985-2030"),
    ("patents/2018_cn.csv", 13): ("patents", "missing_application_no",
                                  "check digit 8 does not match the computed 7: '201810777777.8'"),
    ("patents/2018_cn.csv", 15): ("patents", "bad_grant_date", "grant date year 2031 outside 1985-2030"),
    ("patents/2019_en.csv", 3): ("patents", "malformed_row", "unbalanced double quote"),
    ("patents/2019_en.csv", 5): ("patents", "duplicate_row", "repeat of patents/2018_cn.csv row 2"),  # other file
    ("patents/2019_en.csv", 6): ("patents", "malformed_row", "9 fields where the header has 8"),
    ("transfers/2019.csv", 3): ("transfers", "missing_owners", "owners before are empty"),
    ("transfers/2019.csv", 4): ("transfers", "bad_effective_date", "effective date is not a date: '2019-13-01'"),
    ("transfers/2019.csv", 5): ("transfers", "missing_application_no", "application number is empty"),
    ("transfers/2019.csv", 6): ("transfers", "duplicate_row", "repeat of transfers/2019.csv row 1"),
    ("transfers/2019.csv", 7): ("transfers", "malformed_row", "3 fields where the header has 5"),
    ("transfers/2019.csv", 8): ("transfers", "missing_owners", "owners after are empty"),
    ("transfers/2020_en.csv", 3): ("transfers", "bad_effective_date", "effective date year 1984 outside 1985-2030"),
}
ROWS_IN = {"patents/2015.xlsx": 5, "patents/2016.parquet": 4, "patents/2017_gbk.csv": 5, "patents/2018_cn.csv": 15,
           "patents/2019_en.csv": 6, "transfers/2019.csv": 8, "transfers/2020_en.csv": 3}


def csv_lines(rel: str) -> list[str]:
    """Data lines of a world CSV file as decoded text (header dropped)."""
    raw = (WORLD / rel).read_bytes()
    text = raw.decode("gb18030", errors="replace") if "gbk" in rel else raw.decode("utf-8-sig")
    return text.splitlines()[1:]


# ---------------------------------------------------------------- the ingest job

def test_accepted_rows_are_exactly_the_good_ones(first):
    got = {k: (r.application_no, r.application_date, r.grant_date, r.patent_type) for k, r in first.patents.items()}
    assert got == ACCEPTED_PATENTS
    assert all(r.year == r.application_date.year for r in first.patents.values())
    got = {k: (r.application_no, r.effective_date, r.owners_before, r.owners_after, r.current_owner_address)
           for k, r in first.transfers.items()}
    assert got == ACCEPTED_TRANSFERS
    # raw strings kept as written, quotes undone; a missing optional column is NULL
    quoted = first.patents[("patents/2018_cn.csv", 10)]
    assert quoted.applicants_raw == '北京理工大学;"华为"技术有限公司,深圳'
    assert quoted.ipc_raw == "H01L 31/042;H01L 31/0425"
    assert first.patents[("patents/2019_en.csv", 4)].patent_type_raw == "Invention "
    assert first.patents[("patents/2019_en.csv", 4)].application_no_raw == "201910100004.x"
    assert first.patents[("patents/2015.xlsx", 1)].publication_no is None
    assert first.patents[("patents/2017_gbk.csv", 1)].applicants_raw == "中国科学院广州能源研究所"
    # near duplicates (same number, other spelling) both stay, with different hashes
    a, b = first.patents[("patents/2018_cn.csv", 1)], first.patents[("patents/2018_cn.csv", 9)]
    assert a.application_no == b.application_no and a.record_hash != b.record_hash


def test_rejects_carry_reason_lineage_and_raw_record(first):
    got = {k: (r.kind, r.reason, r.detail) for k, r in first.rejects.items()}
    assert got == REJECTED
    assert {r.stage for r in first.rejects.values()} == {"ingest"}
    assert {r.reason for r in first.rejects.values()} == set(INGEST_REASONS["patents"]) | set(INGEST_REASONS["transfers"])
    for (rel, row), r in first.rejects.items():
        if rel.endswith(".csv"):
            assert r.raw_record == csv_lines(rel)[row - 1], (rel, row)
    assert first.rejects[("patents/2018_cn.csv", 13)].application_no_raw == "201810777777.8"
    assert '"application_no":null' in first.rejects[("patents/2016.parquet", 3)].raw_record
    assert '"_beyond_header": ["多余"]' in first.rejects[("patents/2015.xlsx", 5)].raw_record
    assert "\ufffd" in first.rejects[("patents/2017_gbk.csv", 5)].raw_record


def test_counts_reconcile_per_file_in_meta_runs(first):
    counts = first.run["counts"]
    assert first.run["status"] == "succeeded"
    for rel, n in ROWS_IN.items():
        rejected = sum(1 for (f, _) in REJECTED if f == rel)
        assert counts[f"{rel}:rows_in"] == n
        assert counts[f"{rel}:accepted"] == n - rejected
        assert counts[f"{rel}:rejected"] == rejected
        for reason in {v[1] for (f, _), v in REJECTED.items() if f == rel}:
            assert counts[f"{rel}:rejected.{reason}"] == sum(1 for (f, _), v in REJECTED.items()
                                                             if f == rel and v[1] == reason)
    for kind in ("patents", "transfers"):
        assert counts[f"{kind}.rows_in"] == counts[f"{kind}.accepted"] + counts[f"{kind}.rejected"]
        assert counts[f"{kind}.rejected"] == sum(counts[f"{kind}.rejected.{r}"] for r in INGEST_REASONS[kind])
    assert counts["patents.accepted"] == len(ACCEPTED_PATENTS) and counts["transfers.accepted"] == len(ACCEPTED_TRANSFERS)
    inputs = first.run["inputs"]
    assert inputs["file:patents/2017_gbk.csv"].startswith("csv;GB18030;588 bytes;sha256=")
    assert inputs["file:patents/2018_cn.csv"].startswith("csv;UTF-8-BOM;")
    assert inputs["patents.action"] == inputs["transfers.action"] == "written"
    assert counts == first.counts
    # delta-rs / DuckDB read these tables
    assert all(p[0] == 1 for p in first.protocols.values())


def without_timings(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if not k.startswith("phase_ms.")}


def test_reingest_of_the_same_files_is_a_noop(spark, world, first):
    with warehouse_at(spark, first.wh):
        counts = ingest(spark, world)
        assert versions(spark) == first.versions              # no new Delta version at all
        assert snapshot(spark) == first.tables
    assert counts["patents.skipped"] == counts["transfers.skipped"] == 1
    # the row counts of the run that wrote bronze (phase timings and the rows each run changed,
    # `rows.<table>.*`, are each run's own: this one changed none)
    assert all(v == 0 for k, v in counts.items() if k.startswith("rows."))
    assert ({k: v for k, v in counts.items() if not k.endswith(".skipped") and not k.startswith("rows.")}
            == {k: v for k, v in without_timings(first.counts).items() if not k.startswith("rows.")})
    assert not any(k.startswith("phase_ms.") for k in counts)


def test_changed_dump_is_reflected_exactly(spark, world, first, tmp_path):
    wh = tmp_path / "wh"
    shutil.copytree(first.wh, wh)
    changed = tmp_path / "world"
    shutil.copytree(world, changed)
    (changed / "patents" / "2019_en.csv").unlink()                         # a file removed
    path = changed / "patents" / "2018_cn.csv"                             # a row corrected
    path.write_bytes(path.read_bytes().replace(b"2018-02-30", b"2018-02-28"))
    (changed / "patents" / "2020.csv").write_text(                         # a new year
        "申请号,申请日,专利类型,IPC分类号,申请人\n202010000001.1,2020-01-01,发明,H01M 8/04,某大学\n", encoding="utf-8")
    with warehouse_at(spark, wh):
        classify = spark.createDataFrame(
            [("classify", "patents", "patents/2018_cn.csv", 14, "201810888888.5", "no_parseable_ipc", "", "{}", "r0")],
            REJECTS.schema)
        classify.write.format("delta").mode("append").save(tables.path(spark, REJECTS.name))
        before = versions(spark)
        counts = ingest(spark, changed)
        after = versions(spark)
        wrong_stage = classify.withColumn("stage", F.lit("ingest"))     # a classify reason under stage ingest
        with pytest.raises(Exception, match="(?i)constraint|check"):
            wrong_stage.write.format("delta").mode("append").save(tables.path(spark, REJECTS.name))
        patents = {(r.source_file, r.source_row): r.application_no for r in tables.read(spark, PATENTS_RAW.name).collect()}
        rejects = {(r.stage, r.source_file, r.source_row): r.reason for r in tables.read(spark, REJECTS.name).collect()}
    expected = {k: v[0] for k, v in ACCEPTED_PATENTS.items() if k[0] != "patents/2019_en.csv"}
    expected[("patents/2018_cn.csv", 6)] = "201810222222.6"
    expected[("patents/2020.csv", 1)] = "202010000001.1"
    assert patents == expected
    want = {("ingest", f, r): v[1] for (f, r), v in REJECTED.items()
            if f != "patents/2019_en.csv" and (f, r) != ("patents/2018_cn.csv", 6)}
    want[("classify", "patents/2018_cn.csv", 14)] = "no_parseable_ipc"                 # other stages' rows stay
    assert rejects == want
    assert counts["patents/2020.csv:accepted"] == 1 and "patents/2019_en.csv:rows_in" not in counts
    # transfers did not change: skipped, their table untouched
    assert counts["transfers.skipped"] == 1 and "patents.skipped" not in counts
    assert after[TRANSFERS_RAW.name] == before[TRANSFERS_RAW.name]
    assert after[PATENTS_RAW.name] > before[PATENTS_RAW.name]


def _next_month(world: Path, dest: Path) -> Path:
    """The world as next month's export: rows of a CSV reversed (so another copy of a repeated
    record comes first) with one of them corrected, the Parquet file's rows reversed."""
    shutil.copytree(world, dest)
    path = dest / "patents" / "2018_cn.csv"
    data = path.read_bytes()
    sep = b"\r\n" if b"\r\n" in data else b"\n"
    head, *rows = data.split(sep)
    rows = [r.replace(b"2018-02-30", b"2018-02-28") for r in rows if r][::-1]
    path.write_bytes(sep.join([head, *rows]) + sep)
    pq = dest / "patents" / "2016.parquet"
    pd.read_parquet(pq).iloc[::-1].to_parquet(pq, index=False)
    return dest


def _last_ingest(spark) -> dict:
    return tables.read(spark, RUNS.name).filter("job = 'ingest' AND event = 'end'").orderBy(F.col("at").desc()).first()


def test_next_month_reuses_unchanged_lines_and_equals_a_full_ingest(spark, world, first, tmp_path, monkeypatch):
    """A new full dump: lines ingested last month are recognised by their hash and not parsed
    again, and bronze ends exactly as a full ingest of the dump leaves it (duplicates included:
    the first copy of a repeated record is now another line). Changed rules: full again."""
    from greenlink.bronze import stage as ingest_stage

    nxt = _next_month(world, tmp_path / "next")
    with warehouse_at(spark, tmp_path / "full"):
        full = ingest(spark, nxt)
        expected = snapshot(spark)
    wh = tmp_path / "wh"
    shutil.copytree(first.wh, wh)
    with warehouse_at(spark, wh):
        counts = ingest(spark, nxt)
        assert snapshot(spark) == expected
        run = _last_ingest(spark)
        monkeypatch.setattr(ingest_stage, "rules_digest", lambda conf, logic: "other rules")
        back = ingest(spark, world)                                   # last month's dump again
        assert snapshot(spark) == first.tables
        rerun = _last_ingest(spark)
    assert run["inputs"]["mode"] == "incremental" and run["inputs"]["patents.mode"] == "incremental"
    assert "reused" in run["inputs"]["reason"]
    assert full["patents.lines_reused"] == 0
    # a file that did not change: every accepted line reused; a reordered one too, plus row 4, a
    # byte-identical repeat of row 1 (its line is known; it is then a duplicate again); the
    # corrected row is parsed (and accepted now)
    assert counts["patents/2019_en.csv:lines_reused"] == first.counts["patents/2019_en.csv:accepted"]
    assert counts["patents/2016.parquet:lines_reused"] == first.counts["patents/2016.parquet:accepted"]
    assert counts["patents/2018_cn.csv:lines_reused"] == first.counts["patents/2018_cn.csv:accepted"] + 1
    assert counts["patents/2018_cn.csv:accepted"] == first.counts["patents/2018_cn.csv:accepted"] + 1
    assert counts["transfers.skipped"] == 1                          # unchanged files: skipped as before

    def same(c: dict) -> dict:                                        # what both ingests must count alike
        return {k: v for k, v in without_timings(c).items()
                if not k.startswith("rows.") and "lines_reused" not in k and not k.endswith(".skipped")}

    assert same(counts) == same(full)
    assert rerun["inputs"]["patents.mode"] == "full" and "rules changed" in rerun["inputs"]["reason"]
    assert back["patents.lines_reused"] == 0


def test_kind_without_rejects_is_skipped_on_reingest(spark, world, first, tmp_path):
    """Delta records no commit for replacing zero rejects with zero: the skip must not need one."""
    wh = tmp_path / "wh"
    shutil.copytree(first.wh, wh)
    clean = tmp_path / "world"
    shutil.copytree(world, clean)
    for f in (clean / "transfers").iterdir():
        f.unlink()
    (clean / "transfers" / "t.csv").write_text("申请号,变更生效日,变更前权利人,变更后权利人\n"
                                              "201810123456.5,2019-05-01,北京大学,某公司\n", encoding="utf-8")
    with warehouse_at(spark, wh):
        written = ingest(spark, clean)
        before = versions(spark)
        again = ingest(spark, clean)
        assert versions(spark) == before
        assert tables.read(spark, REJECTS.name).filter("kind = 'transfers'").count() == 0
    assert written["transfers.rejected"] == 0 and "transfers.skipped" not in written
    assert again["transfers.skipped"] == again["patents.skipped"] == 1


# ---------------------------------------------------------------- one-line user errors

def _cli_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2                      # UserError: one line on stderr, status 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def _cli_file_errors(capsys, argv: list[str]) -> list[str]:
    """Refused files: one line per file (`<file>: <reason>: <detail>`), then one line saying
    how many and what to do; status 2 (docs/ingest.md, "File checks")."""
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().split("\n")
    assert "Traceback" not in "".join(lines)
    assert re.match(r"greenlink ingest: \d+ of \d+ input files (is|are) unusable \(listed above\); nothing was "
                    r"ingested\. Fix or remove them, or rerun with --quarantine-bad-files", lines[-1]), lines[-1]
    return lines[:-1]


def test_user_errors_are_one_line(capsys, tmp_path, world, monkeypatch):
    # only this stage's command: the others may not be importable while they are being written
    monkeypatch.setattr(cli, "COMMANDS", {"ingest": cli.COMMANDS["ingest"]})
    assert _cli_error(capsys, ["ingest"]) == "greenlink ingest: --input DIR is required (a folder with patents/ and transfers/)"
    assert _cli_error(capsys, ["ingest", "--input", str(tmp_path / "nope")]) == \
        f"greenlink ingest: input folder not found: {tmp_path / 'nope'}"
    w = tmp_path / "w"
    (w / "patents").mkdir(parents=True)
    (w / "transfers").mkdir()
    (w / "patents" / "_SUCCESS").write_text("")                            # not data: ignored
    assert _cli_error(capsys, ["ingest", "--input", str(w)]) == \
        f"greenlink ingest: no files found in {w.resolve() / 'patents'} (expected .csv, .parquet or .xlsx)"
    shutil.rmtree(w)
    shutil.copytree(world, w)
    (w / "patents" / "notes.txt").write_text("x")
    assert _cli_file_errors(capsys, ["ingest", "--input", str(w)]) == \
        ["greenlink ingest: patents/notes.txt: unknown_format: unknown file format '.txt' "
         "(expected .csv, .parquet or .xlsx)"]
    (w / "patents" / "notes.txt").unlink()
    (w / "patents" / "u16.csv").write_text("申请号,申请日\n", encoding="utf-16")
    assert _cli_file_errors(capsys, ["ingest", "--input", str(w)]) == \
        ["greenlink ingest: patents/u16.csv: unsupported_encoding: UTF-16 text is not supported; "
         "save the file as UTF-8 or GBK CSV"]
    (w / "patents" / "u16.csv").unlink()
    (w / "patents" / "x.parquet").write_bytes(b"not parquet")
    [err] = _cli_file_errors(capsys, ["ingest", "--input", str(w)])
    assert err.startswith("greenlink ingest: patents/x.parquet: unreadable_parquet: not a readable Parquet file (")
    (w / "patents" / "x.parquet").unlink()
    (w / "transfers" / "2021.csv").write_text("申请号,变更生效日,转让人\n1,2,3\n", encoding="utf-8")
    [err] = _cli_file_errors(capsys, ["ingest", "--input", str(w)])
    assert err.startswith("greenlink ingest: transfers/2021.csv: missing_columns: missing required column "
                          "'owners_after' (one of: ")
    assert err.endswith("; the file has: 申请号, 变更生效日, 转让人")


def test_failed_run_is_recorded(spark, first, tmp_path):
    w = tmp_path / "w"
    (w / "patents").mkdir(parents=True)
    (w / "transfers").mkdir()
    (w / "patents" / "a.xls").write_text("x")
    (w / "transfers" / "t.csv").write_text("申请号,变更生效日,变更前权利人,变更后权利人\n", encoding="utf-8")
    with warehouse_at(spark, first.wh):
        with pytest.raises(UserError, match=r"^patents/a.xls: unknown_format: unknown file format '.xls'"):
            ingest(spark, w)
        failed = tables.read(spark, RUNS.name).filter("job = 'ingest' AND status = 'failed'").collect()
    assert len(failed) == 1 and failed[0]["message"].startswith(
        "BadFiles: patents/a.xls: unknown_format: unknown file format")


