"""A dump with bad files and bad rows (issue 15), generated here: every refused file named in
one run with its reason (strict: the run fails, nothing written; quarantine: the rest is
ingested, the refused files go to bronze.file_rejects and `_meta.runs`), every row's
outcome, counts that reconcile, a detail on every reject, no raw control byte anywhere (every stage of the shared pipeline run:
tests/integration/test_bad_dump_world.py)."""
from __future__ import annotations

import hashlib
import io
import os
import random
import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from greenlink.bronze.filechecks import BadFiles, binary_problem, check_input
from greenlink.bronze.stage import ingest
from greenlink.bronze.layout import load_conf
from greenlink.bronze.tables import FILE_REASONS, FILE_REJECTS, PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.core.printable import printable
from greenlink.core.runs import RUNS
from greenlink.ops import cli

ESC = "\x1b"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PATENT_HEADER = "申请号,申请日,专利类型,IPC分类号,申请人,申请人地址"
LONG_NO = "9" * 400
LONG_DETAIL = f"not an application number: '{LONG_NO}'"

# (row): (line, expected outcome: "accepted" or (reason, detail))
GOOD_PATENT_ROWS = {
    1: ("201810123456.5,2018-03-05,发明,H01M 8/04,北京大学,北京市海淀区", "accepted"),
    2: ("201820234567.9,2018-04-01,实用新型,H01L,清华大学,北京市海淀区", "accepted"),  # subclass alone
    3: (f"201810555555.0,2018-09-01,{ESC}[31m发明,H01M 8/04,某公司,北京市",
        ("unknown_patent_type", "unknown patent type: '\\x1b[31m发明'")),
    4: (f"{LONG_NO},2018-09-01,发明,H01M 8/04,某公司,北京市",
        ("missing_application_no", f"{LONG_DETAIL[:200]}… [{len(LONG_DETAIL)} characters]")),
    5: ("201810666666.9,2018-02-30,发明,H01M 8/04,某公司,北京市",
        ("bad_application_date", "application date is not a date: '2018-02-30'")),
    6: ("201810123456.5,2018-03-05,发明", ("malformed_row", "3 fields where the header has 6")),
    7: ("201810123456.5,2018-03-05,发明,H01M 8/04,北京大学,北京市海淀区",
        ("duplicate_row", "repeat of patents/good.csv row 1")),
    8: ("201810777770.5,2018-05-05,发明,xyz,某公司,北京市", "accepted"),     # classify: no_parseable_ipc
    9: ("201810888880.9,2018-06-06,发明,H01M 8/04,;,北京市", "accepted"),     # classify: no_applicant
}
PARQUET_ROWS = pd.DataFrame({
    "application_no": ["201910100001.6", None], "application_date": ["2019-01-02", "2019-01-03"],
    "patent_type": ["invention", "invention"], "ipc": ["F03D 1/06", "F03D 1/06"],
    "applicants": ["上海交通大学", "某公司"], "applicant_address": ["上海市", "上海市"]})
GOOD_PARQUET = {1: "accepted", 2: ("missing_application_no", "application number is empty")}
TRANSFER_ROWS = {
    1: ("201810123456.5,2019-05-01,北京大学,北京某公司", "accepted"),
    2: ("201810123456.5,2019-13-01,北京大学,北京某公司", ("bad_effective_date", "effective date is not a date: '2019-13-01'")),
    3: (f"201810123456.5,2019-05-02,北京大学,{ESC}]0;owned{chr(7)}",  "accepted"),
}
# file -> reason of every file the checks must refuse
BAD_FILES = {
    "patents/notes.txt": "unknown_format",
    f"patents/evil{ESC}[2J.txt": "unknown_format",
    "patents/empty.csv": "empty_file",
    "patents/blank.csv": "empty_file",
    "patents/garbage.csv": "not_text",
    "patents/u16.csv": "unsupported_encoding",
    "patents/escape_header.csv": "missing_columns",
    "patents/truncated.parquet": "unreadable_parquet",
    "patents/fake.xlsx": "unreadable_xlsx",
    "transfers/wrong.parquet": "missing_columns",
}
GOOD_FILES = ("patents/good.csv", "patents/good.parquet", "transfers/good.csv")


def build_dump(dest: Path) -> Path:
    (dest / "patents").mkdir(parents=True)
    (dest / "transfers").mkdir()
    p, t = dest / "patents", dest / "transfers"
    (p / "good.csv").write_text("\n".join([PATENT_HEADER, *[v[0] for v in GOOD_PATENT_ROWS.values()]]) + "\n",
                                encoding="utf-8")
    PARQUET_ROWS.to_parquet(p / "good.parquet", index=False)
    (t / "good.csv").write_text("申请号,变更生效日,变更前权利人,变更后权利人\n"
                                + "\n".join(v[0] for v in TRANSFER_ROWS.values()) + "\n", encoding="utf-8")
    (p / "notes.txt").write_text("a note\n")
    (p / f"evil{ESC}[2J.txt").write_text("x")
    (p / "empty.csv").write_bytes(b"")
    (p / "blank.csv").write_bytes(b"\xef\xbb\xbf\r\n \n\n")
    (p / "garbage.csv").write_bytes(random.Random(15).randbytes(3000))
    (p / "u16.csv").write_text(PATENT_HEADER + "\n", encoding="utf-16")
    # a header whose applicant column is hidden behind an ANSI escape, plus rows (still text)
    (p / "escape_header.csv").write_text(
        f"申请号,申请日,专利类型,IPC分类号,{ESC}[31m申请者{ESC}[0m\n"
        + "201810123456.5,2018-03-05,发明,H01M 8/04,北京大学\n" * 8, encoding="utf-8")
    buf = io.BytesIO()
    PARQUET_ROWS.to_parquet(buf, index=False)
    (p / "truncated.parquet").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (p / "fake.xlsx").write_text("this is not a workbook")
    pd.DataFrame({"application_no": ["201810123456.5"], "when": ["2019-01-01"]}).to_parquet(
        t / "wrong.parquet", index=False)
    return dest


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    return build_dump(tmp_path_factory.mktemp("bad") / "dump")


def expected_rows() -> dict[tuple[str, int], object]:
    out = {("patents/good.csv", r): v[1] for r, v in GOOD_PATENT_ROWS.items()}
    out.update({("patents/good.parquet", r): v for r, v in GOOD_PARQUET.items()})
    out.update({("transfers/good.csv", r): v[1] for r, v in TRANSFER_ROWS.items()})
    return out


# ---------------------------------------------------------------- the file checks alone (no Spark)

def test_file_checks_name_every_bad_file_in_one_pass(dump):
    check = check_input(dump, load_conf())
    assert {r.relpath: r.reason for r in check.rejects} == BAD_FILES
    assert sorted(f.relpath for k in check.files for f in check.files[k]) == sorted(GOOD_FILES)
    assert check.checked == len(BAD_FILES) + len(GOOD_FILES)
    for r in check.rejects:
        data = (dump / r.relpath).read_bytes()
        assert r.size == len(data) and r.sha256 == hashlib.sha256(data).hexdigest()
        assert r.detail and not CONTROL.search(r.detail) and not CONTROL.search(r.line())
        assert set(FILE_REASONS) >= {r.reason}
    by = {r.relpath: r for r in check.rejects}
    assert by["patents/empty.csv"].detail == "the file is empty (0 bytes)"
    assert by["patents/blank.csv"].detail == "the file holds only blank lines (8 bytes)"
    assert by["patents/u16.csv"].detail == "UTF-16 text is not supported; save the file as UTF-8 or GBK CSV"
    assert by["patents/garbage.csv"].detail.startswith("binary content (a NUL byte at offset ")
    assert by["patents/notes.txt"].detail == "unknown file format '.txt' (expected .csv, .parquet or .xlsx)"
    assert by["patents/escape_header.csv"].detail.startswith("missing required column 'applicants' (one of: ")
    assert by["patents/escape_header.csv"].detail.endswith("the file has: 申请号, 申请日, 专利类型, IPC分类号, "
                                                           "\\x1b[31m申请者\\x1b[0m")
    assert by["patents/truncated.parquet"].detail.startswith("not a readable Parquet file (")
    assert by["patents/fake.xlsx"].detail.startswith("not a readable .xlsx workbook (")
    assert by["transfers/wrong.parquet"].detail.startswith("missing required column 'effective_date'")
    assert by[f"patents/evil{ESC}[2J.txt"].line() == "patents/evil\\x1b[2J.txt: unknown_format: " \
        "unknown file format '.txt' (expected .csv, .parquet or .xlsx)"
    # the cheap pass (before Spark) finds the same files, without streaming them
    quick = check_input(dump, load_conf(), full=False)
    assert {r.relpath: r.reason for r in quick.rejects} == BAD_FILES
    assert all(r.sha256 is None for r in quick.rejects) and all(f.sha256 is None for f in quick.files["patents"])


def test_binary_and_size_rules(tmp_path):
    assert binary_problem("申请号,申请日\n1,2\n".encode("gbk")) is None
    assert binary_problem(b"a,b\n" + bytes(range(1, 9)) * 4) .startswith("binary content (32 of the first 36 bytes")
    assert binary_problem(b"a,b\x1b[1m,c\n" + b"1,2,3\n" * 20) is None        # one escape in text: text
    conf = load_conf()
    (tmp_path / "patents").mkdir()
    (tmp_path / "transfers").mkdir()
    (tmp_path / "patents" / "big.xlsx").write_bytes(b"x" * 100)
    (tmp_path / "transfers" / "t.csv").write_text("申请号,变更生效日,变更前权利人,变更后权利人\n", encoding="utf-8")
    check = check_input(tmp_path, replace(conf, xlsx_max_bytes=10))
    assert [(r.relpath, r.reason) for r in check.rejects] == [("patents/big.xlsx", "file_too_large")]
    assert check.rejects[0].detail.startswith("100 bytes is too big for the driver-side Excel reader (limit 10,")
    if os.geteuid() != 0:                      # root reads any file
        locked = tmp_path / "transfers" / "locked.csv"
        locked.write_text("x")
        locked.chmod(0)
        try:
            check = check_input(tmp_path, conf)
        finally:
            locked.chmod(0o644)
        assert ("transfers/locked.csv", "unreadable_file") in [(r.relpath, r.reason) for r in check.rejects]


def test_printable_escapes_and_cuts():
    assert printable(f"a{ESC}[2Jb\u202e\x00\u3000中") == "a\\x1b[2Jb\\u202e\\x00\u3000中"
    assert printable("x" * 250) == "x" * 200 + "… [250 characters]"
    assert printable(b"\xff\x1b") == "\xff\\x1b"
    assert printable("line\nnext", None) == "line\\x0anext"


def test_printable_column_is_printable_in_spark(spark):
    from pyspark.sql import functions as F

    from greenlink.core.printable import printable_column

    values = [f"a{ESC}[2Jb", "\u202e\x00\x7f\x85\u3000中\ue000", "😀\x1b😀", "\U000e0001x", "plain 中文",
              "\x1b" + "y" * 300, "z" * 201, "", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = [r[0] for r in df.select(printable_column(F.col("v"))).collect()]
    assert got == [None if v is None else printable(v) for v in values]


def test_subclass_alone_is_a_valid_symbol_at_a_coarser_level(spark):
    from pyspark.sql import functions as F

    from greenlink.reference.ipc import parse_ipc
    from greenlink.silver.ipc_columns import symbol_level_column

    assert [parse_ipc(s).level for s in ("H01L", "B61", "H01L 31/042")] == ["subclass", "class", "group"]
    df = spark.createDataFrame([("H01L",), ("B61",), ("H01L 31/042",), (None,)], "s string")
    assert [r[0] for r in df.select(symbol_level_column(F.col("s"))).collect()] == ["subclass", "class", "group", None]


# ---------------------------------------------------------------- strict: fail, name all, write nothing

def test_strict_cli_lists_every_bad_file_before_spark(dump, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", {"ingest": cli.COMMANDS["ingest"]})
    assert cli.main(["ingest", "--input", str(dump), "--warehouse", str(tmp_path / "wh")]) == 2
    err = capsys.readouterr().err
    assert not CONTROL.search(err) and "Traceback" not in err
    lines = err.strip().split("\n")
    assert all(line.startswith("greenlink ingest: ") for line in lines)
    named = [line.removeprefix("greenlink ingest: ").split(": ")[:2] for line in lines[:-1]]
    assert {printable(f): r for f, r in BAD_FILES.items()} == dict(named) and len(named) == len(BAD_FILES)
    assert lines[-1] == (f"greenlink ingest: {len(BAD_FILES)} of {len(BAD_FILES) + len(GOOD_FILES)} input files "
                         "are unusable (listed above); nothing was ingested. Fix or remove them, or rerun with "
                         f"--quarantine-bad-files to ingest the other {len(GOOD_FILES)} and record these in "
                         "bronze.file_rejects")
    assert not (tmp_path / "wh" / "bronze").exists()


def test_strict_run_fails_records_why_and_writes_no_bronze(spark, dump, fresh_warehouse):
    with pytest.raises(BadFiles) as err:
        ingest(spark, dump)
    assert len(str(err.value).split("\n")) == len(BAD_FILES) + 1
    run = tables.read(spark, RUNS.name).where("job = 'ingest' AND event = 'end'").first()
    assert run["status"] == "failed" and run["message"].startswith("BadFiles: patents/")
    assert not CONTROL.search(run["message"])
    assert run["inputs"]["dump"] == "refused"
    assert {k.removeprefix("rejected_file:") for k in run["inputs"] if k.startswith("rejected_file:")} == set(BAD_FILES)
    assert run["counts"]["files.rejected"] == len(BAD_FILES)
    assert run["counts"]["files.checked"] == run["counts"]["files.accepted"] + run["counts"]["files.rejected"]
    assert not any(tables.exists(spark, n) for n in (FILE_REJECTS.name, PATENTS_RAW.name, REJECTS.name))


# ---------------------------------------------------------------- quarantine: ingest the rest, say so

@pytest.fixture(scope="module")
def quarantined(spark, dump, tmp_path_factory, use_warehouse):
    """`greenlink run --stages ingest,classify --quarantine-bad-files` on the dump, then the
    same dump with the bad files removed (strict mode)."""
    from greenlink.ops.diff import diff_table, render
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    wh = tmp_path_factory.mktemp("quarantine") / "warehouse"
    args = PipelineConfig(reports=str(wh.parent / "reports"), input=str(dump), quarantine_bad_files=True)
    with use_warehouse(wh):
        parent = run_stages(spark, ["ingest", "classify"], args)
        runs = {r["job"]: r.asDict() for r in tables.read(spark, RUNS.name).where("event = 'end'").collect()}
        out = SimpleNamespace(
            parent=parent, runs=runs,
            file_rejects={r["file"]: r.asDict() for r in tables.read(spark, FILE_REJECTS.name).collect()},
            patents={(r.source_file, r.source_row) for r in tables.read(spark, PATENTS_RAW.name).collect()},
            transfers={(r.source_file, r.source_row) for r in tables.read(spark, TRANSFERS_RAW.name).collect()},
            rejects=[r.asDict() for r in tables.read(spark, REJECTS.name).collect()])
        partial_version = tables.latest_version(spark, PATENTS_RAW.name)
        clean = wh.parent / "clean"
        shutil.copytree(dump, clean)
        for rel in BAD_FILES:
            (clean / rel).unlink()
        out.clean_counts = ingest(spark, clean)
        out.clean_rejects = tables.read(spark, FILE_REJECTS.name).count()
        out.clean_run = tables.read(spark, RUNS.name).where("job = 'ingest' AND event = 'end'").orderBy(
            "at", ascending=False).first().asDict()
        out.diff = diff_table(spark, PATENTS_RAW.name, partial_version)
        out.diff_text = render(out.diff)
    return out


def test_quarantine_records_every_bad_file(quarantined, dump):
    got = quarantined.file_rejects
    assert {f: r["reason"] for f, r in got.items()} == BAD_FILES
    ingest_run = quarantined.runs["ingest"]
    for f, r in got.items():
        data = (dump / f).read_bytes()
        assert (r["size"], r["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert r["detail"] and not CONTROL.search(r["detail"]) and r["run_id"] == ingest_run["run_id"]
        assert ingest_run["inputs"][f"rejected_file:{f}"].startswith(f"{r['reason']};{len(data)} bytes;sha256=")
    counts = ingest_run["counts"]
    assert ingest_run["status"] == "succeeded" and ingest_run["inputs"]["dump"] == "partial"
    assert counts["files.checked"] == len(BAD_FILES) + len(GOOD_FILES)
    assert counts["files.accepted"] == len(GOOD_FILES) and counts["files.rejected"] == len(BAD_FILES)
    assert counts["files.rejected"] == sum(counts[f"files.rejected.{r}"] for r in FILE_REASONS)
    for reason in set(BAD_FILES.values()):
        assert counts[f"files.rejected.{reason}"] == sum(1 for v in BAD_FILES.values() if v == reason)
    # the parent `run` record and the stage built on bronze say the dump was partial
    assert quarantined.runs["run"]["inputs"]["dump"] == "partial"
    assert quarantined.runs["run"]["inputs"]["files_rejected"] == str(len(BAD_FILES))
    assert quarantined.runs["classify"]["inputs"]["dump"] == "partial"


def test_quarantine_rows_have_their_expected_outcome_and_reconcile(quarantined):
    ingest_rejects = {(r["source_file"], r["source_row"]): (r["reason"], r["detail"])
                      for r in quarantined.rejects if r["stage"] == "ingest"}
    accepted = quarantined.patents | quarantined.transfers
    for key, want in expected_rows().items():
        if want == "accepted":
            assert key in accepted and key not in ingest_rejects, key
        else:
            assert ingest_rejects.get(key) == want, key
    assert set(ingest_rejects) | accepted == set(expected_rows())
    counts = quarantined.runs["ingest"]["counts"]
    for f in GOOD_FILES:
        rows = [k for k in expected_rows() if k[0] == f]
        bad = [k for k in rows if expected_rows()[k] != "accepted"]
        assert (counts[f"{f}:rows_in"], counts[f"{f}:accepted"], counts[f"{f}:rejected"]) == \
            (len(rows), len(rows) - len(bad), len(bad)), f
    for kind in ("patents", "transfers"):
        assert counts[f"{kind}.rows_in"] == counts[f"{kind}.accepted"] + counts[f"{kind}.rejected"]


def test_every_reject_has_a_printable_detail(quarantined):
    assert quarantined.rejects
    for r in quarantined.rejects:
        assert r["reason"] and r["detail"] and not CONTROL.search(r["detail"]), r
    classify = {(r["source_file"], r["source_row"]): (r["reason"], r["detail"])
                for r in quarantined.rejects if r["stage"] == "classify"}
    assert classify == {("patents/good.csv", 8): ("no_parseable_ipc", "no valid IPC symbol in 'xyz'"),
                        ("patents/good.csv", 9): ("no_applicant", "no applicant name in ';'")}
    # a subclass alone as main IPC is kept and flagged in the classify counts
    assert quarantined.runs["classify"]["counts"]["patents.main_ipc_without_group"] == 1


def test_removing_the_bad_files_gives_a_complete_dump(quarantined):
    assert quarantined.clean_rejects == 0
    assert quarantined.clean_run["inputs"]["dump"] == "complete"
    # the good files did not change, but bronze was built while files were quarantined: rewritten
    assert quarantined.clean_run["inputs"]["patents.action"] == "written"
    assert quarantined.clean_run["inputs"]["transfers.action"] == "written"
    assert quarantined.clean_counts["files.rejected"] == 0
    # `greenlink diff` says which side was built from a partial dump
    assert quarantined.diff.dumps == (f"partial dump ({len(BAD_FILES)} input files refused, bronze.file_rejects)",
                                      "complete dump")
    assert (f"  built from: partial dump ({len(BAD_FILES)} input files refused, bronze.file_rejects) -> "
            "complete dump") in quarantined.diff_text.split("\n")


def test_no_usable_file_left_is_a_user_error(spark, tmp_path, fresh_warehouse):
    d = tmp_path / "d"
    (d / "patents").mkdir(parents=True)
    (d / "transfers").mkdir()
    (d / "patents" / "empty.csv").write_bytes(b"")
    (d / "transfers" / "t.csv").write_text("申请号,变更生效日,变更前权利人,变更后权利人\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^no usable file left in patents/ \(1 files refused: patents/empty.csv: "
                                        r"empty_file: the file is empty \(0 bytes\)\); nothing was ingested$"):
        ingest(spark, d, quarantine=True)
    assert not tables.exists(spark, FILE_REJECTS.name)
