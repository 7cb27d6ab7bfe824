"""Silver tables written by `greenlink classify` (besides `silver.applicants` and
`silver.org_locations`, declared in `greenlink.silver.locate`): clean, deduplicated, classified
patents and located transfers. Partitioned by year (application year for patents,
registration year for transfers).

Lineage is the record's `record_hash`: the bronze row it came from is the one with the same
application_no and record_hash (unique among accepted bronze rows), so a silver row does not
change when a new export moves its record to another file or row (issue 23: a month's rerun
changes only the rows whose content changed)."""
from __future__ import annotations

from pyspark.sql import types as T

from greenlink.bronze.schema import PATENT_TYPES
from greenlink.core.tables import TableSpec
from greenlink.core.text import sql_in, struct_type, years_sql

_S, _D, _I, _B = T.StringType(), T.DateType(), T.IntegerType(), T.BooleanType()
_A = T.ArrayType(T.StringType())


PATENTS = TableSpec(
    name="silver.patents",
    schema=struct_type(
        ("application_no", _S), ("year", _I), ("application_date", _D), ("publication_no", _S),
        ("patent_type", _S), ("granted", _B), ("grant_date", _D), ("grant_year", _I),
        ("ipc_symbols", _A), ("main_ipc", _S), ("n_ipc_invalid", _I),
        ("is_green", _B), ("categories", _A), ("topics", _A), ("green_entries", _A),
        ("n_applicants", _I), ("first_applicant", _S), ("first_org_type", _S),
        ("city_code", _S), ("province_code", _S),          # the first applicant's city (SPEC §4 `app`)
        ("n_records", _I), ("record_hash", _S)),
    partition_by=("year",),
    not_null=("application_no", "year", "application_date", "patent_type", "granted", "ipc_symbols",
              "main_ipc", "is_green", "categories", "topics", "n_applicants", "first_applicant",
              "n_records", "record_hash"),
    checks={
        "valid_values": (f"{years_sql()} AND {sql_in('patent_type', PATENT_TYPES)} "
                         "AND size(ipc_symbols) >= 1 AND main_ipc = ipc_symbols[0] AND n_applicants >= 1 "
                         "AND n_records >= 1 AND granted = (grant_date IS NOT NULL) "
                         "AND (grant_year IS NULL OR grant_year = year(grant_date))"),
        "green_consistent": "is_green = (size(categories) > 0) AND (city_code IS NULL OR province_code IS NOT NULL)",
    },
    comment="One row per application number: normalised, deduplicated, green-classified patents (SPEC §1-§2)",
    keys=("application_no",),
    stats_columns=("application_no", "application_date", "patent_type", "city_code"),
    plain_columns=("application_no", "publication_no", "record_hash"),
)

TRANSFERS = TableSpec(
    name="silver.transfers",
    schema=struct_type(
        ("application_no", _S), ("year", _I), ("effective_date", _D),
        ("from_owner", _S), ("from_org_type", _S), ("from_city", _S), ("from_province", _S),
        ("from_method", _S), ("from_unlocated_reason", _S),
        ("to_owner", _S), ("to_org_type", _S), ("to_city", _S), ("to_province", _S),
        ("to_method", _S), ("to_unlocated_reason", _S),
        ("n_owners_before", _I), ("n_owners_after", _I),
        ("in_dump", _B), ("patent_type", _S), ("is_green", _B), ("record_hash", _S)),
    partition_by=("year",),
    not_null=("application_no", "year", "effective_date", "in_dump", "record_hash"),
    checks={
        "valid_values": (f"{years_sql()} AND year = year(effective_date) "
                         "AND in_dump = (patent_type IS NOT NULL) AND in_dump = (is_green IS NOT NULL)"),
    },
    comment="One row per registered transfer: first owner before -> first owner after, located (SPEC §1, §4)",
    keys=("record_hash",),              # one registered transfer record (bronze never repeats one)
    stats_columns=("application_no", "effective_date", "from_city", "to_city"),
    plain_columns=("application_no", "record_hash"),
)
