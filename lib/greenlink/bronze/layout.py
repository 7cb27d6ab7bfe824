"""The input folder: which files, in which format and encoding, with which columns.

Everything here runs on the driver and touches only file metadata, header lines and the
bytes of each file once (streamed: sha256 and the encoding test), never parsed rows.
A problem with one file is a `FileProblem` (a UserError with a file-level reason code,
docs/ingest.md "File checks"); `filechecks` collects them over the whole dump.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow.parquet as pq

from greenlink import __version__
from greenlink.bronze.tables import PATENT_TYPES
from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.core.printable import printable
from greenlink.core.text import fold_width_lower_str, text_key

KINDS = ("patents", "transfers")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}
_EXPECTED = "expected .csv, .parquet or .xlsx"
_CHUNK = 1 << 20


class FileProblem(UserError):
    """Why one input file cannot be read: a reason code of `bronze.FILE_REASONS` and a short
    detail (input values in it already made printable). The message is `<file>: <detail>`."""

    def __init__(self, relpath: str, reason: str, detail: str) -> None:
        self.relpath, self.reason, self.detail = relpath, reason, printable(detail, limit=None)
        super().__init__(f"{printable(relpath)}: {self.detail}")


@dataclass(frozen=True)
class KindSettings:
    """Columns of one kind of record (conf/headers.yaml): canonical names in conf order,
    the required ones, and each one's accepted header spellings (normalised), in priority order."""

    kind: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    aliases: Mapping[str, tuple[str, ...]]


# Defaults of the .xlsx unpacking limits (conf/headers.yaml `reader`, docs/ingest.md "File checks"):
# what the workbook's zip may unpack to in total, the largest compression ratio of an entry that
# unpacks to more than ZIP_RATIO_FLOOR bytes, and the number of entries. A real 20 MB workbook
# unpacks to some 100-200 MB of XML at ratios of 5-30; deflate tops out near 1,032.
XLSX_MAX_UNPACKED_BYTES = 200_000_000
XLSX_MAX_RATIO = 200
XLSX_MAX_ENTRIES = 10_000
ZIP_RATIO_FLOOR = 1 << 20


@dataclass(frozen=True)
class IngestSettings:
    kinds: Mapping[str, KindSettings]
    patent_types: Mapping[str, str]          # normalised spelling -> invention | utility | design
    xlsx_max_bytes: int
    utf8_evidence_chars: int
    digest: str                              # sha256 of the conf file: part of the input fingerprint
    xlsx_max_unpacked_bytes: int = XLSX_MAX_UNPACKED_BYTES
    xlsx_max_ratio: int = XLSX_MAX_RATIO
    xlsx_max_entries: int = XLSX_MAX_ENTRIES


def type_key(value: str) -> str:
    """Patent-type spelling as matched: the folding Spark applies in `checks.patent_type`
    (full-width -> ASCII, ASCII letters lower case, whitespace removed)."""
    return "".join(fold_width_lower_str(value).split())


def kind_confs(data: dict | None, path: Path, kinds: Sequence[str]) -> dict[str, KindSettings]:
    """The header sections `kinds` of a parsed headers.yaml, validated: aliases for every
    column, required + optional listing each once, no header alias of two columns."""
    out = {}
    for kind in kinds:
        section = (data or {}).get(kind)
        if not isinstance(section, dict) or not isinstance(section.get("aliases"), dict):
            raise UserError(f"{path}: section '{kind}' with 'aliases' is missing")
        aliases = {c: tuple(dict.fromkeys(text_key(a) for a in (names or [])))
                   for c, names in section["aliases"].items()}
        required = tuple(section.get("required") or ())
        optional = tuple(section.get("optional") or ())
        if set(required) | set(optional) != set(aliases) or set(required) & set(optional):
            raise UserError(f"{path}: {kind}: required + optional must list each aliased column once")
        seen: dict[str, str] = {}
        for c, names in aliases.items():
            if not names:
                raise UserError(f"{path}: {kind}.{c} has no header aliases")
            for a in names:
                if seen.setdefault(a, c) != c:
                    raise UserError(f"{path}: {kind}: header '{a}' is an alias of both {seen[a]} and {c}")
        out[kind] = KindSettings(kind, tuple(aliases), required, aliases)
    return out


def load_conf(path: Path | None = None) -> IngestSettings:
    """Validated conf/headers.yaml."""
    path = path or conf_file("headers.yaml")
    data = load_yaml(path)
    kinds = kind_confs(data, path, KINDS)
    types: dict[str, str] = {}
    spellings = data.get("patent_types") or {}
    if sorted(spellings) != sorted(PATENT_TYPES):
        raise UserError(f"{path}: patent_types must list spellings for exactly {', '.join(PATENT_TYPES)}")
    for canonical, names in spellings.items():
        for n in names:
            if types.setdefault(type_key(str(n)), canonical) != canonical:
                raise UserError(f"{path}: patent type spelling '{n}' listed under two types")
    reader = data.get("reader") or {}
    try:
        xlsx_max, evidence = int(reader["xlsx_max_bytes"]), int(reader["utf8_evidence_chars"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: reader.xlsx_max_bytes and reader.utf8_evidence_chars must be integers") from None
    unpack = {}
    for key, default in (("xlsx_max_unpacked_bytes", XLSX_MAX_UNPACKED_BYTES), ("xlsx_max_ratio", XLSX_MAX_RATIO),
                         ("xlsx_max_entries", XLSX_MAX_ENTRIES)):
        try:
            unpack[key] = int(reader.get(key, default))
        except (TypeError, ValueError):
            raise UserError(f"{path}: reader.{key} must be an integer") from None
        if unpack[key] <= 0:
            raise UserError(f"{path}: reader.{key} must be positive")
    return IngestSettings(kinds, types, xlsx_max, evidence, hashlib.sha256(path.read_bytes()).hexdigest(), **unpack)


def match_columns(headers: Sequence[object], conf: KindSettings, source: str) -> dict[str, int | None]:
    """0-based position of each canonical column in `headers` (None if absent).

    When several headers match one column, the one whose alias comes first in conf wins
    (then the leftmost). A missing required column is a UserError naming the file, the
    column(s), and the headers the file has."""
    normalised = [text_key(h) for h in headers]
    found: dict[str, int | None] = {}
    for column in conf.columns:
        found[column] = next((normalised.index(a) for a in conf.aliases[column] if a in normalised), None)
    missing = [c for c in conf.required if found[c] is None]
    if missing:
        # the headers come from the file: escaped, each and all together cut (a binary first line)
        has = printable(", ".join(printable(h, 60) for h in headers if str(h or "").strip()), 300) or "no header"
        wanted = "; ".join(f"'{c}' (one of: {', '.join(conf.aliases[c])})" for c in missing)
        raise FileProblem(source, "missing_columns", f"missing required column {wanted}; the file has: {has}")
    return found


@dataclass(frozen=True)
class InputFile:
    """One raw file. `relpath` (posix, relative to the input folder) is its `source_file`."""

    kind: str
    path: Path
    relpath: str
    fmt: str                                   # csv | parquet | xlsx
    size: int
    headers: tuple[str, ...]
    columns: Mapping[str, int | None]          # canonical column -> 0-based header position
    encoding: str | None = None                # csv: UTF-8, UTF-8-BOM or GB18030
    sha256: str | None = None
    parquet_rows: int | None = None            # from the Parquet footer
    identity: tuple[int, int, int, int] | None = None   # (size, mtime_ns, inode, device) when checked
    zip_limits: tuple[int, int, int] | None = None      # xlsx: (max unpacked bytes, max ratio, max entries)

    def describe(self) -> str:
        parts = [self.fmt] + ([self.encoding] if self.encoding else []) + [f"{self.size} bytes"]
        if self.sha256:
            parts.append(f"sha256={self.sha256}")
        return ";".join(parts)


# name characters that are never part of a file name a data export writes: controls (a newline,
# an ANSI escape), format characters (a bidi override), line/paragraph separators, and lone
# surrogates (bytes that are not UTF-8, as Python lists them)
_UNSAFE_NAME = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _hidden(name: str) -> bool:
    # Hadoop/Spark convention: _SUCCESS, .crc and dot-folders are not data; a name holding a
    # `..` component (`..\\x.csv`) is not hidden but refused (unsafe_file_name)
    return name.startswith((".", "_")) and not _traversal(name)


def _traversal(name: str) -> bool:
    """A `..` component, with either separator: what another tool would read as "parent"."""
    return ".." in name.replace("\\", "/").split("/")


def unsafe_name(rel: str) -> str | None:
    """Why a relative path from the listing is not a safe file name, else None."""
    bad = sorted({c for c in rel if unicodedata.category(c) in _UNSAFE_NAME})
    if bad:
        return (f"the file name holds control or format characters ({', '.join(printable(c) for c in bad)}); "
                "rename the file")
    if any(_traversal(part) for part in rel.split("/")):
        return "the file name holds a '..' path component; rename the file"
    return None


class Listed(tuple):
    """One listed file: (path, relpath, format or None) plus `problem`, a FileProblem found while
    listing (a symbolic link out of the dump or in a loop, not a regular file), else None.

    `path` is the file's real path (symbolic links resolved, checked to lie inside the dump);
    a refused entry keeps its own path, which is never opened."""

    problem: FileProblem | None

    def __new__(cls, path: Path, rel: str, fmt: str | None, problem: FileProblem | None = None) -> "Listed":
        self = super().__new__(cls, (path, rel, fmt))
        self.problem = problem
        return self


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(root: str, folder: str, rel: str, chain: tuple[str, ...], out: list[Listed]) -> None:
    """Every entry under `folder` (its real path: `chain[-1]`), in name order, without following
    a symbolic link before its target is known to lie inside the dump `root`.

    A link to a file inside the dump is listed under its own name with the target's real path;
    a link to a folder inside the dump is walked like a folder, unless the folder is already
    being walked or holds the kind's folder (a loop: `symlink_loop`). A link whose target is
    outside the dump (or missing) is refused, its target never opened."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        out.append(Listed(Path(folder), rel, None, FileProblem(
            rel, "unreadable_file", f"cannot list the folder ({type(exc).__name__}: {exc.strerror or exc})")))
        return
    for e in entries:
        if _hidden(e.name):
            continue
        erel = f"{rel}/{e.name}"
        fmt = FORMATS.get(Path(e.name).suffix.lower())
        try:
            link = e.is_symlink()
            real = os.path.realpath(e.path) if link else os.path.join(chain[-1], e.name)
            st = os.stat(real) if link else e.stat(follow_symlinks=False)
        except FileNotFoundError:
            if link and _inside(os.path.realpath(e.path), root):
                out.append(Listed(Path(e.path), erel, fmt, FileProblem(
                    erel, "unreadable_file", "a symbolic link whose target does not exist")))
            elif link:
                out.append(Listed(Path(e.path), erel, fmt, _outside(erel, e.path)))
            continue                                # vanished while listed: not a file of the dump
        except OSError as exc:
            out.append(Listed(Path(e.path), erel, fmt, FileProblem(
                erel, "unreadable_file", f"cannot read the entry ({type(exc).__name__}: {exc.strerror or exc})")))
            continue
        if link and not _inside(real, root):
            out.append(Listed(Path(e.path), erel, fmt, _outside(erel, e.path)))
        elif stat.S_ISDIR(st.st_mode):
            if real in chain or _inside(chain[0], real):
                out.append(Listed(Path(e.path), erel, fmt, FileProblem(
                    erel, "symlink_loop", "a symbolic link to a folder that contains it (a loop); "
                                          "remove the link")))
            else:
                _walk(root, os.path.join(folder, e.name), erel, chain + (real,), out)
        elif stat.S_ISREG(st.st_mode):
            out.append(Listed(Path(real), erel, fmt))
        else:
            out.append(Listed(Path(real), erel, fmt, FileProblem(
                erel, "unreadable_file", "not a regular file (a pipe, socket or device); a dump holds files")))


def _outside(rel: str, link: str) -> FileProblem:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return FileProblem(rel, "symlink_outside_dump", f"a symbolic link to '{printable(target, 120)}', outside the "
                                                    "input folder; copy the file into the dump instead")


def walk_folder(input_dir: Path, folder_name: str) -> list[Listed]:
    """Every file under <input>/<folder_name> (see `_walk`); the kind's folder itself may be a
    link into the dump, a link outside it is one refused entry."""
    root = os.path.realpath(input_dir)
    folder = os.path.join(root, folder_name)
    real = os.path.realpath(folder)
    if not _inside(real, root) or real == root:
        problem = (_outside(folder_name, folder) if not _inside(real, root) else FileProblem(
            folder_name, "symlink_loop", "a symbolic link to the input folder itself (a loop)"))
        return [Listed(Path(folder), folder_name, None, problem)]
    out: list[Listed] = []
    _walk(root, folder, folder_name, (real,), out)
    return out


def folder_files(input_dir: Path, folder_name: str, needs: str) -> list[Listed]:
    """(path, relpath, format or None for an unknown extension) of every file under
    <input>/<folder_name>, each with the problem found while listing (`Listed`); `needs` says
    in the error which folders the caller expects."""
    folder = input_dir / folder_name
    if not folder.is_dir():
        raise UserError(f"no {folder_name}/ folder in {input_dir} ({needs})")
    files = walk_folder(input_dir, folder_name)
    if not files:
        raise UserError(f"no files found in {folder} ({_EXPECTED})")
    return files


def unknown_format(path: Path, rel: str) -> FileProblem:
    return FileProblem(rel, "unknown_format", f"unknown file format '{path.suffix or '(no extension)'}' ({_EXPECTED})")


def list_folder(input_dir: Path, folder_name: str, needs: str) -> list[tuple[Path, str, str]]:
    """(path, relpath, format) of every data file under <input>/<folder_name>; an unknown
    extension or a problem found while listing is a FileProblem."""
    listed = []
    for entry in folder_files(input_dir, folder_name, needs):
        p, rel, fmt = entry
        if entry.problem is not None:
            raise entry.problem
        if fmt is None:
            raise unknown_format(p, rel)
        listed.append((p, rel, fmt))
    return listed


def list_files(input_dir: Path) -> dict[str, list[Listed]]:
    """(path, relpath, format or None) of every file under <input>/patents and <input>/transfers.
    Raises UserError for layout problems only (no input folder, a kind's folder missing or empty)."""
    if not input_dir.exists():
        raise UserError(f"input folder not found: {input_dir}")
    if not input_dir.is_dir():
        raise UserError(f"input is not a folder: {input_dir}")
    needs = "an input needs patents/ and transfers/, docs/raw_formats.md"
    return {kind: folder_files(input_dir, kind, needs) for kind in KINDS}


def sniff_bytes(path: Path, evidence_chars: int) -> tuple[str, str]:
    """(sha256, encoding) of a CSV file in one streamed pass over its bytes.

    Encoding: strict UTF-8 decoding of the whole file; `UTF-8-BOM` / `UTF-8` if it
    succeeds. If it fails before `evidence_chars` valid non-ASCII characters were seen,
    the file is GB18030 (a superset of GBK and GB2312); if after, it is UTF-8 with
    damaged bytes, whose lines the reader rejects as malformed_row."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8, evidence, head = True, 0, b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if len(head) < 4:
                head += chunk[:4]
            if utf8:
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    utf8 = False
                    # the valid part of this chunk still counts as evidence
                    text = chunk[:exc.start].decode("utf-8", errors="ignore")
                if evidence < evidence_chars:
                    evidence += len(text) - len(text.encode("ascii", "ignore"))
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return digest.hexdigest(), "UTF-8-BOM" if head.startswith(codecs.BOM_UTF8) else "UTF-8"
    return digest.hexdigest(), "UTF-8" if evidence >= evidence_chars else "GB18030"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(path: Path) -> bytes:
    with path.open("rb") as f:
        line = f.readline(_CHUNK)
    return line.rstrip(b"\r\n")


def guess_encoding(raw: bytes) -> str:
    """Encoding of a header line alone (used before the full pass)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "UTF-8-BOM"
    try:
        raw.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        return "GB18030"


def python_codec(encoding: str) -> str:
    return {"UTF-8": "utf-8", "UTF-8-BOM": "utf-8-sig", "GB18030": "gb18030"}[encoding]


def csv_headers(path: Path, encoding: str) -> tuple[str, ...]:
    """Header fields of a CSV file's first line (RFC 4180 quoting)."""
    text = _first_line(path).decode(python_codec(encoding), errors="replace").lstrip("\ufeff")
    return tuple(next(csv.reader([text]), []))


def parquet_header(path: Path, rel: str) -> tuple[tuple[str, ...], int]:
    """Column names and row count from the Parquet footer alone (no data page is read)."""
    try:
        pf = pq.ParquetFile(path)
        return tuple(pf.schema_arrow.names), int(pf.metadata.num_rows)
    except Exception as exc:  # noqa: BLE001 - any reader error means "not a Parquet file"
        first = (str(exc).splitlines() or [""])[0]
        raise FileProblem(rel, "unreadable_parquet",
                          f"not a readable Parquet file ({type(exc).__name__}: {printable(first)})") from None


def fingerprint(files: Sequence[InputFile], conf: IngestSettings, logic: str, rejected: Sequence[str] = ()) -> str:
    """sha256 over the names, sizes and contents of a kind's files, the conf and the code, and
    the names of the kind's files refused by the file checks (`rejected`): bronze built while a
    file was quarantined is rewritten once that file is removed, even if nothing else changed."""
    payload = {"files": sorted((f.relpath, f.size, f.sha256) for f in files), "rejected": sorted(rejected),
               "conf": conf.digest, "logic": logic, "version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def rules_digest(conf: IngestSettings, logic: str) -> str:
    """sha256 of what turns a line into a bronze row besides the line and its file's layout
    (conf, code, version): a line from a month ingested under the same rules is reused as is."""
    payload = {"conf": conf.digest, "logic": logic, "version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def logic_digest() -> str:
    """sha256 of the code that decides bronze content (this package, reference/ids.py and dates.py,
    core/printable.py, text.py and rejects.py): a changed rule makes the next ingest rewrite the
    tables instead of skipping."""
    here = Path(__file__).resolve().parent
    shared = ("reference/ids.py", "reference/dates.py", "core/printable.py", "core/text.py", "core/rejects.py")
    sources = sorted(here.glob("*.py")) + [here.parent / n for n in shared]
    digest = hashlib.sha256()
    for p in sources:
        digest.update(p.name.encode() + b"\0" + p.read_bytes())
    return digest.hexdigest()
