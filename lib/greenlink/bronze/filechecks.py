"""File checks: every file of the dump inspected before any row is read (docs/ingest.md, "File checks").

One pass over the listed files, on the driver. Per file, cheap tests first on its metadata
and its first 64 KiB (extension, readable, size, only whitespace, UTF-16 BOM, binary
content); then one streamed read of the whole file (sha256, and for CSV the encoding test
of `layout.sniff_bytes`), the header line (CSV), the footer (Parquet) or the first row
(Excel), and the header mapping. A file that fails a test is only streamed once more for
its sha256. No problem stops the pass: `check_input` returns the usable files and every
refused file with a reason code (`bronze.FILE_REASONS`) and a printable detail.

`full=False` skips the streamed read (no sha256; a CSV's encoding guessed from its header
line): the CLI's check before Spark starts, so a strict run with bad files fails in a second.

Hostile files (docs/ingest.md, "Hostile files"): the listing (`layout.walk_folder`) refuses a
symbolic link out of the dump or in a loop without opening its target; a name with control
characters or a `..` component is refused (`unsafe_file_name`, the name stored escaped); an
.xlsx is checked as a zip archive before the Excel reader opens it (`excel.zip_problem`); and a
file's (size, mtime, inode, device) is taken before its bytes are read and compared after the
checks' read (`file_changed_during_read` / `file_vanished`) and after the run's read
(`changed_files`, called by the job once Spark has read the kind).
"""
from __future__ import annotations

import codecs
import csv
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession

from greenlink.bronze.excel import identity_change, xlsx_header
from greenlink.bronze.layout import (KINDS, FileProblem, IngestSettings, InputFile, csv_headers, guess_encoding,
                                     list_files, match_columns, parquet_header, sha256_file, sniff_bytes,
                                     unknown_format, unsafe_name)
from greenlink.bronze.tables import FILE_REJECTS
from greenlink.core.errors import UserError
from greenlink.core.printable import printable

HEAD_BYTES = 1 << 16
# share of control bytes in the head above which a .csv is binary, not text; NUL never occurs in
# UTF-8 or GBK text (UTF-16 has a BOM and is named as such)
CONTROL_SHARE = 0.05
_TEXT_CONTROLS = frozenset(b"\t\n\x0c\r\x1a")        # tab, LF, FF, CR, ^Z (a DOS end-of-file mark)
_BLANK = b" \t\r\n\x0c"


@dataclass(frozen=True)
class FileReject:
    """One refused file: a row of bronze.file_rejects (without run_id) plus its kind."""

    kind: str
    relpath: str
    size: int | None
    sha256: str | None
    reason: str
    detail: str

    def line(self) -> str:
        """`<file>: <reason>: <detail>`, printable (the file name comes from the input too)."""
        return f"{printable(self.relpath)}: {self.reason}: {self.detail}"

    def describe(self) -> str:
        return ";".join([self.reason, f"{self.size} bytes" if self.size is not None else "size unknown",
                         f"sha256={self.sha256}" if self.sha256 else "sha256 unknown"])


@dataclass(frozen=True)
class FileCheck:
    """Result of the pass: the usable files by kind and every refused file, in listing order;
    `aliases`: names (symbolic links inside the dump) of a file the kind reads under another
    name, each with that name."""

    files: Mapping[str, list[InputFile]]
    rejects: list[FileReject]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        return sum(len(v) for v in self.files.values()) + len(self.rejects)

    def rejected(self, kind: str) -> list[str]:
        return [r.relpath for r in self.rejects if r.kind == kind]


class BadFiles(UserError):
    """Strict mode: the dump has refused files. One line per file, then what to do."""

    def __init__(self, check: FileCheck) -> None:
        self.check = check
        n, total = len(check.rejects), check.checked
        lines = [r.line() for r in check.rejects]
        lines.append(f"{n} of {total} input files {'is' if n == 1 else 'are'} unusable (listed above); nothing "
                     "was ingested. Fix or remove them, or rerun with --quarantine-bad-files to ingest the other "
                     f"{total - n} and record these in {FILE_REJECTS.name}")
        super().__init__("\n".join(lines))


def binary_problem(head: bytes) -> str | None:
    """Why the first bytes of a .csv are not text (NUL, or too many control bytes), else None."""
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"binary content (a NUL byte at offset {nul}); a CSV file must be UTF-8 or GBK text"
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    if head and controls / len(head) > CONTROL_SHARE:
        return (f"binary content ({controls} of the first {len(head):,} bytes are control characters); "
                "a CSV file must be UTF-8 or GBK text")
    return None


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


Identity = tuple[int, int, int, int]


def identity_of(st: os.stat_result) -> Identity:
    """What tells a file from a changed or replaced one: (size, mtime_ns, inode, device)."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _vanished(rel: str, when: str) -> FileProblem:
    return FileProblem(rel, "file_vanished", f"the file disappeared {when}; rerun once the dump is complete")


def _identity(path: Path, rel: str, when: str) -> Identity:
    """The file's identity now (`lstat`: a file replaced by a symbolic link is another file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _vanished(rel, when) from None
    except OSError as exc:
        raise FileProblem(rel, "unreadable_file", f"cannot read the file ({type(exc).__name__}: "
                                                  f"{exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise FileProblem(rel, "file_changed_during_read", "the file was replaced by a symbolic link while the "
                                                           "dump was read; rerun once the dump is complete")
    return identity_of(st)


def check_file(kind: str, path: Path, rel: str, fmt: str | None, conf: IngestSettings, full: bool = True) -> InputFile:
    """The file as an InputFile (format, encoding, sha256, header mapping, identity); a
    FileProblem if it cannot be ingested. Reads the head, then (`full`) streams the whole file
    once; the file must be the same (size, mtime, inode) after that as before."""
    if fmt is None:
        raise unknown_format(path, rel)
    why = unsafe_name(rel)
    if why:
        raise FileProblem(rel, "unsafe_file_name", why)
    before = _identity(path, rel, "after it was listed")
    try:
        found = _check_content(kind, path, rel, fmt, conf, full, before)
    except (FileProblem, OSError) as problem:
        # a file that changed or went while it was read was judged on bytes that are not the file's
        after = _identity(path, rel, "while it was read")
        if after != before:
            raise FileProblem(rel, "file_changed_during_read", identity_change(before, after)) from None
        if isinstance(problem, FileNotFoundError):
            raise _vanished(rel, "while it was read") from None
        raise
    after = _identity(path, rel, "while it was read")
    if after != before:
        raise FileProblem(rel, "file_changed_during_read", identity_change(before, after))
    return found


def _check_content(kind: str, path: Path, rel: str, fmt: str, conf: IngestSettings, full: bool,
                   before: Identity) -> InputFile:
    try:
        size = before[0]
        head = _head(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileProblem(rel, "unreadable_file", f"cannot read the file ({type(exc).__name__}: "
                                                  f"{exc.strerror or exc})") from None
    if size == 0:
        raise FileProblem(rel, "empty_file", "the file is empty (0 bytes)")
    encoding = rows = sha = limits = None
    if fmt == "csv":
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileProblem(rel, "unsupported_encoding",
                              "UTF-16 text is not supported; save the file as UTF-8 or GBK CSV")
        why = binary_problem(head)
        if why:
            raise FileProblem(rel, "not_text", why)
        if size <= len(head) and not head.removeprefix(codecs.BOM_UTF8).strip(_BLANK):
            raise FileProblem(rel, "empty_file", f"the file holds only blank lines ({size:,} bytes)")
        if full:
            sha, encoding = sniff_bytes(path, conf.utf8_evidence_chars)
        else:
            encoding = guess_encoding(head.split(b"\n", 1)[0])
        try:
            headers = csv_headers(path, encoding)
        except csv.Error as exc:                    # e.g. a first line beyond the csv field limit
            raise FileProblem(rel, "missing_columns", f"the header line cannot be parsed ({exc})") from None
    elif fmt == "parquet":
        headers, rows = parquet_header(path, rel)
    else:
        limits = (conf.xlsx_max_unpacked_bytes, conf.xlsx_max_ratio, conf.xlsx_max_entries)
        headers = xlsx_header(path, rel, conf.xlsx_max_bytes, *limits, stream=full, identity=before)
    if full and sha is None:
        sha = sha256_file(path)
    columns = match_columns(headers, conf.kinds[kind], rel)
    return InputFile(kind, path, rel, fmt, size, headers, columns, encoding, sha, rows, before, limits)


def _size_and_sha(path: Path, full: bool, reason: str) -> tuple[int | None, str | None]:
    if reason in _NOT_OPENED:                       # the target is outside the dump, or gone
        return None, None
    try:
        st = os.lstat(path)                         # never through a link; a pipe is not opened
        if not full or reason in _UNSTABLE or not stat.S_ISREG(st.st_mode):
            return st.st_size, None                 # a file that changed: its bytes are not the file's
        return st.st_size, sha256_file(path)
    except OSError:
        return None, None


# refused files whose bytes are never read again for the reject row: a symbolic link's target
# (outside the dump, or a folder), a file gone; a file that changed has a size but no sha256
_NOT_OPENED = frozenset({"symlink_outside_dump", "symlink_loop", "file_vanished"})
_UNSTABLE = frozenset({"file_changed_during_read"})


def stored_name(rel: str, reason: str) -> str:
    """The name a reject row stores: escaped (`core.printable`) for an unsafe name, whose raw
    characters must not reach a table, a log or a terminal; else the relative path itself."""
    surrogates = any("\ud800" <= c <= "\udfff" for c in rel)       # bytes that are not UTF-8
    return printable(rel, None) if reason == "unsafe_file_name" or surrogates else rel


def reject_of(kind: str, path: Path, rel: str, problem: FileProblem, full: bool) -> FileReject:
    size, sha = _size_and_sha(path, full, problem.reason)
    return FileReject(kind, stored_name(rel, problem.reason), size, sha, problem.reason, problem.detail)


def check_input(input_dir: Path, conf: IngestSettings, full: bool = True) -> FileCheck:
    """Every file under <input>/patents and <input>/transfers checked; layout problems (no
    folder, no files) are still a UserError, file problems are collected."""
    files: dict[str, list[InputFile]] = {}
    rejects: list[FileReject] = []
    aliases: dict[str, str] = {}
    for kind, listed in list_files(input_dir).items():
        files[kind] = []
        for entry in one_name_per_file(input_dir, listed, aliases):
            path, rel, fmt = entry
            try:
                if entry.problem is not None:
                    raise entry.problem
                files[kind].append(check_file(kind, path, rel, fmt, conf, full))
            except FileProblem as p:
                rejects.append(reject_of(kind, path, rel, p, full))
            except FileNotFoundError:               # gone while being streamed
                rejects.append(reject_of(kind, path, rel, _vanished(rel, "while it was read"), full))
            except OSError as exc:                  # unreadable while being streamed
                rejects.append(reject_of(kind, path, rel, FileProblem(rel, "unreadable_file", printable(
                    f"cannot read the file ({type(exc).__name__}: {exc.strerror or exc})")), full))
    return FileCheck(files, rejects, aliases)


def one_name_per_file(input_dir: Path, listed: Sequence, aliases: dict[str, str]) -> list:
    """The listing with every file once: a file reached under several names (symbolic links
    inside the dump) is read under its own name when that is listed, else under its first link
    by name; the other names go to `aliases` (name -> the name read), not read again."""
    root = os.path.realpath(input_dir)
    names: dict[str, list] = {}
    for entry in listed:
        if entry.problem is None:
            names.setdefault(str(entry[0]), []).append(entry)
    keep = {}
    for path, entries in names.items():
        direct = [e for e in entries if os.path.join(root, *e[1].split("/")) == path]
        kept = (direct or entries)[0]
        keep[path] = kept
        for e in entries:
            if e is not kept:
                aliases[e[1]] = kept[1]
    return [e for e in listed if e.problem is not None or keep[str(e[0])] is e]


def changed_files(files: Sequence[InputFile]) -> list[FileReject]:
    """The files that are no longer the ones the checks passed (size, mtime, inode, device):
    called after Spark (or the Excel reader) read them, so rows from a file that grew, was
    rewritten, replaced or removed meanwhile never reach bronze."""
    out = []
    for f in files:
        if f.identity is None:
            continue
        try:
            now = _identity(f.path, f.relpath, "while it was read")
        except FileProblem as p:
            out.append(reject_of(f.kind, f.path, f.relpath, p, full=False))
            continue
        if now != f.identity:
            out.append(reject_of(f.kind, f.path, f.relpath, FileProblem(
                f.relpath, "file_changed_during_read", identity_change(f.identity, now)), full=False))
    return out


def without_files(check: FileCheck) -> list[str]:
    """Kinds left with no usable file (every file of the kind refused)."""
    return [k for k in KINDS if not check.files.get(k)]


def file_rejects_frame(spark: SparkSession, rejects: Sequence[FileReject], run_id: str) -> DataFrame:
    """Rows of bronze.file_rejects."""
    rows = [(r.relpath, r.size, r.sha256, r.reason, r.detail, run_id) for r in rejects]
    return spark.createDataFrame(rows, FILE_REJECTS.schema)
