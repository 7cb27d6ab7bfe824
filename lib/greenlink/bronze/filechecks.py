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
"""
from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession

from greenlink.bronze.excel import xlsx_header
from greenlink.bronze.layout import (KINDS, FileProblem, IngestConf, InputFile, csv_headers, guess_encoding,
                                     list_files, match_columns, parquet_header, sha256_file, sniff_bytes,
                                     unknown_format)
from greenlink.bronze.schema import FILE_REJECTS
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
    """Result of the pass: the usable files by kind and every refused file, in listing order."""

    files: Mapping[str, list[InputFile]]
    rejects: list[FileReject]

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


def check_file(kind: str, path: Path, rel: str, fmt: str | None, conf: IngestConf, full: bool = True) -> InputFile:
    """The file as an InputFile (format, encoding, sha256, header mapping); a FileProblem if
    it cannot be ingested. Reads the head, then (`full`) streams the whole file once."""
    if fmt is None:
        raise unknown_format(path, rel)
    try:
        size = path.stat().st_size
        head = _head(path)
    except OSError as exc:
        raise FileProblem(rel, "unreadable_file", f"cannot read the file ({type(exc).__name__}: "
                                                  f"{exc.strerror or exc})") from None
    if size == 0:
        raise FileProblem(rel, "empty_file", "the file is empty (0 bytes)")
    encoding = rows = sha = None
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
        headers = xlsx_header(path, rel, conf.xlsx_max_bytes)
    if full and sha is None:
        sha = sha256_file(path)
    columns = match_columns(headers, conf.kinds[kind], rel)
    return InputFile(kind, path, rel, fmt, size, headers, columns, encoding, sha, rows)


def _size_and_sha(path: Path, full: bool) -> tuple[int | None, str | None]:
    try:
        return path.stat().st_size, sha256_file(path) if full else None
    except OSError:
        return None, None


def check_input(input_dir: Path, conf: IngestConf, full: bool = True) -> FileCheck:
    """Every file under <input>/patents and <input>/transfers checked; layout problems (no
    folder, no files) are still a UserError, file problems are collected."""
    files: dict[str, list[InputFile]] = {}
    rejects: list[FileReject] = []
    for kind, listed in list_files(input_dir).items():
        files[kind] = []
        for path, rel, fmt in listed:
            try:
                files[kind].append(check_file(kind, path, rel, fmt, conf, full))
            except FileProblem as p:
                size, sha = _size_and_sha(path, full)
                rejects.append(FileReject(kind, rel, size, sha, p.reason, p.detail))
            except OSError as exc:                  # vanished or unreadable while being streamed
                size, sha = _size_and_sha(path, full)
                rejects.append(FileReject(kind, rel, size, sha, "unreadable_file", printable(
                    f"cannot read the file ({type(exc).__name__}: {exc.strerror or exc})")))
    return FileCheck(files, rejects)


def without_files(check: FileCheck) -> list[str]:
    """Kinds left with no usable file (every file of the kind refused)."""
    return [k for k in KINDS if not check.files.get(k)]


def file_rejects_frame(spark: SparkSession, rejects: Sequence[FileReject], run_id: str) -> DataFrame:
    """Rows of bronze.file_rejects."""
    rows = [(r.relpath, r.size, r.sha256, r.reason, r.detail, run_id) for r in rejects]
    return spark.createDataFrame(rows, FILE_REJECTS.schema)
