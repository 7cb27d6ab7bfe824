"""CNIPA application numbers (申请号): one canonical form for every stage.

Canonical form (docs/raw_formats.md): the 12-digit number of applications filed since
2003 (`YYYY` + type digit + 7-digit serial) or the older 8-digit number (`YY` + type
digit + 5-digit serial), then `.` and the check digit: `201810123456.7`, `95115608.X`.

Accepted raw forms: any case, `CN` / `ZL` prefixes, spaces (also full-width), dots,
full-width digits and letters; the check digit may be present (`2018101234567`,
`201810123456.7`) or absent (`201810123456`), in which case it is computed. A present
check digit must match: a mismatch means the number was mistyped, and a wrong number
would silently join to another patent, so it counts as unparseable.

Check digit (CNIPA): the digits times the weights 2,3,…,9,2,3,4,5 (12-digit form) or
2,…,9 (8-digit form), summed, modulo 11; 10 is written `X`.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.text import fold_width

# 12 digits or 8 digits, then an optional check character (`x` as `X`); nothing else.
_FORM = r"^([0-9]{12}|[0-9]{8})([0-9Xx]?)$"


def check_digit(digits: str) -> str:
    """Check digit of a 12- or 8-digit application number body (`'201710601862'` -> `'3'`)."""
    if not (digits.isascii() and digits.isdigit() and len(digits) in (8, 12)):
        raise ValueError(f"not a 12- or 8-digit application number body: {digits!r}")
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(digits))
    r = total % 11
    return "X" if r == 10 else str(r)


def is_blank(raw: Column) -> Column:
    """NULL, empty or only (ASCII, full-width, BOM) whitespace."""
    return raw.isNull() | raw.rlike(r"^[\s\x{3000}\x{FEFF}]*$")


def _compact(raw: Column) -> Column:
    """Full-width folded, without whitespace, dots, BOM and CN/ZL prefixes (any case).

    No `upper`: Spark maps case through ICU, whose tables take seconds to load in a new JVM
    (issue 22); the only letters a number may hold are matched without case instead."""
    s = F.regexp_replace(fold_width(raw), r"[\s.\x{FEFF}]", "")
    return F.regexp_replace(s, r"^(?i:CN|ZL)+", "")


def _expected_check(body: Column) -> Column:
    """Spark twin of `check_digit` on a column of 12- or 8-digit bodies (NULL for '').

    Written out digit by digit: a higher-order `aggregate` would run interpreted and
    dominated the whole ingest (about 4x slower on 100k rows)."""
    terms = [F.substring(body, i + 1, 1).try_cast("int") * (2 + i % 8) for i in range(12)]
    total = sum(terms[:8], F.lit(0)) + F.when(F.length(body) == 12, sum(terms[8:], F.lit(0))).otherwise(0)
    r = total % 11
    return F.when(body == "", F.lit(None)).when(r == 10, F.lit("X")).otherwise(r.cast("string"))


def _canonical(body: Column, given: Column, expected: Column) -> Column:
    ok = (body != "") & ((given == "") | (given == expected))
    return F.when(ok, F.concat(body, F.lit("."), expected))


def _problem(raw: Column, body: Column, given: Column, expected: Column) -> Column:
    return (F.when(is_blank(raw), F.lit("application number is empty"))
            .when(body == "", F.format_string("not an application number: '%s'", raw))
            .when((given != "") & (given != expected),
                  F.format_string("check digit %s does not match the computed %s: '%s'", given, expected, raw)))


def with_application_no(df: DataFrame, raw: str, canonical: str, problem: str | None = None) -> DataFrame:
    """Adds column `canonical`: the canonical application number of column `raw`
    (`201810123456.7`), NULL when empty or unparseable; and optionally `problem`: why
    it has none (a short English sentence), NULL when it has one.

    A DataFrame function rather than a column expression on purpose: each part (compacted
    string, body, check digit) becomes a column once, where a single expression would
    repeat the regular expressions inside every digit of the check-digit sum."""
    t = {k: f"__appno_{k}" for k in ("s", "body", "given", "expected")}
    df = df.withColumn(t["s"], _compact(F.col(raw)))
    df = df.withColumns({t["body"]: F.regexp_extract(F.col(t["s"]), _FORM, 1),
                         t["given"]: F.replace(F.regexp_extract(F.col(t["s"]), _FORM, 2), F.lit("x"), F.lit("X"))})
    df = df.withColumn(t["expected"], _expected_check(F.col(t["body"])))
    body, given, expected = F.col(t["body"]), F.col(t["given"]), F.col(t["expected"])
    out = {canonical: _canonical(body, given, expected)}
    if problem:
        out[problem] = _problem(F.col(raw), body, given, expected)
    return df.withColumns(out).drop(*t.values())
