"""Text and year helpers every stage shares: one width fold, one NFKC key, one year range.

- Width fold: the full-width ASCII block (U+FF01..U+FF5E) and the ideographic space U+3000
  map to half-width ASCII (`；（）ＡＢＣ１２３` -> `;()ABC123`), as a Spark `translate`
  (`fold_width`) and in Python (`fold_width_str`), so driver-side lookups match what the
  executors compute; `fold_width_lower` also lower-cases ASCII letters in the same map.
- `nfkc` / `text_key`: how a spelling from a file is matched against a reference list
  (headers, admin levels, city and province names, policy dictionaries).
- `PLAUSIBLE_YEARS`: the years any date or year column may hold (docs/raw_formats.md);
  table CHECK constraints and input checks use it. The study years are data
  (conf/panel.yaml `years`, `study_years()`), not this.
- `parse_years`: the `--years 2010-2020` option of every stage that has one.
- `years_sql`, `sql_in`, `struct_type`: the pieces every `TableSpec` declaration is written
  with (CHECK text and schemas).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core.errors import UserError

FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
_FOLD = str.maketrans(FULLWIDTH, HALFWIDTH)
_WIDEN = str.maketrans(HALFWIDTH, FULLWIDTH)
# the width fold and ASCII lower case in one character map (`fold_width_lower`)
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FOLD_LOWER_FROM, FOLD_LOWER_TO = FULLWIDTH + _UPPER, HALFWIDTH.lower() + _UPPER.lower()
_FOLD_LOWER = str.maketrans(FOLD_LOWER_FROM, FOLD_LOWER_TO)

# The Chinese patent law took effect in 1985: nothing earlier can be a CNIPA patent year.
PLAUSIBLE_YEARS = (1985, 2030)
_YEAR_RANGE = re.compile(r"\s*(\d{4})\s*-\s*(\d{4})\s*")


def fold_width(col: Column) -> Column:
    """Full-width ASCII characters and U+3000 -> half-width ASCII (Spark)."""
    return translate_where_needed(col, FULLWIDTH, HALFWIDTH, r"[\uFF01-\uFF5E\u3000]")


def fold_width_str(s: str) -> str:
    """`fold_width` on a Python string."""
    return s.translate(_FOLD)


def fold_width_lower(col: Column) -> Column:
    """`fold_width`, and ASCII letters in lower case, in one `translate` (Spark). Spark's
    `lower` maps case through ICU, whose tables take seconds to load in every new JVM
    (issue 22); the spellings matched this way (patent types) are ASCII or Chinese."""
    return translate_where_needed(col, FOLD_LOWER_FROM, FOLD_LOWER_TO, r"[\uFF01-\uFF5E\u3000A-Z]")


def translate_where_needed(col: Column, src: str, dst: str, needs: str) -> Column:
    """`translate(col, src, dst)`, skipped for values without a character matching `needs`
    (a regex character class that must match every character of `src`; checked here).
    Spark's translate builds a string and looks it up in a hash map for every character of
    every value (issue 22's profile); most values (dates, numbers, IPC codes) need no change,
    and finding one character of a range class is a small fraction of that."""
    unmatched = [c for c in src if not re.fullmatch(needs, c)]
    if unmatched:
        raise ValueError(f"translate_where_needed: {needs} does not match {unmatched[:5]!r}")
    return F.when(col.rlike(needs), F.translate(col, src, dst)).otherwise(col)


def fold_width_lower_str(s: str) -> str:
    """`fold_width_lower` on a Python string."""
    return s.translate(_FOLD_LOWER)


def widen(s: str) -> str:
    """The inverse of `fold_width_str`: ASCII -> full-width forms (the generator's messy spellings)."""
    return s.translate(_WIDEN)


def nfkc(s: str) -> str:
    """Unicode NFKC: full-width forms to half-width (（）→(), ，→,, ２０１５→2015)."""
    return unicodedata.normalize("NFKC", s)


def text_key(value: object) -> str:
    """A spelling as matched against reference lists: NFKC (full-width folds to ASCII),
    BOM and all whitespace removed, case folded. `申请（专利权）人 ` -> `申请(专利权)人`."""
    s = nfkc("" if value is None else str(value)).replace("\ufeff", "")
    return "".join(s.split()).casefold()


def years_sql(column: str = "year") -> str:
    """SQL predicate: `column` within PLAUSIBLE_YEARS (for CHECK constraints)."""
    return f"{column} BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]}"


def sql_in(column: str, values: Iterable[str]) -> str:
    """SQL predicate: `column IN ('a', 'b')` (for CHECK constraints; values are codes, no quotes)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def struct_type(*cols: tuple[str, T.DataType]) -> T.StructType:
    """Schema from (name, type) pairs, in order."""
    return T.StructType([T.StructField(n, t) for n, t in cols])


def check_years(lo: int, hi: int, where: str) -> tuple[int, int]:
    """(lo, hi) if first <= last within PLAUSIBLE_YEARS, else a UserError naming `where`."""
    if not PLAUSIBLE_YEARS[0] <= lo <= hi <= PLAUSIBLE_YEARS[1]:
        raise UserError(f"{where}: {lo}-{hi} is not a year range within {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}")
    return lo, hi


def parse_years(text: str | None, default: tuple[int, int] | None = None) -> tuple[int, int]:
    """`--years 2010-2020` -> (2010, 2020); empty -> `default` (an error when there is none).
    First <= last, both within PLAUSIBLE_YEARS."""
    if not text and default is not None:
        return default
    m = _YEAR_RANGE.fullmatch(str(text or ""))
    if not m:
        raise UserError(f"--years must look like 2010-2020, got {text!r}")
    return check_years(int(m.group(1)), int(m.group(2)), "--years")
