"""Ingest rules as pure DataFrame -> DataFrame functions (docs/ingest.md, "Reject rules").

Input: the readers' frame (`source_file`, `source_row`, `raw_record`, `malformed`, and the
kind's canonical raw string columns). Output of `check_patents` / `check_transfers`: the
bronze columns plus `reason` (NULL = accepted) and `detail`. Each row gets exactly one
reason, the first that applies in `bronze.INGEST_REASONS` order:

    malformed_row -> duplicate_row -> missing_application_no -> date checks -> type / owners

so a repeat of a bad row counts once under its own reason and then as duplicate_row.

A row the readers matched to the last ingest (`_prev`, see `readers`) is not checked again:
its content is the previous one, and only the duplicate rule, which depends on where the
row now sits among the others, is applied to it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.bronze.fields import is_blank, parse_date, with_application_no
from greenlink.bronze.readers import fresh
from greenlink.bronze.tables import PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core.printable import printable_column
from greenlink.core.rejects import accepted_rows, first_problem, mark_first
from greenlink.core.text import PLAUSIBLE_YEARS, fold_width_lower

# `;` or full-width `；` separated names; a list of only separators and spaces names nobody
_NO_NAMES = r"^[\s\x{3000};；,，、]*$"


def record_hash(columns: Sequence[str]) -> Column:
    """sha256 of the raw field values in conf order (NULL kept distinct from empty):
    identical for byte-identical records whatever file, format or column order they come from."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns]), {"ignoreNullFields": "false"}), 256)


def flag_duplicates(df: DataFrame) -> DataFrame:
    """Adds `duplicate_of` ("<file> row <n>" of the first well-formed row with the same
    `record_hash`, by (source_file, source_row)) on every later well-formed repeat, else NULL."""
    df = mark_first(df, ["record_hash"], F.col("malformed").isNull())
    return (df.withColumn("duplicate_of", F.when(
        F.col("_repeat"), F.format_string("repeat of %s row %d", F.col("_first.source_file"), F.col("_first.source_row"))))
        .drop("_first", "_repeat"))


def _year_range(d: Column, label: str) -> Column:
    return F.when(~F.year(d).between(*PLAUSIBLE_YEARS),
                  F.format_string(f"{label} year %d outside {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}", F.year(d)))


def date_problem(raw: Column, parsed: Column, label: str) -> Column:
    """Why a required date is unusable: empty, not a date, or out of range; NULL if fine."""
    return (F.when(is_blank(raw), F.lit(f"{label} is empty"))
            .when(parsed.isNull(), F.format_string(f"{label} is not a date: '%s'", raw))
            .otherwise(_year_range(parsed, label)))


def patent_type(raw: Column, spellings: Mapping[str, str]) -> Column:
    """invention | utility | design, NULL for a spelling conf/headers.yaml does not list.
    Keys are folded as `layout.type_key` folds them (full-width, spaces, ASCII case)."""
    key = F.regexp_replace(fold_width_lower(raw), r"\s", "")
    lookup = F.create_map(*[F.lit(x) for kv in sorted(spellings.items()) for x in kv])
    return F.try_element_at(lookup, key)


# the checks a reused line still goes through: malformed_row is NULL for it (never parsed:
# the readers leave `malformed` NULL), duplicate_row depends on the other rows of the dump
_ORDER_DEPENDENT = ("malformed_row", "duplicate_row")


def with_record_hash(parsed: DataFrame, columns: Sequence[str]) -> DataFrame:
    """`record_hash` (the previous one for a reused row) and `duplicate_of`."""
    new = fresh(parsed)
    known = F.col("_prev.record_hash") if "_prev" in parsed.columns else F.lit(None)
    return (parsed.withColumn("record_hash", F.when(new, record_hash(columns)).otherwise(known))
            .transform(flag_duplicates))


def _content(df: DataFrame, out: Mapping[str, Column], tail: Sequence[str]) -> DataFrame:
    """`out` (name -> expression), the `tail` columns and `reused`; a reused row (`_prev`)
    takes every `out` column it has from `_prev` instead."""
    prev = set(df.schema["_prev"].dataType.fieldNames()) if "_prev" in df.columns else set()
    new = fresh(df)
    return df.select(*[(F.when(new, c).otherwise(F.col(f"_prev.{n}")) if n in prev else c).alias(n)
                       for n, c in out.items()], *tail, (~new).alias("reused"))


def _first_reason(df: DataFrame, checks: Sequence[tuple[str, Column]]) -> DataFrame:
    """`reason`/`detail` of the first (reason, problem) pair whose problem is not NULL; a
    reused row (`_prev`) can only be a duplicate (its line was well-formed and passed the rest)."""
    new = fresh(df)
    checks = [(code, problem if code in _ORDER_DEPENDENT else F.when(new, problem)) for code, problem in checks]
    # each problem becomes a column first, so that the reason and detail chains below refer
    # to it instead of repeating the expression (Spark keeps a projection separate rather
    # than duplicate a non-trivial expression)
    df = df.withColumns({f"_problem{i}": problem for i, (_, problem) in enumerate(checks)})
    reason, detail = first_problem(*[(F.when(F.col(f"_problem{i}").isNotNull(), F.lit(code)), F.col(f"_problem{i}"))
                                     for i, (code, _) in enumerate(checks)])
    return df.withColumns({"reason": reason, "detail": detail}).drop(*[f"_problem{i}" for i in range(len(checks))])


def check_patents(parsed: DataFrame, type_spellings: Mapping[str, str], columns: Sequence[str]) -> DataFrame:
    """Bronze patent columns (without run_id) + reason + detail + raw_record (input: the
    readers' frame, `line_hash` and optionally `_prev`).

    `columns`: the kind's canonical columns in conf order (the record hash order)."""
    df = with_record_hash(parsed, columns)
    df = with_application_no(df, "application_no", "_app_no", "_app_no_problem")
    df = df.withColumns({
        "_app_date": parse_date(F.col("application_date")),
        "_grant_date": parse_date(F.col("grant_date")),
        "_type": patent_type(F.col("patent_type"), type_spellings),
    })
    grant = F.col("_grant_date")
    grant_problem = (F.when(is_blank(F.col("grant_date")), F.lit(None))
                     .when(grant.isNull(), F.format_string("grant date is not a date: '%s'", F.col("grant_date")))
                     .when(~F.year(grant).between(*PLAUSIBLE_YEARS), _year_range(grant, "grant date"))
                     .when(grant < F.col("_app_date"),
                           F.format_string("grant date %s before application date %s",
                                           grant.cast("string"), F.col("_app_date").cast("string"))))
    type_problem = (F.when(is_blank(F.col("patent_type")), F.lit("patent type is empty"))
                    .when(F.col("_type").isNull(), F.format_string("unknown patent type: '%s'", F.col("patent_type"))))
    df = _first_reason(df, [
        ("malformed_row", F.col("malformed")),
        ("duplicate_row", F.col("duplicate_of")),
        ("missing_application_no", F.col("_app_no_problem")),
        ("bad_application_date", date_problem(F.col("application_date"), F.col("_app_date"), "application date")),
        ("bad_grant_date", grant_problem),
        ("unknown_patent_type", type_problem),
    ])
    return _content(df, {
        "application_no": F.col("_app_no"), "application_no_raw": F.col("application_no"),
        "application_date": F.col("_app_date"), "year": F.year("_app_date"),
        "publication_no": F.col("publication_no"),
        "grant_date": F.when(is_blank(F.col("grant_date")), None).otherwise(grant),
        "patent_type": F.col("_type"), "patent_type_raw": F.col("patent_type"),
        "ipc_raw": F.col("ipc"), "applicants_raw": F.col("applicants"),
        "applicant_address": F.col("applicant_address"),
    }, ["source_file", "source_row", "record_hash", "line_hash", "reason", "detail", "raw_record"])


def check_transfers(parsed: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Bronze transfer columns (without run_id) + reason + detail + raw_record."""
    df = with_record_hash(parsed, columns)
    df = with_application_no(df, "application_no", "_app_no", "_app_no_problem")
    df = df.withColumns({
        "_date": parse_date(F.col("effective_date")),
    })
    before_empty = F.col("owners_before").isNull() | F.col("owners_before").rlike(_NO_NAMES)
    after_empty = F.col("owners_after").isNull() | F.col("owners_after").rlike(_NO_NAMES)
    owners_problem = (F.when(before_empty & after_empty, F.lit("owners before and after are empty"))
                      .when(before_empty, F.lit("owners before are empty"))
                      .when(after_empty, F.lit("owners after are empty")))
    df = _first_reason(df, [
        ("malformed_row", F.col("malformed")),
        ("duplicate_row", F.col("duplicate_of")),
        ("missing_application_no", F.col("_app_no_problem")),
        ("bad_effective_date", date_problem(F.col("effective_date"), F.col("_date"), "effective date")),
        ("missing_owners", owners_problem),
    ])
    return _content(df, {
        "application_no": F.col("_app_no"), "application_no_raw": F.col("application_no"),
        "effective_date": F.col("_date"), "year": F.year("_date"),
        "owners_before": F.col("owners_before"), "owners_after": F.col("owners_after"),
        "current_owner_address": F.col("current_owner_address"),
    }, ["source_file", "source_row", "record_hash", "line_hash", "reason", "detail", "raw_record"])


def accepted(checked: DataFrame, kind: str, run_id: str) -> DataFrame:
    """Rows of bronze.patents_raw / bronze.transfers_raw: the checked rows without a reason."""
    spec = PATENTS_RAW if kind == "patents" else TRANSFERS_RAW
    return accepted_rows(checked.withColumn("run_id", F.lit(run_id)), spec.schema.fieldNames())


def rejected(checked: DataFrame, kind: str, run_id: str) -> DataFrame:
    """Rows of bronze.rejects (stage 'ingest') for the checked rows with a reason; the detail
    quotes raw values, so it is made printable (escaped, cut) here, where it is stored."""
    return (checked.filter(F.col("reason").isNotNull())
            .select(F.lit("ingest").alias("stage"), F.lit(kind).alias("kind"), "source_file", "source_row",
                    "application_no_raw", "reason", printable_column(F.col("detail")).alias("detail"), "raw_record",
                    F.lit(run_id).alias("run_id"))
            .select(*REJECTS.schema.fieldNames()))
