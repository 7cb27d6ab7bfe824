"""IPC symbols: normalise dirty symbols to one canonical form and parse them (SPEC §2).

Here the rules as data and the pure-Python reference; their Spark column expressions are
`greenlink.silver.ipc_columns`, their DuckDB query bench/bench_green_duckdb.py.

Canonical form: `F03D 1/06` (subclass, one space, main group without leading zeros, `/`,
subgroup digits with trailing zeros beyond two dropped); a subclass alone is `F03D`, a
class alone `B61`. Anything else is invalid (None / null) and counted by the caller.

A class or subclass alone (`H01L`) is kept as a valid symbol, at a coarser `level`
(`class` / `subclass` / `group`, `symbol_level`): SPEC §2 matches groups, so such a symbol
can only be covered by class or subclass entries, never by a group, subgroup or range entry.
It is flagged, not dropped: the classify stage counts accepted patents whose main IPC has no
group (`patents.main_ipc_without_group` in `_meta.runs`; in silver.patents `main_ipc` has
no space), docs/green.md.

Accepted dirty forms (each step below is one regular expression or character map, applied
in order, identically in Python, Spark and DuckDB):

1. map full-width characters (`Ｆ０３Ｄ／０６（）；，`) to ASCII, `、` to `,`, lower-case
   letters to upper case, and every Unicode space (incl. `\u3000`, NBSP) to a space;
2. drop version dates `(2006.01)` / `[2006.01]` (full-width brackets were mapped in 1);
3. strip surrounding punctuation and quotes (anything not A–Z/0–9 at either end);
4. drop interior spaces (`F03D  1/06`, `F03D 1 / 06`);
5. the 14-character form `F03D0001060000` (4-char subclass, main group right-aligned
   in 4 zero-padded digits, subgroup left-aligned in 6 zero-padded digits) becomes `F03D0001/060000`;
6. leading zeros of the main group and trailing zeros of the subgroup (down to two
   digits) are padding: `F03D0001/060000` -> `F03D 1/06`;
7. the result must read `[A-H]dd`, `[A-H]dd[A-Z]` or `[A-H]dd[A-Z] m/s` with main group
   m in 1..9999 and 2–6 subgroup digits s; otherwise the symbol is invalid (e.g. `F03D 1/6`,
   `F03D 0/06`, `I01B 1/00`, `F03D 1`).

An IPC field (`;`, `,`, `；`, `，`, `、`, `|` or whitespace separated; first = main) splits
into tokens; a whitespace separates two symbols only when the next symbol's section
letter and class digits follow it (`F03D 1/06 H02J 7/00`), since spaces also occur inside
one symbol. Valid symbols are deduplicated keeping the first occurrence.

Order of symbols (SPEC §2): subclass, then main group numerically, then subgroup digits as
a decimal fraction. Within a subclass `sort_key = main_group * 10**6 + int(subgroup
right-padded with zeros to 6 digits)` realises that order (`5/40` < `5/403` < `5/41`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from greenlink.core.text import FULLWIDTH, HALFWIDTH

# ---------------------------------------------------------------------------------------
# The normalisation as data: one character map and a list of regex steps, shared by the
# Python reference, the Spark column expression and the DuckDB benchmark query.
# Replacements are written Python/RE2 style (\1); `java_replacement` converts for Spark.
# ---------------------------------------------------------------------------------------

SUBGROUP_DIGITS = 6                      # subgroup width of the 14-character layout
KEY_SCALE = 10 ** SUBGROUP_DIGITS         # sort_key = main_group * KEY_SCALE + subgroup fraction
NO_PARSEABLE_IPC = "no_parseable_ipc"     # reject reason when no symbol of a patent is valid

_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200C)))
           + "\u2028\u2029\u202f\u205f\u3000\ufeff")


def _char_map() -> tuple[str, str]:
    src, dst = [], []
    for wide, narrow in zip(FULLWIDTH, HALFWIDTH):        # full-width ASCII block (U+3000: a space below)
        if wide not in _SPACES:
            src.append(wide)
            dst.append(narrow.upper())
    for c in "abcdefghijklmnopqrstuvwxyz":                # ASCII-only upper-casing (no locale rules)
        src.append(c)
        dst.append(c.upper())
    src.append("\u3001")                                   # 、 ideographic comma: a list separator
    dst.append(",")
    for c in _SPACES:
        src.append(c)
        dst.append(" ")
    assert len(set(src)) == len(src)
    return "".join(src), "".join(dst)


TRANSLATE_FROM, TRANSLATE_TO = _char_map()
_TABLE = {ord(a): b for a, b in zip(TRANSLATE_FROM, TRANSLATE_TO)}

# field level: a space run followed by a section letter + class digits starts a new symbol
FIELD_SPLIT_INSERT = (r" +([A-H][0-9])", r";\1")
FIELD_SEPARATORS = r"[;,|]"
SEPARATOR_RUN = f" *{FIELD_SEPARATORS}[ {FIELD_SEPARATORS[1:-1]}]*"   # with the blank tokens around it

# token level, in order; every step replaces all matches
TOKEN_STEPS: tuple[tuple[str, str], ...] = (
    (r"[(\[] *[0-9]{4} *[.\-] *[0-9]{1,2} *[)\]]", ""),                      # version date
    (r"^[^A-Z0-9]+|[^A-Z0-9]+$", ""),                                          # surrounding junk
    (r" +", ""),                                                               # interior spaces
    (r"^([A-H][0-9]{2}[A-Z])([0-9]{4})([0-9]{6})$", r"\1\2/\3"),               # 14-char layout
    (r"^([A-H][0-9]{2}[A-Z])0*([1-9][0-9]{0,3})/([0-9]{2}(?:[0-9]*[1-9])?)0*$", r"\1 \2/\3"),
)
CANONICAL = r"^([A-H][0-9]{2}(?:[A-Z](?: [1-9][0-9]{0,3}/[0-9]{2,6})?)?)$"


def java_replacement(repl: str) -> str:
    r"""`\1` (Python/RE2) -> `$1` (java.util.regex, used by Spark's regexp_replace)."""
    return re.sub(r"\\(\d)", r"$\1", repl)


# ---------------------------------------------------------------------------------------
# Pure Python reference
# ---------------------------------------------------------------------------------------

_TOKEN_STEPS_RE = tuple((re.compile(p), r) for p, r in TOKEN_STEPS)
_CANONICAL_RE = re.compile(CANONICAL)
_FIELD_INSERT_RE = re.compile(FIELD_SPLIT_INSERT[0])
_FIELD_SEP_RE = re.compile(FIELD_SEPARATORS)


@dataclass(frozen=True, order=False)
class IpcSymbol:
    """A parsed canonical symbol. `main_group`/`subgroup` are None for a class or subclass."""

    symbol: str                 # canonical text, e.g. "F03D 1/06"
    ipc_class: str              # "F03"
    subclass: str | None        # "F03D" (None for a class alone)
    main_group: int | None      # 1
    subgroup: str | None        # "06" (digits, at least two)

    @property
    def level(self) -> str:
        """`group` for a full symbol, `subclass` / `class` for a subclass or class alone."""
        return symbol_level(self.symbol)

    @property
    def sort_key(self) -> int | None:
        """Order within the subclass (SPEC §2); None without a group."""
        if self.main_group is None or self.subgroup is None:
            return None
        return sort_key(self.main_group, self.subgroup)


LEVELS = ("class", "subclass", "group")


def symbol_level(symbol: str) -> str:
    """Level of a canonical symbol: `group` (`F03D 1/06`), `subclass` (`F03D`), `class` (`B61`)."""
    return "group" if " " in symbol else ("subclass" if len(symbol) == 4 else "class")


def sort_key(main_group: int, subgroup: str) -> int:
    """main_group * 10**6 + subgroup digits read as a 6-digit decimal fraction."""
    return main_group * KEY_SCALE + int(subgroup.ljust(SUBGROUP_DIGITS, "0"))


def normalise_ipc(raw: str | None) -> str | None:
    """Canonical text of one dirty symbol (`f03d1/06 (2006.01)` -> `F03D 1/06`), None if invalid."""
    if raw is None:
        return None
    s = raw.translate(_TABLE)
    for rx, repl in _TOKEN_STEPS_RE:
        s = rx.sub(repl, s)
    m = _CANONICAL_RE.match(s)
    return m.group(1) if m else None


def parse_canonical(symbol: str) -> IpcSymbol:
    """Split a canonical symbol (output of `normalise_ipc`) into its parts."""
    if not _CANONICAL_RE.match(symbol):
        raise ValueError(f"not a canonical IPC symbol: {symbol!r}")
    if " " not in symbol:
        return IpcSymbol(symbol, symbol[:3], symbol[:4] if len(symbol) == 4 else None, None, None)
    subclass, group = symbol.split(" ")
    main, sub = group.split("/")
    return IpcSymbol(symbol, subclass[:3], subclass, int(main), sub)


def parse_ipc(raw: str | None) -> IpcSymbol | None:
    """Normalise and parse one dirty symbol; None if invalid."""
    s = normalise_ipc(raw)
    return None if s is None else parse_canonical(s)


def split_ipc(field: str | None) -> list[str]:
    """Tokens of an IPC field in order (character map applied, blank tokens dropped, spaces
    around a token trimmed)."""
    if field is None:
        return []
    s = _FIELD_INSERT_RE.sub(FIELD_SPLIT_INSERT[1], field.translate(_TABLE))
    return [t.strip(" ") for t in _FIELD_SEP_RE.split(s) if t.replace(" ", "")]


def parse_ipc_field(field: str | None) -> list[tuple[str, str | None]]:
    """(token, canonical symbol or None) in order; a valid symbol seen before is dropped,
    invalid tokens are all kept (each is one invalid symbol to count)."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for token in split_ipc(field):
        sym = normalise_ipc(token)
        if sym is not None:
            if sym in seen:
                continue
            seen.add(sym)
        out.append((token, sym))
    return out


def ipc_symbols(field: str | None) -> list[str]:
    """Valid canonical symbols of a field, deduplicated, first = main."""
    return [s for _, s in parse_ipc_field(field) if s is not None]
