"""Silver tables written by `greenlink classify`: clean, deduplicated, classified patents and
located transfers, partitioned by year (application year for patents, registration year for
transfers); the located applicants and organisations (`silver.locate`), with the vocabulary their
constraints name (location methods, unlocated reasons). `TABLES` lists them for
`greenlink.core.catalog`. The controls stage's silver tables are declared in
`greenlink.gold.tables`, next to the value rules their CHECKs name.

Lineage is the record's `record_hash`: the bronze row it came from is the one with the same
application_no and record_hash (unique among accepted bronze rows), so a silver row does not
change when a new export moves its record to another file or row (issue 23: a month's rerun
changes only the rows whose content changed)."""
from __future__ import annotations

from pyspark.sql import types as T

from greenlink.bronze.tables import PATENT_TYPES
from greenlink.core.tables import TableSpec
from greenlink.core.text import sql_in, struct_type, years_sql
from greenlink.silver.applicants import ORG_TYPES

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

METHODS = ("address", "name", "first_applicant", "unlocated")
ORG_METHODS = ("name", "first_applicant", "unlocated")

# Why a link stayed unlocated. The first six come from the address, the others from the name.
ADDRESS_REASONS = (
    "missing_address",        # no address on the record
    "foreign_address",        # abroad, or Hong Kong / Macao / Taiwan (not city units)
    "unparseable_address",    # cpca finds no mainland place in it (or it is only a postcode)
    "province_only_address",  # a province (not a municipality) but no city in it
    "ambiguous_address",      # a district name shared by several cities and nothing above it
    "not_a_city_unit",        # a county-level unit directly under a province (仙桃市, 石河子市)
)
NAME_REASONS = (
    "individual_no_address",  # a person: located only by their own record's address
    "no_place_in_name",       # no place name in the name, and no first-applicant record
    "province_only_in_name",  # only a province in the name (江苏XX有限公司)
    "ambiguous_place_in_name",  # only a district name shared by several cities (鼓楼区)
    "foreign_name",           # the name starts with a foreign country/region (香港XX有限公司)
    "non_chinese_name",       # no Chinese character in the name (SONY CORPORATION)
    "no_owner",               # a transfer record with no owner on that side after cleaning
)
REASONS = ADDRESS_REASONS + tuple(r for r in NAME_REASONS if r not in ADDRESS_REASONS)

# 6-digit codes; a province code ends in 0000; a city lies in its row's province.
_CODES_VALID = ("((city_code IS NULL OR city_code RLIKE '^[0-9]{6}$') "
                "AND (province_code IS NULL OR province_code RLIKE '^[0-9]{2}0000$') "
                "AND (city_code IS NULL OR (province_code IS NOT NULL "
                "AND substr(city_code, 1, 2) = substr(province_code, 1, 2))))")


APPLICANTS = TableSpec(
    name="silver.applicants",
    schema=T.StructType([
        T.StructField("application_no", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("applicant_order", T.IntegerType()),
        T.StructField("name", T.StringType()),
        T.StructField("org_type", T.StringType()),
        T.StructField("city_code", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("method", T.StringType()),
        T.StructField("unlocated_reason", T.StringType()),
    ]),
    partition_by=("year",),
    not_null=("application_no", "year", "applicant_order", "name", "org_type", "method"),
    # Two wide constraints: each one costs a Delta commit (and a scan) when the table is created.
    checks={
        "valid_values": f"applicant_order >= 1 AND {years_sql()} "
                        f"AND {sql_in('org_type', ORG_TYPES)} AND {sql_in('method', METHODS)} "
                        f"AND (unlocated_reason IS NULL OR {sql_in('unlocated_reason', REASONS)}) "
                        f"AND {_CODES_VALID}",
        "location_consistent": "(method = 'unlocated') = (city_code IS NULL) "
                               "AND (method = 'unlocated') = (unlocated_reason IS NOT NULL) "
                               "AND (method <> 'address' OR applicant_order = 1)",
    },
    comment="One row per applicant of each patent, located in a city unit (SPEC §1, §3)",
    keys=("application_no", "applicant_order"),
    stats_columns=("application_no", "applicant_order", "city_code", "method"),
    plain_columns=("application_no",),
)

ORG_LOCATIONS = TableSpec(
    name="silver.org_locations",
    schema=T.StructType([
        T.StructField("name", T.StringType()),
        T.StructField("org_type", T.StringType()),
        T.StructField("city_code", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("method", T.StringType()),
        T.StructField("evidence_count", T.LongType()),
        T.StructField("reason", T.StringType()),
        T.StructField("address_records", T.LongType()),
        T.StructField("address_city_code", T.StringType()),
    ]),
    not_null=("name", "org_type", "method", "evidence_count", "address_records"),
    checks={
        "valid_values": f"{sql_in('org_type', ORG_TYPES)} AND {sql_in('method', ORG_METHODS)} "
                        f"AND (reason IS NULL OR {sql_in('reason', REASONS)}) AND {_CODES_VALID} "
                        "AND evidence_count >= 0 AND evidence_count <= address_records "
                        "AND (address_records = 0) = (address_city_code IS NULL)",
        "location_consistent": "(method = 'unlocated') = (city_code IS NULL) "
                               "AND (method = 'unlocated') = (reason IS NOT NULL)",
    },
    comment="One row per distinct applicant/owner name: how it is located when its record has no address",
    keys=("name",),
    stats_columns=("name", "city_code", "method"),
)


TABLES: tuple[TableSpec, ...] = (PATENTS, TRANSFERS, APPLICANTS, ORG_LOCATIONS)
