"""Raw fields parsed by Spark: blank values, CNIPA application numbers, dates.

The forms and rules are reference data (`greenlink.reference.ids`: the number form and check
digit; `greenlink.reference.dates`: the accepted date forms); this module is their Spark
side, used by the ingest checks (`bronze.checks`) and by classify's row rules.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.text import fold_width
from greenlink.reference.dates import COMPACT, SEPARATED, YMD
from greenlink.reference.ids import FORM

# ---------------------------------------------------------------------------------------
# Blank values
# ---------------------------------------------------------------------------------------


def is_blank(raw: Column) -> Column:
    """NULL, empty or only (ASCII, full-width, BOM) whitespace."""
    return raw.isNull() | raw.rlike(r"^[\s\x{3000}\x{FEFF}]*$")


# ---------------------------------------------------------------------------------------
# Application numbers (reference.ids)
# ---------------------------------------------------------------------------------------


def _compact(raw: Column) -> Column:
    """Full-width folded, without whitespace, dots, BOM and CN/ZL prefixes (any case).

    No `upper`: Spark maps case through ICU, whose tables take seconds to load in a new JVM
    (issue 22); the only letters a number may hold are matched without case instead."""
    s = F.regexp_replace(fold_width(raw), r"[\s.\x{FEFF}]", "")
    return F.regexp_replace(s, r"^(?i:CN|ZL)+", "")


def _expected_check(body: Column) -> Column:
    """Spark twin of `reference.ids.check_digit` on a column of 12- or 8-digit bodies (NULL for '').

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
    df = df.withColumns({t["body"]: F.regexp_extract(F.col(t["s"]), FORM, 1),
                         t["given"]: F.replace(F.regexp_extract(F.col(t["s"]), FORM, 2), F.lit("x"), F.lit("X"))})
    df = df.withColumn(t["expected"], _expected_check(F.col(t["body"])))
    body, given, expected = F.col(t["body"]), F.col(t["given"]), F.col(t["expected"])
    out = {canonical: _canonical(body, given, expected)}
    if problem:
        out[problem] = _problem(F.col(raw), body, given, expected)
    return df.withColumns(out).drop(*t.values())


# ---------------------------------------------------------------------------------------
# Dates (reference.dates)
# ---------------------------------------------------------------------------------------


def parse_date(raw: Column) -> Column:
    """DateType value of a raw date string; NULL when empty or not one of the accepted forms."""
    s = fold_width(raw)
    # every accepted form rewritten to y-m-d; a string matching neither pattern stays as it is
    ymd = F.regexp_replace(F.regexp_replace(s, SEPARATED, "$1-$2-$3"), COMPACT, "$1-$2-$3")
    # the shape test keeps "yyyy-M-d" from accepting a 3-digit month or day
    return F.when(ymd.rlike(YMD), F.try_to_date(ymd, "yyyy-M-d"))
