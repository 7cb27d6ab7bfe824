"""Excel workbooks on the driver (small files only, `reader.xlsx_max_bytes`): the first sheet's
header and its cells as the text a CSV export would hold. Spark reads the rows in `readers`.

An .xlsx is a zip archive, and a small one can unpack to gigabytes (a zip bomb). Before the
Excel reader sees a workbook, `zip_problem` reads the archive's end record and central directory
(no entry unpacked): the number of entries, the sizes they declare unpacked and each entry's
compression ratio must stay within `IngestSettings.xlsx_max_*` (conf/headers.yaml `reader`).
Declared sizes can lie: with `stream=True` (the full file check) every entry is inflated once,
in 64 KiB steps and counted, and one that unpacks to more than it declares is refused. The
reader itself (openpyxl, through `zipfile`) stops each entry at its declared size, so what it
holds in memory stays within the checked limits; the workbook is opened on one file descriptor,
checked again on it, so the file read is the file checked.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO, Iterator

from greenlink.bronze.layout import (XLSX_MAX_ENTRIES, XLSX_MAX_RATIO, XLSX_MAX_UNPACKED_BYTES, ZIP_RATIO_FLOOR,
                                     FileProblem)
from greenlink.core.printable import printable

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_LOCAL_HEADER = b"PK\x03\x04"
_STEP = 1 << 16
_CONVERT = "convert it to CSV"


def _unreadable(rel: str, exc: BaseException | str) -> FileProblem:
    if isinstance(exc, str):
        return FileProblem(rel, "unreadable_xlsx", f"not a readable .xlsx workbook ({exc})")
    first = (str(exc).splitlines() or [""])[0]
    return FileProblem(rel, "unreadable_xlsx",
                       f"not a readable .xlsx workbook ({type(exc).__name__}: {printable(first)})")


def _bomb(rel: str, why: str) -> FileProblem:
    return FileProblem(rel, "zip_bomb", f"{why}; refused before unpacking (a zip bomb?): {_CONVERT} or "
                                        "raise the limit in conf/headers.yaml reader")


def zip_entry_count(f: BinaryIO) -> int | None:
    """Entries the archive's end record declares (zip64 included), read from the file's last
    64 KiB; None when there is no end record (not a zip)."""
    f.seek(0, io.SEEK_END)
    size = f.tell()
    start = max(0, size - (1 << 16) - 22)
    f.seek(start)
    tail = f.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    count = struct.unpack("<H", tail[at + 10:at + 12])[0]
    locator = tail.rfind(_EOCD64_LOCATOR, 0, at)
    if count == 0xFFFF or locator >= 0:
        if locator < 0 or len(tail) - locator < 20:
            return count
        offset = struct.unpack("<Q", tail[locator + 8:locator + 16])[0]
        if offset >= size:
            return count
        f.seek(offset)
        record = f.read(56)
        if len(record) == 56 and record[:4] == _EOCD64:
            count = max(count, struct.unpack("<Q", record[32:40])[0])
    return count


def _inflated_size(f: BinaryIO, info: zipfile.ZipInfo, cap: int) -> int:
    """Bytes the entry's data unpacks to, counted up to `cap` + 1 (never more is inflated):
    the entry's own stream from its local header, independent of the sizes it declares."""
    f.seek(info.header_offset)
    header = f.read(30)
    if len(header) < 30 or header[:4] != _LOCAL_HEADER:
        raise zipfile.BadZipFile(f"no local header for {info.filename!r}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    f.seek(info.header_offset + 30 + name_len + extra_len)
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size                   # stored: the reader reads exactly that many bytes
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise zipfile.BadZipFile(f"compression method {info.compress_type} of {info.filename!r} "
                                 "(Excel writes deflate)")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    while not inflate.eof and total <= cap:
        data = inflate.unconsumed_tail or f.read(_STEP)
        if not data:
            break                                   # truncated stream: the reader will say so
        total += len(inflate.decompress(data, _STEP))
    return total


def zip_problem(f: BinaryIO, rel: str, max_unpacked: int = XLSX_MAX_UNPACKED_BYTES,
                max_ratio: int = XLSX_MAX_RATIO, max_entries: int = XLSX_MAX_ENTRIES,
                stream: bool = False) -> None:
    """Raise FileProblem `zip_bomb` when the archive on `f` declares more entries, more unpacked
    bytes or a higher compression ratio than allowed, or (`stream`) an entry unpacks to more
    than it declares; `unreadable_xlsx` when it is not a zip archive. Memory: the central
    directory (bounded by the entry count, checked first) and one 64 KiB step."""
    try:
        count = zip_entry_count(f)
    except OSError as exc:
        raise _unreadable(rel, exc) from None
    if count is None:
        raise _unreadable(rel, "BadZipFile: File is not a zip file")
    if count > max_entries:
        raise _bomb(rel, f"the archive declares {count:,} entries (limit {max_entries:,}, reader.xlsx_max_entries)")
    try:
        f.seek(0)
        infos = zipfile.ZipFile(f).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _unreadable(rel, exc) from None
    if len(infos) > max_entries:
        raise _bomb(rel, f"the archive holds {len(infos):,} entries (limit {max_entries:,}, reader.xlsx_max_entries)")
    declared = sum(i.file_size for i in infos)
    if declared > max_unpacked:
        raise _bomb(rel, f"its entries declare {declared:,} bytes unpacked (limit {max_unpacked:,}, "
                         "reader.xlsx_max_unpacked_bytes)")
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > ZIP_RATIO_FLOOR and ratio > max_ratio:
            raise _bomb(rel, f"entry '{printable(i.filename, 80)}' declares {i.file_size:,} bytes from "
                             f"{i.compress_size:,} (ratio {ratio:,.0f}, limit {max_ratio:,}, reader.xlsx_max_ratio)")
    if not stream:
        return
    for i in infos:
        try:
            got = _inflated_size(f, i, i.file_size)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError) as exc:
            raise _unreadable(rel, exc) from None
        if got > i.file_size:
            raise _bomb(rel, f"entry '{printable(i.filename, 80)}' unpacks to more than the {i.file_size:,} "
                             "bytes it declares")


def open_first_sheet(path: Path, rel: str, max_unpacked: int = XLSX_MAX_UNPACKED_BYTES,
                     max_ratio: int = XLSX_MAX_RATIO, max_entries: int = XLSX_MAX_ENTRIES,
                     stream: bool = False, identity: tuple[int, int, int, int] | None = None,
                     ) -> tuple[object, Iterator[tuple]]:
    """(workbook, iterator of row value tuples) of the first sheet; close the workbook after use.

    The file is opened once (not following a symbolic link); its archive is checked on that
    descriptor (`zip_problem`) before openpyxl reads the same descriptor. Given `identity` (the
    file's (size, mtime_ns, inode, device) when the file checks passed it), a file that is no
    longer that one is `file_changed_during_read`, before anything is unpacked."""
    import openpyxl  # local: only .xlsx inputs need it

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise FileProblem(rel, "file_vanished", "the file disappeared after it was checked") from None
    except OSError as exc:
        raise _unreadable(rel, exc) from None
    f = os.fdopen(fd, "rb")
    try:
        if identity is not None:
            st = os.fstat(fd)
            now = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
            if now != tuple(identity):
                raise FileProblem(rel, "file_changed_during_read", identity_change(identity, now))
        zip_problem(f, rel, max_unpacked, max_ratio, max_entries, stream)
        f.seek(0)
        wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
    except FileProblem:
        f.close()
        raise
    except Exception as exc:  # noqa: BLE001 - any reader error means "not an .xlsx workbook"
        f.close()
        raise _unreadable(rel, exc) from None
    if not wb.worksheets:
        wb.close()
        f.close()
        raise FileProblem(rel, "unreadable_xlsx", "the workbook has no sheet")
    return _Closing(wb, f), wb.worksheets[0].iter_rows(values_only=True)


def identity_change(before: tuple[int, ...], after: tuple[int, ...]) -> str:
    """What changed between two (size, mtime_ns, inode, device) of a file, as a detail."""
    parts = []
    if before[0] != after[0]:
        parts.append(f"size {before[0]:,} -> {after[0]:,} bytes")
    if before[1] != after[1]:
        parts.append("modification time changed")
    if tuple(before[2:]) != tuple(after[2:]):
        parts.append("replaced by another file (inode changed)")
    return ("the file changed while it was read (" + ", ".join(parts or ["changed"])
            + "); rerun once the dump is complete")


class _Closing:
    """The workbook and its file: `close()` closes both."""

    def __init__(self, wb: object, f: BinaryIO) -> None:
        self.wb, self.f = wb, f

    def close(self) -> None:
        try:
            self.wb.close()
        finally:
            self.f.close()


def cell_text(value: object) -> str | None:
    """A cell as the text a CSV export would hold: dates ISO, whole numbers without `.0`."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def xlsx_header(path: Path, rel: str, max_bytes: int, max_unpacked: int = XLSX_MAX_UNPACKED_BYTES,
                max_ratio: int = XLSX_MAX_RATIO, max_entries: int = XLSX_MAX_ENTRIES,
                stream: bool = False, identity: tuple[int, int, int, int] | None = None) -> tuple[str, ...]:
    size = path.stat().st_size
    if size > max_bytes:
        raise FileProblem(rel, "file_too_large", f"{size:,} bytes is too big for the driver-side Excel reader "
                        f"(limit {max_bytes:,}, conf/headers.yaml reader.xlsx_max_bytes); convert it to CSV")
    wb, rows = open_first_sheet(path, rel, max_unpacked, max_ratio, max_entries, stream, identity)
    try:
        first = next(rows, ())
    finally:
        wb.close()
    headers = ["" if v is None else str(v) for v in first]
    while headers and not headers[-1].strip():      # empty cells right of the header are not columns
        headers.pop()
    return tuple(headers)
