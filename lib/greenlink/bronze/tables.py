"""Bronze tables written by ingest (docs/raw_formats.md, docs/ingest.md), with the vocabulary
their constraints name (reject reasons, patent types, file reasons); `TABLES` lists them for
`greenlink.core.catalog`. The controls and policy stages' bronze reject tables are declared in
`greenlink.gold.tables`, next to the gold vocabulary their CHECKs name.

`bronze.patents_raw` and `bronze.transfers_raw` hold the current full dump: every accepted
row with its raw strings, parsed dates and type, and lineage (`source_file` relative to the
input folder, `source_row` = 1-based data-row index, header not counted) and `line_hash`
(what the next month's ingest recognises an unchanged line by, `readers.line_hash`). `bronze.rejects`
holds every row a stage refused, with its reason; each stage replaces only its own rows
(`stage = 'ingest'`, later `'classify'`). `bronze.file_rejects` holds the input files the
file checks refused in the ingest that wrote the current bronze (empty for a complete dump).
"""
from __future__ import annotations

from pyspark.sql import types as T

from greenlink.core.tables import TableSpec
from greenlink.core.text import sql_in, struct_type, years_sql

# Reject reason codes by stage, exactly as docs/raw_formats.md lists them.
REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "ingest": ("malformed_row", "missing_application_no", "bad_application_date", "bad_grant_date",
               "unknown_patent_type", "duplicate_row", "bad_effective_date", "missing_owners"),
    "classify": ("no_parseable_ipc", "no_applicant"),
}
# Which ingest reasons apply to which kind of record, in the order they are tested.
INGEST_REASONS: dict[str, tuple[str, ...]] = {
    "patents": ("malformed_row", "duplicate_row", "missing_application_no", "bad_application_date",
                "bad_grant_date", "unknown_patent_type"),
    "transfers": ("malformed_row", "duplicate_row", "missing_application_no", "bad_effective_date",
                  "missing_owners"),
}
PATENT_TYPES = ("invention", "utility", "design")
# File-level reason codes of the file checks (docs/ingest.md "File checks"), in the order tested.
FILE_REASONS = ("symlink_outside_dump", "symlink_loop", "unknown_format", "unsafe_file_name", "unreadable_file",
                "file_vanished", "empty_file", "unsupported_encoding", "not_text", "file_too_large", "zip_bomb",
                "unreadable_parquet", "unreadable_xlsx", "missing_columns", "file_changed_during_read")

_S, _D, _I, _L, _B = T.StringType(), T.DateType(), T.IntegerType(), T.LongType(), T.BinaryType()
_APPLICATION_NO_FORM = "application_no RLIKE '^([0-9]{12}|[0-9]{8})[.][0-9X]$'"
# Two constraints per table, several conditions each: every constraint costs a commit (and
# a scan) when the table is created, and a violation names the whole expression anyway.
_LINEAGE = "source_row > 0 AND length(record_hash) = 64 AND length(line_hash) = 32"


PATENTS_RAW = TableSpec(
    name="bronze.patents_raw",
    schema=struct_type(
        ("application_no", _S), ("application_no_raw", _S), ("application_date", _D), ("year", _I),
        ("publication_no", _S), ("grant_date", _D), ("patent_type", _S), ("patent_type_raw", _S),
        ("ipc_raw", _S), ("applicants_raw", _S), ("applicant_address", _S),
        ("source_file", _S), ("source_row", _L), ("record_hash", _S), ("line_hash", _B), ("run_id", _S)),
    partition_by=("year",),
    not_null=("application_no", "application_date", "year", "patent_type", "source_file", "source_row",
              "record_hash", "line_hash", "run_id"),
    checks={
        "valid_dates": (f"{years_sql()} AND year = year(application_date)"
                        f" AND (grant_date IS NULL OR (grant_date >= application_date"
                        f" AND {years_sql('year(grant_date)')}))"),
        "valid_values": f"{sql_in('patent_type', PATENT_TYPES)} AND {_APPLICATION_NO_FORM} AND {_LINEAGE}",
    },
    comment="greenlink ingest: accepted patent records of the current dump, raw strings + parsed dates/type",
    keys=("source_file", "source_row"),
    stats_columns=("application_no", "application_date", "patent_type", "source_file", "source_row"),
    plain_columns=("application_no", "application_no_raw", "publication_no", "source_row", "record_hash",
                   "line_hash"),
)

TRANSFERS_RAW = TableSpec(
    name="bronze.transfers_raw",
    schema=struct_type(
        ("application_no", _S), ("application_no_raw", _S), ("effective_date", _D), ("year", _I),
        ("owners_before", _S), ("owners_after", _S), ("current_owner_address", _S),
        ("source_file", _S), ("source_row", _L), ("record_hash", _S), ("line_hash", _B), ("run_id", _S)),
    partition_by=("year",),
    not_null=("application_no", "effective_date", "year", "owners_before", "owners_after", "source_file",
              "source_row", "record_hash", "line_hash", "run_id"),
    checks={
        "valid_dates": f"{years_sql()} AND year = year(effective_date)",
        "valid_values": f"{_APPLICATION_NO_FORM} AND {_LINEAGE}",
    },
    comment="greenlink ingest: accepted transfer (change of patent right owner) records of the current dump",
    keys=("source_file", "source_row"),
    stats_columns=("application_no", "effective_date", "source_file", "source_row"),
    plain_columns=("application_no", "application_no_raw", "source_row", "record_hash", "line_hash"),
)


REJECTS = TableSpec(
    name="bronze.rejects",
    schema=struct_type(
        ("stage", _S), ("kind", _S), ("source_file", _S), ("source_row", _L), ("application_no_raw", _S),
        ("reason", _S), ("detail", _S), ("raw_record", _S), ("run_id", _S)),
    not_null=("stage", "kind", "source_file", "source_row", "reason", "run_id"),
    checks={
        "valid_values": ("source_row > 0 AND kind IN ('patents', 'transfers') AND ("
                         + " OR ".join(f"(stage = '{s}' AND {sql_in('reason', r)})" for s, r in REJECT_REASONS.items())
                         + ")"),
    },
    comment="rows refused by a stage, with reason, lineage and the raw record; each stage replaces its own rows",
    keys=("stage", "kind", "source_file", "source_row"),
    stats_columns=("stage", "kind", "source_file", "source_row", "reason"),
)


FILE_REJECTS = TableSpec(
    name="bronze.file_rejects",
    schema=struct_type(("file", _S), ("size", _L), ("sha256", _S), ("reason", _S), ("detail", _S), ("run_id", _S)),
    not_null=("file", "reason", "detail", "run_id"),
    checks={"valid_values": f"{sql_in('reason', FILE_REASONS)} AND length(detail) > 0 AND (size IS NULL OR size >= 0)"},
    comment="input files refused by the ingest file checks (partial dump when not empty), with reason and detail",
    keys=("file",),
)

TABLES: tuple[TableSpec, ...] = (PATENTS_RAW, TRANSFERS_RAW, REJECTS, FILE_REJECTS)
