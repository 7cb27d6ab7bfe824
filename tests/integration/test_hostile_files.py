"""Hostile files in a dump (issue 26, item 4), each built here from a small valid dump: an .xlsx
zip bomb (declared sizes honest, and one whose declared sizes lie), symbolic links out of the
dump (a file and a folder) and in a loop, names with control characters, a `..` component or
bytes that are not UTF-8, and files that grow or vanish while they are read (by the file checks
or by Spark). Each is refused with its reason code (strict mode names them all in one error,
quarantine records them in bronze.file_rejects), the counts reconcile, no byte from outside the
dump is read, and checking the zip bomb keeps the peak RSS of a fresh process small."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from greenlink.bronze import filechecks, readers
from greenlink.bronze.excel import zip_problem
from greenlink.bronze.filechecks import BadFiles, check_input
from greenlink.bronze.stage import ingest
from greenlink.bronze.layout import FileProblem, load_conf
from greenlink.bronze.tables import FILE_REASONS, FILE_REJECTS, PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import tables
from greenlink.core.runs import RUNS

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
HEADER = "申请号,申请日,专利类型,IPC分类号,申请人,申请人地址"
GOOD_ROWS = ["201810123456.5,2018-03-05,发明,H01M 8/04,北京大学,北京市海淀区",
             "201820234567.9,2018-04-01,实用新型,H01L,清华大学,北京市海淀区",
             "201810666666.9,2018-02-30,发明,H01M 8/04,某公司,北京市"]          # bad_application_date
EXTRA_ROW = "201910100001.6,2019-01-02,发明,F03D 1/06,上海交通大学,上海市"
XLSX_ROWS = [["201510700001.1", "2015-07-01", "发明", "H01M 8/04", "浙江大学", "杭州市"],
             ["201520700002.1", "2015-07-02", "实用新型", "F03D", "某公司", "杭州市"]]
SECRET = "SECRET_OUTSIDE_THE_DUMP"
SECRET_NO = "201899999999"           # an application number only the file outside the dump holds
SHEET = "xl/worksheets/sheet1.xml"
BOMB_BYTES = 2 << 30                 # what the bomb's sheet unpacks to: 2 GiB (2 MB on disk)
SMALL_BOMB_BYTES = 64 << 20          # the bomb of the dumps ingested in this process (a regression
                                     # must not take the machine's memory): refused by its ratio
LIAR_BYTES = 64 << 20                # what the lying entry really unpacks to
LIAR_DECLARED = 4096                 # ... and what it declares
RSS_BOUND_MIB = 250                  # peak RSS of a fresh process checking the bomb dump
TRANSFERS = "申请号,变更生效日,变更前权利人,变更后权利人\n201810123456.5,2019-05-01,北京大学,北京某公司\n"

# relpath as stored in bronze.file_rejects -> reason, for the refusals of the file checks
CHECK_REFUSED = {
    "patents/bad\\x0aname.csv": "unsafe_file_name",
    "patents/..\\evil.csv": "unsafe_file_name",
    "patents/\\udcff.csv": "unsafe_file_name",
    "patents/bidi\\u202ecsv.csv": "unsafe_file_name",
    "patents/bomb.xlsx": "zip_bomb",
    "patents/grows.csv": "file_changed_during_read",
    "patents/liar.xlsx": "zip_bomb",
    "patents/loop": "symlink_loop",
    "patents/outdir": "symlink_outside_dump",
    "patents/outside.csv": "symlink_outside_dump",
    "patents/self": "symlink_loop",
    "patents/vanishes.csv": "file_vanished",
    "transfers/outside.csv": "symlink_outside_dump",
}
# files that change after the checks passed them, while Spark reads the kind
SPARK_REFUSED = {"patents/late_grows.csv": "file_changed_during_read",
                 "patents/late_vanishes.csv": "file_vanished"}
ACCEPTED = {"patents/good.csv": 3, "patents/good.xlsx": 2, "patents/more/extra.csv": 1, "patents/sub/sub.csv": 1,
            "transfers/good.csv": 1}
# symbolic links inside the dump to a file read under another name: read once, under that name
ALIASES = {"patents/alias.csv": "patents/good.csv", "patents/subl/sub.csv": "patents/sub/sub.csv"}


# ---------------------------------------------------------------- building the dumps

def _csv(path: Path, rows: list[str]) -> None:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def _xlsx_bytes(dest: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    for row in XLSX_ROWS:
        ws.append(row)
    wb.save(dest)


def _bomb(dest: Path, template: Path, unpacked: int, lie: int | None = None) -> None:
    """A workbook whose first sheet's header cell is `unpacked` bytes of 'A' (written with
    zipfile streaming, compressed ~1000:1); `lie`: patch the sheet's declared unpacked size."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
    tail = b"</t></is></c></row></sheetData></worksheet>"
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename != SHEET:
                z.writestr(info.filename, src.read(info))
        with z.open(SHEET, "w", force_zip64=unpacked >= 1 << 31) as f:
            f.write(head)
            chunk = b"A" * (1 << 20)
            for _ in range(unpacked >> 20):
                f.write(chunk)
            f.write(tail)
    if lie is not None:                  # local header (+22) and central directory entry (+24)
        data = bytearray(dest.read_bytes())
        offset = zipfile.ZipFile(dest).getinfo(SHEET).header_offset
        data[offset + 22:offset + 26] = lie.to_bytes(4, "little")
        central = data.rfind(b"PK\x01\x02", 0, len(data))
        while data[central + 46:central + 46 + len(SHEET)] != SHEET.encode():
            central = data.rfind(b"PK\x01\x02", 0, central)
        data[central + 24:central + 28] = lie.to_bytes(4, "little")
        dest.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> Path:
    """good.xlsx, bomb.xlsx (2 GiB declared), small_bomb.xlsx (64 MiB) and liar.xlsx, built once."""
    d = tmp_path_factory.mktemp("workbooks")
    _xlsx_bytes(d / "good.xlsx")
    t = time.monotonic()
    _bomb(d / "bomb.xlsx", d / "good.xlsx", BOMB_BYTES)
    _bomb(d / "small_bomb.xlsx", d / "good.xlsx", SMALL_BOMB_BYTES)
    _bomb(d / "liar.xlsx", d / "good.xlsx", LIAR_BYTES, lie=LIAR_DECLARED)
    print(f"zip bombs built in {time.monotonic() - t:.1f}s: bomb.xlsx {(d / 'bomb.xlsx').stat().st_size:,} bytes "
          f"-> {BOMB_BYTES:,}, liar.xlsx {(d / 'liar.xlsx').stat().st_size:,} bytes", file=sys.stderr)
    return d


def valid_dump(dest: Path, workbooks: Path) -> Path:
    (dest / "patents").mkdir(parents=True)
    (dest / "transfers").mkdir()
    _csv(dest / "patents" / "good.csv", GOOD_ROWS)
    shutil.copy(workbooks / "good.xlsx", dest / "patents" / "good.xlsx")
    (dest / "transfers" / "good.csv").write_text(TRANSFERS, encoding="utf-8")
    return dest


def outside(base: Path) -> Path:
    """A folder next to the dump holding a valid patents file no ingest may read."""
    secret = base / "secret"
    secret.mkdir(exist_ok=True)
    _csv(secret / "secret.csv", [f"{SECRET_NO}.{i},2018-03-05,发明,H01M 8/04,{SECRET},北京市" for i in range(10)])
    return secret


def hostile_dump(base: Path, workbooks: Path, late: bool = False) -> Path:
    """The valid dump plus every hostile file of CHECK_REFUSED (and SPARK_REFUSED's files when `late`)."""
    dump = valid_dump(base / "dump", workbooks)
    secret = outside(base)
    p = dump / "patents"
    # symbolic links out of the dump: a file, a folder, and one in transfers/
    (p / "outside.csv").symlink_to(secret / "secret.csv")
    (p / "outdir").symlink_to(secret, target_is_directory=True)
    (dump / "transfers" / "outside.csv").symlink_to(secret / "secret.csv")
    # symbolic links inside the dump: a file (read under its own name), a folder (walked), a loop
    (p / "alias.csv").symlink_to("good.csv")
    (dump / "extra").mkdir()
    _csv(dump / "extra" / "extra.csv", [EXTRA_ROW])
    (p / "more").symlink_to("../extra", target_is_directory=True)
    (p / "sub").mkdir()
    _csv(p / "sub" / "sub.csv", ["201910100002.4,2019-01-03,发明,F03D 1/06,复旦大学,上海市"])
    (p / "subl").symlink_to("sub", target_is_directory=True)
    (p / "self").symlink_to(".", target_is_directory=True)
    (p / "loop").symlink_to("..", target_is_directory=True)
    # names: a newline, a `..` component behind a backslash, bytes that are not UTF-8, a bidi override
    for name in ("bad\nname.csv", "..\\evil.csv", "bidi\u202ecsv.csv"):
        _csv(p / name, [EXTRA_ROW])
    with open(os.path.join(os.fsencode(p), b"\xff.csv"), "w", encoding="utf-8") as f:
        f.write(f"{HEADER}\n{EXTRA_ROW}\n")
    shutil.copy(workbooks / "small_bomb.xlsx", p / "bomb.xlsx")
    shutil.copy(workbooks / "liar.xlsx", p / "liar.xlsx")
    # files the checks see change: they grow / vanish after their streamed read (`changing_checks`)
    _csv(p / "grows.csv", [EXTRA_ROW])
    _csv(p / "vanishes.csv", [EXTRA_ROW])
    if late:
        add_late(dump)
    return dump


def add_late(dump: Path) -> None:
    for name in SPARK_REFUSED:
        _csv(dump / name, ["201710000001.6,2017-01-02,发明,F03D 1/06,LATE_FILE_ROW,上海市"])


@pytest.fixture
def changing_checks(monkeypatch):
    """grows.csv gets a line and vanishes.csv is removed right after the checks stream them."""
    real = filechecks.sniff_bytes

    def sniff(path, evidence):
        out = real(path, evidence)
        if path.name == "grows.csv":
            with path.open("a", encoding="utf-8") as f:
                f.write("201810000009.0,2018-01-01,发明,H01M,追加的行,北京市\n")
        elif path.name == "vanishes.csv":
            path.unlink()
        return out

    monkeypatch.setattr(filechecks, "sniff_bytes", sniff)


@pytest.fixture
def changing_reads(monkeypatch):
    """After Spark's first pass over a kind's CSV lines (the count pass), late_grows.csv gets a
    line and late_vanishes.csv is removed: the second pass reads something else, or nothing."""
    real, done = readers.number_splits, []

    def number_splits(lines, files):
        out = real(lines, files)
        for f in files:
            if f.relpath in SPARK_REFUSED and f.relpath not in done:
                done.append(f.relpath)
                if "grows" in f.relpath:
                    with f.path.open("a", encoding="utf-8") as fh:
                        fh.write("201710000002.4,2017-01-03,发明,F03D,LATE_FILE_ROW,上海市\n")
                else:
                    f.path.unlink()
        return out

    monkeypatch.setattr(readers, "number_splits", number_splits)
    return done


def _atime_guard(secret: Path):
    """Set the atime of every file under `secret` before its mtime, so that any read moves it
    (relatime); returns a check that they did not move, or None on a noatime filesystem."""
    probe = secret.parent / "probe.txt"
    probe.write_text("x")
    files = [probe, *sorted(secret.rglob("*.csv"))]
    for f in files:
        st = f.stat()
        os.utime(f, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    before = {f: f.stat().st_atime_ns for f in files}
    probe.read_bytes()
    if probe.stat().st_atime_ns == before[probe]:
        return None                                      # reads do not update atime here

    def unread() -> list[Path]:
        return [f for f in files[1:] if f.stat().st_atime_ns != before[f]]
    return unread


# ---------------------------------------------------------------- the file checks alone (no Spark)

def test_file_checks_refuse_every_hostile_file_with_its_code(tmp_path, workbooks, changing_checks):
    dump = hostile_dump(tmp_path, workbooks)
    unread = _atime_guard(tmp_path / "secret")
    check = check_input(dump, load_conf())
    got = {r.relpath: r.reason for r in check.rejects}
    assert got == CHECK_REFUSED
    assert {f.relpath for k in check.files for f in check.files[k]} == set(ACCEPTED)
    assert check.aliases == ALIASES
    assert check.checked == len(CHECK_REFUSED) + len(ACCEPTED)
    assert set(got.values()) <= set(FILE_REASONS)
    by = {r.relpath: r for r in check.rejects}
    for r in check.rejects:                               # every name and detail printable
        assert r.detail and not CONTROL.search(r.detail) and not CONTROL.search(r.line()), r
        assert not CONTROL.search(r.relpath), r
    # a link out of the dump is never opened: no size or sha256 of its target, which stays unread
    for rel in ("patents/outside.csv", "patents/outdir", "transfers/outside.csv"):
        assert (by[rel].size, by[rel].sha256) == (None, None)
        assert by[rel].detail.startswith(f"a symbolic link to '{tmp_path / 'secret'}")
    if unread is not None:
        assert unread() == []
    assert by["patents/loop"].detail.startswith("a symbolic link to a folder that contains it")
    assert by["patents/bad\\x0aname.csv"].detail == ("the file name holds control or format characters (\\x0a); "
                                                     "rename the file")
    assert by["patents/..\\evil.csv"].detail == "the file name holds a '..' path component; rename the file"
    sheet = zipfile.ZipFile(workbooks / "small_bomb.xlsx").getinfo(SHEET)
    assert by["patents/bomb.xlsx"].detail.startswith(
        f"entry '{SHEET}' declares {sheet.file_size:,} bytes from {sheet.compress_size:,} (ratio "
        f"{sheet.file_size / sheet.compress_size:,.0f}, limit 200, reader.xlsx_max_ratio); refused before unpacking")
    assert by["patents/liar.xlsx"].detail.startswith(f"entry '{SHEET}' unpacks to more than the "
                                                     f"{LIAR_DECLARED:,} bytes it declares")
    assert by["patents/grows.csv"].detail.startswith("the file changed while it was read (size ")
    assert by["patents/grows.csv"].size == (dump / "patents" / "grows.csv").stat().st_size
    assert by["patents/grows.csv"].sha256 is None
    assert (by["patents/vanishes.csv"].size, by["patents/vanishes.csv"].detail) == (
        None, "the file disappeared while it was read; rerun once the dump is complete")
    # the cheap pass before Spark: the same refusals except those of the streamed read (the files
    # changed after it); the liar is not inflated whole there, but the Excel reader stops its sheet
    # at the declared 4,096 bytes, whose CRC does not match
    _csv(dump / "patents" / "vanishes.csv", [EXTRA_ROW])
    quick = check_input(dump, load_conf(), full=False)
    assert {r.relpath: r.reason for r in quick.rejects} == {
        **{k: v for k, v in CHECK_REFUSED.items() if k not in ("patents/grows.csv", "patents/vanishes.csv")},
        "patents/liar.xlsx": "unreadable_xlsx"}


def test_zip_limits_from_the_central_directory_and_the_stream(workbooks, tmp_path):
    with (workbooks / "bomb.xlsx").open("rb") as f:
        declared = sum(i.file_size for i in zipfile.ZipFile(f).infolist())
        assert declared > BOMB_BYTES
        with pytest.raises(FileProblem) as bomb:
            zip_problem(f, "bomb.xlsx")
        assert bomb.value.reason == "zip_bomb"
        assert bomb.value.detail.startswith(f"its entries declare {declared:,} bytes unpacked (limit 200,000,000, "
                                            "reader.xlsx_max_unpacked_bytes)")
        with pytest.raises(FileProblem, match="ratio"):          # the ratio alone refuses it too
            zip_problem(f, "bomb.xlsx", max_unpacked=BOMB_BYTES * 2)
        with pytest.raises(FileProblem, match=r"declares [0-9,]+ entries \(limit 2,"):
            zip_problem(f, "bomb.xlsx", max_entries=2)
    with (workbooks / "liar.xlsx").open("rb") as f:
        zip_problem(f, "liar.xlsx")                               # its declared sizes look harmless
        with pytest.raises(FileProblem, match="unpacks to more than the 4,096 bytes it declares") as liar:
            zip_problem(f, "liar.xlsx", stream=True)
        assert liar.value.reason == "zip_bomb"
    with (workbooks / "good.xlsx").open("rb") as f:
        zip_problem(f, "good.xlsx", stream=True)                  # a real workbook passes
    # the limits are configurable (conf/headers.yaml reader): a lower one refuses the good workbook
    conf = replace(load_conf(), xlsx_max_unpacked_bytes=1000)
    dump = valid_dump(tmp_path / "d", workbooks)
    assert [(r.relpath, r.reason) for r in check_input(dump, conf).rejects] == [("patents/good.xlsx", "zip_bomb")]


def test_zip_bomb_check_keeps_memory_bounded(tmp_path, workbooks, capsys):
    """The full file checks of a dump holding the bomb (2 GiB unpacked) and the liar, in a fresh
    process: refused, and the process's peak RSS stays below RSS_BOUND_MIB. The peak is the
    kernel's high-water mark of the process's own memory (VmHWM, /proc/self/status); getrusage's
    ru_maxrss is recorded too, but Linux carries the parent's RSS at fork into it."""
    dump = valid_dump(tmp_path / "dump", workbooks)
    for name in ("bomb.xlsx", "liar.xlsx"):
        shutil.copy(workbooks / name, dump / "patents" / name)
    # the child's address space is capped (3 GiB): a regression fails with MemoryError instead of
    # taking the machine's memory
    code = ("import json, resource, sys, time\n"
            "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "from pathlib import Path\n"
            "from greenlink.bronze.filechecks import check_input\n"
            "from greenlink.bronze.layout import load_conf\n"
            "def hwm():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            return int(line.split()[1])\n"
            "base = hwm()\n"
            "t = time.monotonic()\n"
            "check = check_input(Path(sys.argv[1]), load_conf())\n"
            "print(json.dumps({'rejects': {r.relpath: r.reason for r in check.rejects}, 'base_kib': base,\n"
            "                  'seconds': time.monotonic() - t, 'peak_kib': hwm(),\n"
            "                  'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(dump)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    peak, base = got["peak_kib"] / 1024, got["base_kib"] / 1024
    with capsys.disabled():
        print(f"\n[zip bomb] peak RSS of the checking process {peak:.0f} MiB (VmHWM; after imports {base:.0f} MiB, "
              f"bound {RSS_BOUND_MIB} MiB; getrusage ru_maxrss {got['maxrss_kib'] / 1024:.0f} MiB), checks took "
              f"{got['seconds']:.2f}s, bomb declares {BOMB_BYTES:,} bytes")
    assert got["rejects"] == {"patents/bomb.xlsx": "zip_bomb", "patents/liar.xlsx": "zip_bomb"}
    assert peak < RSS_BOUND_MIB


# ---------------------------------------------------------------- strict: one error names them all

@pytest.fixture(scope="module")
def hostile_warehouse(spark, tmp_path_factory, use_warehouse):
    """One warehouse for the module's runs (the strict ones write no bronze; the quarantined
    run comes last): each fresh warehouse costs the creation of `_meta.runs`."""
    with use_warehouse(tmp_path_factory.mktemp("hostile") / "warehouse") as wh:
        yield wh


def last_ingest(spark):
    return (tables.read(spark, RUNS.name).where("job = 'ingest' AND event = 'end'")
            .orderBy("at", ascending=False).first())


def test_strict_run_names_every_hostile_file_in_one_error(spark, tmp_path, workbooks, hostile_warehouse,
                                                          changing_checks):
    dump = hostile_dump(tmp_path, workbooks)
    with pytest.raises(BadFiles) as err:
        ingest(spark, dump)
    lines = str(err.value).split("\n")
    assert len(lines) == len(CHECK_REFUSED) + 1 and not CONTROL.search(str(err.value))
    assert dict(line.split(": ")[:2] for line in lines[:-1]) == CHECK_REFUSED
    run = last_ingest(spark)
    assert run["status"] == "failed" and run["inputs"]["dump"] == "refused"
    assert {k.removeprefix("rejected_file:") for k in run["inputs"] if k.startswith("rejected_file:")} == \
        set(CHECK_REFUSED)
    assert run["counts"]["files.rejected"] == len(CHECK_REFUSED)
    assert run["counts"]["files.checked"] == len(CHECK_REFUSED) + len(ACCEPTED)
    assert not any(tables.exists(spark, n) for n in (FILE_REJECTS.name, PATENTS_RAW.name, REJECTS.name))


def test_strict_run_refuses_files_that_change_while_spark_reads_them(spark, tmp_path, workbooks, hostile_warehouse,
                                                                     changing_reads):
    dump = valid_dump(tmp_path / "dump", workbooks)
    add_late(dump)
    with pytest.raises(BadFiles) as err:                    # no crash: the refusal, both files named
        ingest(spark, dump)
    assert sorted(changing_reads) == sorted(SPARK_REFUSED)
    lines = str(err.value).split("\n")
    assert dict(line.split(": ")[:2] for line in lines[:-1]) == SPARK_REFUSED
    run = last_ingest(spark)
    assert run["status"] == "failed" and run["inputs"]["dump"] == "refused"
    assert run["counts"]["files.rejected"] == 2 and run["counts"]["files.rejected.file_vanished"] == 1
    assert run["counts"]["files.checked"] == run["counts"]["files.accepted"] + run["counts"]["files.rejected"]
    assert not tables.exists(spark, PATENTS_RAW.name)


# ---------------------------------------------------------------- quarantine: the rest ingested, all recorded

def test_quarantine_records_hostile_files_and_reads_nothing_outside(spark, tmp_path, workbooks, hostile_warehouse,
                                                                    changing_checks, changing_reads):
    dump = hostile_dump(tmp_path, workbooks, late=True)
    unread = _atime_guard(tmp_path / "secret")
    # a bronze.file_rejects created before these reason codes existed (its CHECK lists the old ones)
    old = ("unknown_format", "unreadable_file", "empty_file", "unsupported_encoding", "not_text", "file_too_large",
           "unreadable_parquet", "unreadable_xlsx", "missing_columns")
    tables.ensure(spark, replace(FILE_REJECTS, checks={"valid_values": "reason IN ({})".format(
        ", ".join(f"'{r}'" for r in old))}))
    counts = ingest(spark, dump, quarantine=True)
    refused = {**CHECK_REFUSED, **SPARK_REFUSED}
    rows = {r["file"]: r.asDict() for r in tables.read(spark, FILE_REJECTS.name).collect()}
    assert {f: r["reason"] for f, r in rows.items()} == refused
    for f, r in rows.items():
        assert r["detail"] and not CONTROL.search(r["detail"]) and not CONTROL.search(f), r
    end = last_ingest(spark)
    assert end["status"] == "succeeded" and end["inputs"]["dump"] == "partial"
    assert {k.removeprefix("rejected_file:") for k in end["inputs"] if k.startswith("rejected_file:")} == set(refused)
    assert not any(k.removeprefix("file:") in SPARK_REFUSED for k in end["inputs"] if k.startswith("file:"))
    # the counts reconcile: files, and rows per file and kind
    assert counts["files.checked"] == len(refused) + len(ACCEPTED)
    assert counts["files.accepted"] == len(ACCEPTED) and counts["files.rejected"] == len(refused)
    for reason in FILE_REASONS:
        assert counts[f"files.rejected.{reason}"] == sum(1 for v in refused.values() if v == reason), reason
    for f, n in ACCEPTED.items():
        assert counts[f"{f}:rows_in"] == n == counts[f"{f}:accepted"] + counts[f"{f}:rejected"], f
    for kind in ("patents", "transfers"):
        assert counts[f"{kind}.rows_in"] == counts[f"{kind}.accepted"] + counts[f"{kind}.rejected"]
    assert counts["patents.rows_in"] == sum(n for f, n in ACCEPTED.items() if f.startswith("patents/"))
    # links inside the dump to a file read under another name: recorded, not read twice
    assert counts["files.aliases"] == len(ALIASES) and "patents.rejected.duplicate_row" in counts
    assert counts["patents.rejected.duplicate_row"] == 0
    assert {k.removeprefix("alias:"): v for k, v in end["inputs"].items() if k.startswith("alias:")} == ALIASES
    # nothing from outside the dump, from a refused file or from a file that changed reached bronze
    patents, rejects, transfers = (tables.read(spark, n).drop("line_hash").toPandas()
                                   for n in (PATENTS_RAW.name, REJECTS.name, TRANSFERS_RAW.name))
    assert set(patents["source_file"]) | set(rejects["source_file"]) | set(transfers["source_file"]) <= set(ACCEPTED)
    text = " ".join(map(str, [*patents.astype(str).values.ravel(), *rejects.astype(str).values.ravel(),
                              *transfers.astype(str).values.ravel()]))
    assert SECRET not in text and SECRET_NO not in text and "LATE_FILE_ROW" not in text
    if unread is not None:
        assert unread() == []
