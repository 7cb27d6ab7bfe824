"""Next month's dump (issue 23, item 5): the full dump a month after a given one.

Incremental reprocessing has to cope with what a real monthly export changes: the whole
register again, most rows byte-identical but in another order and in re-cut files, a few rows
corrected (IPC symbols, addresses, co-applicants), some patents withdrawn, new grants and
transfers of them. `next_month` makes exactly that from a full dump (a generated world or an
earlier `next_month` output) and lists every change in NEXT_MONTH.json, so tests know which
application numbers must change downstream (docs/generator.md, "Next month's dump").

Pure Python, no Spark. CSV files are handled as physical lines of bytes, the project reader's
records; rows to change are drawn by index first and only those are decoded and parsed, so
the cost is reading, shuffling and writing the bytes (a 1M-patent world in seconds). `.xlsx`
files (small by contract) are copied verbatim: openpyxl would rewrite every byte and stamp
the current time into them; their rows are never chosen.
"""
from __future__ import annotations

import bisect
import csv
import io
import json
import logging
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from greenlink.bronze.layout import FORMATS, KINDS, FileProblem, IngestSettings, load_conf, match_columns, \
    parquet_header, sniff_bytes, type_key
from greenlink.core.errors import UserError
from greenlink.core.text import PLAUSIBLE_YEARS
from greenlink.reference.ids import check_digit
from greenlink.reference.inventory import Rule, read_inventory
from greenlink.reference.ipc import ipc_symbols, parse_canonical

log = logging.getLogger("greenlink")

REPORT = "NEXT_MONTH.json"
NOT_COPIED = {"truth", "MANIFEST.json", REPORT}     # describe the source dump, not the new one
# IPC corrections that flip the green flag: group entries listed in conf/ipc_green_inventory.csv
# (F03D wind motors, H01L 31 photovoltaic devices), and a symbol no entry covers (tests check both).
GREEN_IPC = ("F03D 13/00", "F03D 9/00", "H01L 31/042", "H01L 31/0525")
NON_GREEN_IPC = "A01B 1/00"
CORRECTION_MIX = {"ipc": 0.4, "address": 0.3}     # of the patent corrections; the rest: co-applicants
NEW_SERIAL_MIN = 9_000_000                         # new grants' serials: 9,000,000-9,999,999, unused
GRANT_DAYS = (180, 900)                            # a new grant without a grant date: granted this much later
TRANSFER_DAYS = (30, 365)                          # a new transfer dated before its application: this much after

_APP_NO = re.compile(r"(CN)?([0-9]{12})(\.?)([0-9X])")
_NUMBERS = re.compile(rb"[0-9]{12}")
_SEPARATED = re.compile(r"([0-9]{4})([-/.年])([0-9]{1,2})([-/.月])([0-9]{1,2})(日?)")
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_NAME_SPLIT = re.compile(r"\s*[;；,，]\s*")
_NAME_SEPARATORS = ("; ", ";", "；", "，", ",")


class _AppNo(NamedTuple):
    """A well-formed 12-digit application number and how its row spells it."""

    prefix: str                     # "CN" or ""
    body: str                       # year, type digit, 7-digit serial
    dot: str                        # "." or ""

    @property
    def silver(self) -> str:
        return f"{self.body}.{check_digit(self.body)}"

    def spelled(self, body: str) -> str:
        """Another number in this row's spelling."""
        return f"{self.prefix}{body}{self.dot}{check_digit(body)}"


def _app_no(raw: str) -> _AppNo | None:
    m = _APP_NO.fullmatch(raw)
    if m is None or check_digit(m[2]) != m[4]:
        return None
    return _AppNo(m[1] or "", m[2], m[3])


class _Date(NamedTuple):
    """A plausible date and its spelling (separators, suffix, zero padding), to write others alike."""

    value: date
    style: tuple[str, str, str, bool]

    def spell(self, d: date) -> str:
        sep1, sep2, end, pad = self.style
        month, day = (f"{d.month:02d}", f"{d.day:02d}") if pad else (str(d.month), str(d.day))
        return f"{d.year}{sep1}{month}{sep2}{day}{end}"


def _date(raw: str) -> _Date | None:
    """The spellings the generator writes (`2018-03-05`, `2018/3/5`, `2018.03.05`, `2018年3月5日`,
    `20180305`) within PLAUSIBLE_YEARS; None for anything else."""
    if m := _SEPARATED.fullmatch(raw):
        y, sep1, mo, sep2, d, end = m.groups()
        style = (sep1, sep2, end, sep1 in "-." or mo[0] == "0" or d[0] == "0")
    elif m := _COMPACT.fullmatch(raw):
        (y, mo, d), style = m.groups(), ("", "", "", True)
    else:
        return None
    try:
        value = date(int(y), int(mo), int(d))
    except ValueError:
        return None
    return _Date(value, style) if PLAUSIBLE_YEARS[0] <= value.year <= PLAUSIBLE_YEARS[1] else None


def _names(value: str) -> list[str]:
    return [n for n in _NAME_SPLIT.split(value.strip()) if n]


@dataclass(eq=False)
class _File:
    """One file of patents/ or transfers/, and the edits planned for it."""

    kind: str
    rel: str
    path: Path
    fmt: str                        # csv | parquet | xlsx | other (copied verbatim)
    rows: int = 0                   # data rows
    cols: dict[str, int | None] = field(default_factory=dict)   # canonical column -> position
    editable: bool = False          # rows of it may be chosen: columns recognised (Parquet: as strings)
    width: int = 0                  # header fields
    codec: str = "utf-8"            # csv data lines (a BOM only precedes the header)
    eol: bytes = b"\n"
    changed: dict[int, list[Any]] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)
    added: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class _Row:
    """A parsed data row (0-based `index` among its file's data rows)."""

    file: _File
    index: int
    values: list[Any]
    no: _AppNo

    def get(self, column: str) -> str:
        pos = self.file.cols.get(column)
        return "" if pos is None else (self.values[pos] or "")

    def edited(self, **columns: str) -> list[Any]:
        values = list(self.values)
        for column, value in columns.items():
            values[self.file.cols[column]] = value
        return values


def next_month(dump: Path, out: Path, *, share: float = 0.01, seed: int = 1, resplit: bool = True,
               years: tuple[int, int] | None = None) -> dict:
    """Write into `out` the full dump that follows `dump` a month later; returns NEXT_MONTH.json.

    Of the N data rows of the patent CSV and Parquet files, round(share·N) are corrected (IPC,
    address, co-applicants about 40/30/30 %), round(share/4·N) withdrawn and round(share/2·N)
    new grants added; of the T transfer rows round(share·T) corrected, round(share/4·T) removed
    and up to round(share/2·T) new ones transfer new grants. Every other row keeps its bytes;
    rows are shuffled in every file, and with `resplit` the largest patent CSV is cut in two.
    With `years` (first, last), only patents applied for and transfers registered in those
    years are changed (the counts are still shares of the whole dump; every row is a candidate,
    so the survey parses them all). Deterministic for a given (dump, share, seed, years)."""
    dump, out = Path(dump), Path(out)
    if not 0 < share <= 0.5:
        raise UserError(f"--share must be in (0, 0.5] (got {share})")
    if years is not None and not (PLAUSIBLE_YEARS[0] <= years[0] <= years[1] <= PLAUSIBLE_YEARS[1]):
        raise UserError(f"--years must be FIRST-LAST within {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]} (got {years})")
    if not (dump / "patents").is_dir():
        raise UserError(f"{dump} has no patents/ folder: not a dump")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not empty: refusing to overwrite it")
    conf = load_conf()
    files = _survey(dump, conf)
    rng = random.Random(seed)
    quotas = {"patents": _patent_quotas(_total(files, "patents"), share),
              "transfers": _transfer_quotas(_total(files, "transfers"), share)}
    quotas["transfers"]["new"] = min(quotas["transfers"]["new"], quotas["patents"]["new"])
    streams = {kind: _stream(files, kind, sum(quotas[kind].values()), rng, every=years is not None) for kind in KINDS}
    parsed, once, used = _scan(files, streams)
    log.info("next month: %s scanned", dump)
    checks = {"patents": lambda r: once["patents"](r.no.body) and _patent_ok(r, conf)
              and _in_years(r.get("application_date"), years),
              "transfers": lambda r: once["transfers"](r.no.body) and _transfer_ok(r)
              and _in_years(r.get("effective_date"), years)}
    chosen = {kind: _assign(streams[kind], parsed[kind], quotas[kind], checks[kind]) for kind in KINDS}
    changes, grants = _plan_patents(chosen["patents"], used, rng)
    changes.update(_plan_transfers(chosen["transfers"], grants, rng))

    stage = out.parent / f".{out.name}.staging"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    written = _write(dump, files, stage, seed, resplit)
    report = {"source": str(dump.resolve()), "share": share, "seed": seed, "resplit": resplit,
              "years": list(years) if years else None,
              "rows": {kind: _total(files, kind) for kind in KINDS}, "changes": changes, "files": written}
    (stage / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                encoding="utf-8")
    if out.exists():
        out.rmdir()
    stage.rename(out)
    log.info("next month: %s written", out)
    return report


# --- the files ---------------------------------------------------------------------------------
def _survey(dump: Path, conf: IngestSettings) -> list[_File]:
    """Every file of patents/ and transfers/ with its format, layout and data-row count."""
    files = []
    for kind in KINDS:
        folder = dump / kind
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else ():
            hidden = any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
            f = _File(kind, path.relative_to(dump).as_posix(), path,
                      "other" if hidden else FORMATS.get(path.suffix.lower(), "other"))
            if f.fmt == "csv":
                _csv_layout(f, conf)
            elif f.fmt == "parquet":
                _parquet_layout(f, conf)
            files.append(f)
    return files


def _csv_layout(f: _File, conf: IngestSettings) -> None:
    encoding = sniff_bytes(f.path, conf.utf8_evidence_chars)[1]        # as the reader decides it
    f.codec = "gb18030" if encoding == "GB18030" else "utf-8"
    data = f.path.read_bytes()
    if not data:
        f.fmt = "other"
        return
    first = data[:data.find(b"\n") + 1 or len(data)]
    f.eol = b"\r\n" if first.endswith(b"\r\n") else b"\n"
    f.rows = data.count(f.eol) - (1 if data.endswith(f.eol) else 0)
    header = next(csv.reader([first.rstrip(b"\r\n").decode(f.codec, errors="replace").lstrip("\ufeff")]), [])
    f.width = len(header)
    try:
        f.cols = match_columns(header, conf.kinds[f.kind], f.rel)
    except FileProblem:
        return                                                          # refused by the reader: rows stay
    f.editable = True


def _parquet_layout(f: _File, conf: IngestSettings) -> None:
    try:
        names, f.rows = parquet_header(f.path, f.rel)
    except FileProblem:
        f.fmt = "other"                                                 # unreadable: copied as it is
        return
    try:
        f.cols = match_columns(names, conf.kinds[f.kind], f.rel)
    except FileProblem:
        return                                                          # refused by the reader: rows stay
    schema = pq.ParquetFile(f.path).schema_arrow
    # edits write strings: only files whose recognised columns are strings are edited
    f.editable = all(pa.types.is_string(t) or pa.types.is_large_string(t)
                     for t in (schema.field(i).type for i in f.cols.values() if i is not None))


def _editable(files: list[_File], kind: str) -> list[_File]:
    return [f for f in files if f.kind == kind and f.editable]


def _total(files: list[_File], kind: str) -> int:
    return sum(f.rows for f in _editable(files, kind))


def _patent_quotas(n: int, share: float) -> dict[str, int]:
    corrections = round(share * n)
    ipc, address = (round(CORRECTION_MIX[k] * corrections) for k in ("ipc", "address"))
    return {"ipc": ipc, "address": address, "coapplicants": corrections - ipc - address,
            "withdrawn": round(share / 4 * n), "new": round(share / 2 * n)}


def _transfer_quotas(n: int, share: float) -> dict[str, int]:
    return {"corrected": round(share * n), "removed": round(share / 4 * n), "new": round(share / 2 * n)}


def _stream(files: list[_File], kind: str, needed: int, rng: random.Random,
            every: bool = False) -> list[tuple[_File, int]]:
    """Candidate rows in random order, twice as many as needed (defective and duplicated rows are
    skipped later): row indices are drawn before any row is read, so only these are parsed.
    `every`: all rows, shuffled (the changes are limited to some years: most rows cannot take one)."""
    editable = _editable(files, kind)
    starts = np.cumsum([0] + [f.rows for f in editable]).tolist()
    wanted = starts[-1] if every else 2 * needed + 100
    picks = rng.sample(range(starts[-1]), min(starts[-1], wanted if needed else 0))
    located = []
    for g in picks:
        i = bisect.bisect_right(starts, g) - 1
        located.append((editable[i], g - starts[i]))
    return located


# --- reading: numbers in use and the candidate rows ----------------------------------------------
def _scan(files: list[_File], streams: dict[str, list[tuple[_File, int]]]) \
        -> tuple[dict[str, dict[tuple[str, int], _Row]], dict[str, Callable[[str], bool]], np.ndarray]:
    """One read of every file: the parsed candidate rows, per kind a test that a number stands in
    one row only (a withdrawn or corrected patent must not live on in a duplicate), and every
    12-digit number in use (CSV: anywhere in the line, which can only over-count)."""
    wanted: dict[_File, list[int]] = {}
    for located in streams.values():
        for f, i in located:
            wanted.setdefault(f, []).append(i)
    parsed: dict[str, dict[tuple[str, int], _Row]] = {kind: {} for kind in KINDS}
    numbers: dict[str, list[np.ndarray]] = {kind: [np.array([], dtype="S12")] for kind in KINDS}
    for f in files:
        rows, found = _read_rows(f, sorted(wanted.get(f, [])))
        numbers[f.kind].append(found)
        for i, values in rows.items():
            no = _app_no(values[f.cols["application_no"]] or "")
            if no is not None:
                parsed[f.kind][(f.rel, i)] = _Row(f, i, values, no)
    once, used = {}, []
    for kind in KINDS:
        uniq, counts = np.unique(np.concatenate(numbers[kind]), return_counts=True)
        once[kind] = lambda body, uniq=uniq, counts=counts: _count(uniq, counts, body) == 1
        used.append(uniq)
    return parsed, once, np.unique(np.concatenate(used))


def _count(uniq: np.ndarray, counts: np.ndarray | None, body: str) -> int:
    """How often `body` stands in the sorted `uniq` (`counts`: its multiplicities, None for 1)."""
    i = int(np.searchsorted(uniq, body.encode()))
    if i == len(uniq) or uniq[i] != body.encode():
        return 0
    return 1 if counts is None else int(counts[i])


def _read_rows(f: _File, indices: list[int]) -> tuple[dict[int, list[Any]], np.ndarray]:
    """The rows at `indices` that parse (CSV: decode, exactly the header's fields) and the file's
    12-digit numbers."""
    if f.fmt == "csv":
        data = f.path.read_bytes()
        lines = data.split(f.eol)
        rows = {i: v for i in indices if (v := _csv_values(f, lines[1 + i])) is not None}
        return rows, np.array(_NUMBERS.findall(data), dtype="S12")
    if f.fmt == "parquet" and f.cols:
        table = pq.read_table(f.path)           # numbers: its application_no column
        numbers = table.column(f.cols["application_no"]).cast(pa.string())
        found = pc.struct_field(pc.extract_regex(numbers, r"(?P<no>[0-9]{12})"), [0])
        taken = table.take(pa.array(indices, type=pa.int64()))
        rows = dict(zip(indices, (list(r) for r in zip(*(c.to_pylist() for c in taken.columns)))))
        return rows, found.drop_null().to_numpy(zero_copy_only=False).astype("S12")
    if f.fmt == "xlsx":
        book = openpyxl.load_workbook(f.path, read_only=True)
        values = [[v for v in r if v is not None] for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        f.rows = sum(1 for r in values[1:] if r)
        text = "\n".join(str(v) for r in values for v in r).encode()
        return {}, np.array(_NUMBERS.findall(text), dtype="S12")
    return {}, np.array([], dtype="S12")


def _csv_values(f: _File, line: bytes) -> list[str] | None:
    try:
        values = next(csv.reader([line.decode(f.codec)], strict=True), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    return values if len(values) == f.width else None


def _patent_ok(row: _Row, conf: IngestSettings) -> bool:
    """A row the pipeline accepts (dates, type, a valid IPC symbol, an applicant): a change to it
    shows downstream."""
    applied = _date(row.get("application_date"))
    if applied is None:
        return False
    granted = row.get("grant_date")
    if granted and ((g := _date(granted)) is None or g.value < applied.value):
        return False
    return (type_key(row.get("patent_type")) in conf.patent_types and bool(ipc_symbols(row.get("ipc")))
            and bool(_names(row.get("applicants"))))


def _in_years(raw: str, years: tuple[int, int] | None) -> bool:
    if years is None:
        return True
    d = _date(raw)
    return d is not None and years[0] <= d.value.year <= years[1]


def _transfer_ok(row: _Row) -> bool:
    return (_date(row.get("effective_date")) is not None and bool(_names(row.get("owners_before")))
            and bool(_names(row.get("owners_after"))))


def _assign(stream: list[tuple[_File, int]], parsed: dict[tuple[str, int], _Row], quotas: dict[str, int],
            ok: Callable[[_Row], bool]) -> dict[str, list[_Row]]:
    """Candidates in stream order, each to the first change still short of rows that it supports."""
    chosen: dict[str, list[_Row]] = {k: [] for k in quotas}
    for f, i in stream:
        row = parsed.get((f.rel, i))
        open_ = [k for k, n in quotas.items() if len(chosen[k]) < n]
        if not open_:
            break
        if row is None or not ok(row):
            continue
        kind = next((k for k in open_ if k != "address" or f.cols.get("applicant_address") is not None), None)
        if kind is not None:
            chosen[kind].append(row)
    short = {k: n - len(chosen[k]) for k, n in quotas.items() if len(chosen[k]) < n}
    if short:
        raise UserError(f"too few well-formed rows to choose from (missing: {short}); lower --share")
    return chosen


# --- the changes -------------------------------------------------------------------------------
def _plan_patents(chosen: dict[str, list[_Row]], used: np.ndarray, rng: random.Random) \
        -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, date]]]:
    """Edits of the patent files; returns the NEXT_MONTH.json entries and the new grants
    (silver number, body, application date)."""
    by_class: dict[str, list[Rule]] = {}
    for rule in read_inventory():
        by_class.setdefault(rule.primary.ipc_class, []).append(rule)
    now_green = []
    for row in chosen["ipc"]:
        syms = [parse_canonical(s) for s in ipc_symbols(row.get("ipc"))]
        green = any(r.matches(syms) for c in {s.ipc_class for s in syms} for r in by_class.get(c, ()))
        row.file.changed[row.index] = row.edited(ipc=NON_GREEN_IPC if green else rng.choice(GREEN_IPC))
        if not green:
            now_green.append(row.no.silver)
    donors = [r for rows in chosen.values() for r in rows]       # well-formed rows, values before edits
    for row in chosen["address"]:
        old = row.get("applicant_address")
        donor = _donor(donors, rng, lambda d: d.get("applicant_address") not in ("", old))
        row.file.changed[row.index] = row.edited(applicant_address=donor.get("applicant_address"))
    for row in chosen["coapplicants"]:
        row.file.changed[row.index] = row.edited(applicants=_second_name(row, "applicants", donors, rng))
    for row in chosen["withdrawn"]:
        row.file.removed.add(row.index)
    grants, taken = [], set()
    for row in chosen["new"]:
        body = _new_body(row.no.body[:5], used, taken, rng)
        applied = _date(row.get("application_date"))
        assert applied is not None                                # _patent_ok
        edits = {"application_no": row.no.spelled(body)}
        if row.file.cols.get("grant_date") is not None and not row.get("grant_date"):
            edits["grant_date"] = applied.spell(applied.value + timedelta(days=rng.randint(*GRANT_DAYS)))
        if row.file.cols.get("publication_no") is not None and row.no.body[5:] in row.get("publication_no"):
            # a publication number carries the serial: no two patents share one
            edits["publication_no"] = row.get("publication_no").replace(row.no.body[5:], body[5:], 1)
        row.file.added.append(row.edited(**edits))
        grants.append((f"{body}.{check_digit(body)}", body, applied.value))
    changes = {f"patents.{k}": _entry(rows) for k, rows in chosen.items() if k != "new"}
    changes["patents.ipc"]["now_green"] = sorted(now_green)
    changes["patents.new"] = {"count": len(grants), "application_nos": sorted(g[0] for g in grants)}
    return changes, grants


def _plan_transfers(chosen: dict[str, list[_Row]], grants: list[tuple[str, str, date]],
                    rng: random.Random) -> dict[str, dict[str, Any]]:
    donors = [r for rows in chosen.values() for r in rows]
    for row in chosen["corrected"]:
        old = row.get("current_owner_address")
        if row.file.cols.get("current_owner_address") is not None and rng.random() < 0.5:
            donor = _donor(donors, rng, lambda d: d.get("current_owner_address") not in ("", old))
            row.file.changed[row.index] = row.edited(current_owner_address=donor.get("current_owner_address"))
        else:
            row.file.changed[row.index] = row.edited(owners_after=_second_name(row, "owners_after", donors, rng))
    for row in chosen["removed"]:
        row.file.removed.add(row.index)
    new = []
    for row, (silver, body, applied) in zip(chosen["new"], rng.sample(grants, len(chosen["new"]))):
        edits = {"application_no": row.no.spelled(body)}
        effective = _date(row.get("effective_date"))
        assert effective is not None                              # _transfer_ok
        if effective.value < applied:
            edits["effective_date"] = effective.spell(applied + timedelta(days=rng.randint(*TRANSFER_DAYS)))
        row.file.added.append(row.edited(**edits))
        new.append(silver)
    return {"transfers.corrected": _entry(chosen["corrected"]), "transfers.removed": _entry(chosen["removed"]),
            "transfers.new": {"count": len(new), "application_nos": sorted(new)}}


def _entry(rows: list[_Row]) -> dict[str, Any]:
    return {"count": len(rows), "application_nos": sorted(r.no.silver for r in rows)}


def _donor(donors: list[_Row], rng: random.Random, fits: Callable[[_Row], bool]) -> _Row:
    for _ in range(1000):
        d = donors[rng.randrange(len(donors))]
        if fits(d):
            return d
    raise UserError("too few distinct names or addresses among the chosen rows to correct rows with; "
                    "raise --share")


def _second_name(row: _Row, column: str, donors: list[_Row], rng: random.Random) -> str:
    """The list with a second name added, or its second name replaced, by another row's first
    name, in the row's own separator."""
    value = row.get(column)
    names = _names(value)
    donor = _donor(donors, rng, lambda d: _names(d.get(column))[0] not in names)
    sep = next((s for s in _NAME_SEPARATORS if s in value), ";")
    return sep.join([names[0], _names(donor.get(column))[0], *names[2:]])


def _new_body(year_type: str, used: np.ndarray, taken: set[str], rng: random.Random) -> str:
    """An unused 12-digit body of this year and type with a serial >= NEW_SERIAL_MIN: generated
    serials cover the whole 7-digit range, so numbers in use are looked up, not assumed."""
    while True:
        body = f"{year_type}{rng.randrange(NEW_SERIAL_MIN, 10_000_000):07d}"
        if body not in taken and not _count(used, None, body):
            taken.add(body)
            return body


# --- writing -----------------------------------------------------------------------------------
def _write(dump: Path, files: list[_File], stage: Path, seed: int, resplit: bool) -> dict[str, int]:
    """Every file of the new dump; returns the data-row count of each patent and transfer file."""
    for entry in sorted(dump.iterdir()):
        if entry.name in NOT_COPIED or entry.name in KINDS:
            continue
        (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, stage / entry.name)
    csvs = [f for f in files if f.kind == "patents" and f.fmt == "csv" and f.rows >= 4]
    split = max(csvs, key=lambda f: (f.path.stat().st_size, f.rel)) if resplit and csvs else None
    existing = {f.rel for f in files}
    written: dict[str, int] = {}
    for f in files:
        shuffle = random.Random(f"{seed}:{f.rel}")
        dest = stage / f.rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if f.fmt == "csv":
            parts = [f.rel] if f is not split else [_part(f.rel, 1), _part(f.rel, 2)]
            if len(parts) > 1 and existing & set(parts):
                raise UserError(f"cannot re-split {f.rel}: {' or '.join(parts)} exists already")
            written.update(_write_csv(f, stage, parts, shuffle))
        elif f.fmt == "parquet":
            written[f.rel] = _write_parquet(f, dest, shuffle)
        else:
            shutil.copy2(f.path, dest)
            if f.fmt == "xlsx":
                written[f.rel] = f.rows
    return written


def _part(rel: str, n: int) -> str:
    p = Path(rel)
    return p.with_name(f"{p.stem}_part{n}{p.suffix}").as_posix()


def _csv_line(f: _File, values: list[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()[:-1].encode(f.codec)


def _write_csv(f: _File, stage: Path, parts: list[str], shuffle: random.Random) -> dict[str, int]:
    data = f.path.read_bytes()
    lines = data.split(f.eol)
    ends = data.endswith(f.eol)
    if ends:
        lines.pop()
    header, rows = lines[0], lines[1:]
    for i, values in f.changed.items():
        rows[i] = _csv_line(f, values)
    if f.removed:
        rows = [r for i, r in enumerate(rows) if i not in f.removed]
    rows.extend(_csv_line(f, values) for values in f.added)
    shuffle.shuffle(rows)
    cut = [0, max(1, shuffle.randint(len(rows) // 4, 3 * len(rows) // 4)), len(rows)] if len(parts) > 1 \
        else [0, len(rows)]
    written = {}
    for rel, lo, hi in zip(parts, cut, cut[1:]):
        with open(stage / rel, "wb") as fh:
            fh.write(f.eol.join([header, *rows[lo:hi]]) + (f.eol if ends else b""))
        written[rel] = hi - lo
    return written


def _write_parquet(f: _File, dest: Path, shuffle: random.Random) -> int:
    table = pq.read_table(f.path)
    if f.changed or f.removed:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[list(f.changed.keys() | f.removed)] = False
        table = table.take(pa.array(np.flatnonzero(keep)))
    extra = [*f.changed.values(), *f.added]
    if extra:
        columns = [pa.array([v[j] for v in extra], type=table.schema.field(j).type) for j in range(table.num_columns)]
        table = pa.concat_tables([table, pa.Table.from_arrays(columns, schema=table.schema)])
    order = list(range(table.num_rows))
    shuffle.shuffle(order)
    pq.write_table(table.take(pa.array(order, type=pa.int64())), dest)
    return table.num_rows
