"""IPC symbols: normalise dirty symbols to one canonical form and parse them (SPEC §2).

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

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.text import FULLWIDTH, HALFWIDTH, translate_where_needed

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
_SEPARATOR_RUN = f" *{FIELD_SEPARATORS}[ {FIELD_SEPARATORS[1:-1]}]*"   # with the blank tokens around it

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


def symbol_level_column(symbol: Column) -> Column:
    """Spark version of `symbol_level` (null for a null symbol)."""
    return (F.when(symbol.contains(" "), F.lit("group"))
            .when(F.length(symbol) == 4, F.lit("subclass")).when(symbol.isNotNull(), F.lit("class")))


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


# ---------------------------------------------------------------------------------------
# Spark column expressions (built-in functions only; usable inside higher-order lambdas)
# ---------------------------------------------------------------------------------------

_PAIRS_TYPE = "array<struct<token:string,symbol:string>>"


# every character the map changes is outside printable ASCII or a lower-case letter
_NEEDS_MAP = r"[^\x20-\x60\x7B-\x7E]"


def _translate(col: Column) -> Column:
    return translate_where_needed(col, TRANSLATE_FROM, TRANSLATE_TO, _NEEDS_MAP)


def normalise_ipc_column(col: Column | str, mapped: bool = False) -> Column:
    """Spark version of `normalise_ipc`: canonical symbol string or null. `mapped`: the
    token is `split_ipc_column`'s, whose field went through the character map already."""
    c = F.col(col) if isinstance(col, str) else col
    c = c if mapped else _translate(c)
    for pattern, repl in TOKEN_STEPS:
        c = F.regexp_replace(c, pattern, java_replacement(repl))
    # null when CANONICAL does not match; unlike nullif(regexp_extract(..), '') this
    # references the chain once (nullif expands to if(x = '', null, x), doubling the work)
    return F.try_element_at(F.regexp_extract_all(c, F.lit(CANONICAL), F.lit(1)), F.lit(1))


def split_ipc_column(col: Column | str) -> Column:
    """Spark version of `split_ipc`: array<string> of tokens (empty array for null)."""
    c = _translate(F.coalesce(F.col(col) if isinstance(col, str) else col, F.lit("")))
    c = F.regexp_replace(c, FIELD_SPLIT_INSERT[0], java_replacement(FIELD_SPLIT_INSERT[1]))
    # Blank tokens (spaces only) are dropped without a lambda: a separator takes the spaces
    # before it and any spaces and separators after it, so a blank token can only be the
    # empty string left at either end, which array_remove drops.
    return F.array_remove(F.split(F.trim(c), _SEPARATOR_RUN), "")


def parsed_ipc_column(col: Column | str) -> Column:
    """Spark version of `parse_ipc_field`: array<struct<token, symbol>> in order, valid
    symbols deduplicated keeping the first occurrence, invalid tokens kept (symbol null)."""
    pairs = F.transform(split_ipc_column(col),
                        lambda t: F.struct(t.alias("token"), normalise_ipc_column(t).alias("symbol")))
    # A left fold keeps `pairs` referenced once, so the regex chain runs once per token.
    empty_pairs = F.array().cast(_PAIRS_TYPE)
    start = F.struct(F.array().cast("array<string>").alias("seen"), empty_pairs.alias("out"))

    def step(acc: Column, p: Column) -> Column:
        keep = F.struct(acc["seen"].alias("seen"), F.concat(acc["out"], F.array(p)).alias("out"))
        add = F.struct(F.concat(acc["seen"], F.array(p["symbol"])).alias("seen"),
                       F.concat(acc["out"], F.array(p)).alias("out"))
        return (F.when(p["symbol"].isNull(), keep)
                .when(F.array_contains(acc["seen"], p["symbol"]), acc)
                .otherwise(add))

    return F.aggregate(pairs, start, step, lambda acc: acc["out"])


def ipc_symbols_column(col: Column | str) -> Column:
    """Spark version of `ipc_symbols`: array<string> of valid symbols, first = main."""
    return F.transform(F.filter(parsed_ipc_column(col), lambda p: p["symbol"].isNotNull()),
                       lambda p: p["symbol"])


def symbol_parts(symbol: Column) -> dict[str, Column]:
    """Parts of a canonical symbol column: ipc_class, subclass, main_group, subgroup, sort_key
    (null where the symbol is null or has no such part)."""
    has_group = symbol.contains(" ")
    main_group = F.when(has_group, F.regexp_extract(symbol, r" ([0-9]+)/", 1).try_cast("int"))
    subgroup = F.when(has_group, F.substring_index(symbol, "/", -1))
    key = (main_group.cast("long") * F.lit(KEY_SCALE)
           + F.rpad(subgroup, SUBGROUP_DIGITS, "0").try_cast("long"))
    return {
        "ipc_class": F.substring(symbol, 1, 3),
        "subclass": F.when(F.length(symbol) >= 4, F.substring(symbol, 1, 4)),
        "main_group": main_group,
        "subgroup": subgroup,
        "sort_key": key,
    }


def explode_ipc(df: DataFrame, id_col: str = "application_no", ipc_col: str = "ipc") -> DataFrame:
    """One row per IPC token of each patent (SPEC §2 normal form).

    Input: `id_col`, `ipc_col` (raw IPC field). Output columns:
    `id_col`, position (1-based order of the token in the field; 1 = main), ipc_token
    (after the character map), symbol (canonical or null), valid, ipc_class, subclass,
    main_group, subgroup, sort_key. Repeats of a symbol are kept here (they cannot change a
    match; `inventory.classify_green` deduplicates the list keeping the first occurrence).
    A patent without any token keeps one row with position and symbol null and valid
    false, so that every input patent reaches `classify_green`.
    """
    # Tokens are exploded first and normalised as a top-level column: Spark generates code
    # for it there (about twice as fast as evaluating the chain inside an array lambda).
    exploded = df.select(F.col(id_col), F.posexplode_outer(split_ipc_column(ipc_col)).alias("_pos", "ipc_token"))
    with_symbol = exploded.select(id_col, "_pos", "ipc_token",
                                  normalise_ipc_column("ipc_token", mapped=True).alias("symbol"))
    symbol = F.col("symbol")
    parts = symbol_parts(symbol)
    return with_symbol.select(
        F.col(id_col),
        (F.col("_pos") + 1).alias("position"),
        "ipc_token",
        symbol,
        symbol.isNotNull().alias("valid"),
        *[c.alias(name) for name, c in parts.items()],
    )
