"""The gold layer's Delta tables: every TableSpec the gold stages write (policy, controls,
networks, panel), with the vocabulary their constraints name; `TABLES` lists them for
`greenlink.core.catalog` (docs/architecture.md, "Tables").

The controls and policy stages also write bronze reject tables and the silver controls
(`bronze.policy_rejects`, `bronze.control_rejects`, `silver.city_controls`, `silver.province_ip`,
`silver.city_attributes`): their specs are here, with the stage's package, because their CHECKs
name gold vocabulary (policy reject reasons, the controls' value rules, the er indicators) that
bronze and silver may not import. A spec's `name` is where it is stored, not where it is declared.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import types as T

from greenlink.core.tables import TableSpec
from greenlink.core.text import PLAUSIBLE_YEARS, sql_in, struct_type, years_sql
from greenlink.gold.panel.settings import CITY_CONTROL_VALUES, CONTROL_VALUES, ER_INDICATORS
from greenlink.gold.policy.text import REJECT_REASONS as POLICY_REJECT_REASONS

_S, _I, _L, _D = T.StringType(), T.IntegerType(), T.LongType(), T.DoubleType()
_YEAR_CHECK = years_sql()
# Tables carry few CHECK constraints with several conditions each: a violation message prints
# the whole condition, so one constraint per concern reads better than one per column.

# --------------------------------------------------------------------------- policy

_MATCH = T.StructType([
    T.StructField("type", T.StringType()), T.StructField("instrument", T.StringType()),
    T.StructField("keyword", T.StringType()), T.StructField("n", T.IntegerType()),
    T.StructField("n_negated", T.IntegerType()),
])

POLICY_TOOLS = TableSpec(
    name="gold.policy_tools",
    schema=T.StructType([
        T.StructField("policy_id", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("province_name", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("title", T.StringType()),
        T.StructField("agencies_raw", T.StringType()),          # the field as published
        T.StructField("agencies", T.ArrayType(T.StringType())),  # distinct canonical names
        T.StructField("n_agencies", T.IntegerType()),            # PZ
        T.StructField("agencies_unmatched", T.ArrayType(T.StringType())),  # not in the dictionary
        T.StructField("tool_types", T.ArrayType(T.StringType())),
        T.StructField("n_tool_types", T.IntegerType()),          # PG
        T.StructField("has_supply", T.BooleanType()),
        T.StructField("has_demand", T.BooleanType()),
        T.StructField("has_environment", T.BooleanType()),
        T.StructField("matches", T.ArrayType(_MATCH)),           # every keyword found, with counts
        T.StructField("in_synergy", T.BooleanType()),            # n_tool_types >= 1
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
    ]),
    not_null=("policy_id", "province_code", "province_name", "year", "agencies", "n_agencies",
              "agencies_unmatched", "tool_types", "n_tool_types", "has_supply", "has_demand",
              "has_environment", "matches", "in_synergy", "source_file", "source_line"),
    # Few constraints (each CHECK is one more Delta commit when the table is created).
    checks={
        "policy_rules": f"year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]} AND source_line > 0 "
                        "AND n_agencies = size(agencies) AND n_agencies >= 1 AND n_tool_types = size(tool_types) "
                        "AND n_tool_types BETWEEN 0 AND 3 AND in_synergy = (n_tool_types > 0)",
    },
    comment="SPEC §6 per-policy audit: issuing agencies and Rothwell-Zegveld tools detected",
    keys=("policy_id",),
)

POLICY_SYNERGY = TableSpec(
    name="gold.policy_synergy",
    schema=T.StructType([
        T.StructField("province_code", T.StringType()),
        T.StructField("province_name", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("n_policies", T.LongType()),        # accepted policies issued that year
        T.StructField("n_policies_used", T.LongType()),   # of which with >= 1 tool type (the means' N)
        T.StructField("zts", T.DoubleType()),
        T.StructField("gjs", T.DoubleType()),
        T.StructField("rps", T.DoubleType()),
        T.StructField("fill", T.StringType()),            # observed / carried_forward / missing
        T.StructField("source_year", T.IntegerType()),    # year whose policies gave the values
    ]),
    not_null=("province_code", "province_name", "year", "n_policies", "n_policies_used", "fill"),
    checks={
        "fill_rule": f"year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]} "
                     "AND n_policies >= n_policies_used AND n_policies_used >= 0 "
                     "AND fill IN ('observed', 'carried_forward', 'missing') "
                     "AND (fill = 'observed') = (n_policies_used > 0) "
                     "AND (fill = 'missing') = (zts IS NULL) AND (zts IS NULL) = (source_year IS NULL) "
                     "AND (source_year IS NULL OR source_year <= year)",
        "index_ranges": "(zts IS NULL OR zts >= 1) AND (gjs IS NULL OR gjs BETWEEN 1 AND 3) "
                        "AND ((rps IS NULL AND zts IS NULL AND gjs IS NULL) OR abs(rps - zts * gjs) < 1e-9)",
    },
    comment="SPEC §6 policy synergy per province-year: zts, gjs, rps",
    keys=("province_code", "year"),
)

POLICY_REJECTS = TableSpec(
    name="bronze.policy_rejects",
    schema=T.StructType([
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("policy_id", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("detail", T.StringType()),
        T.StructField("raw_record", T.StringType()),
    ]),
    not_null=("source_file", "source_line", "reason", "raw_record"),
    checks={"reason_kind": f"reason IN ({', '.join(repr(r) for r in POLICY_REJECT_REASONS)}) AND source_line > 0"},
    comment="policy records the policy stage could not use, with the reason",
    keys=("source_file", "source_line"),
)


# --------------------------------------------------------------------------- controls

KEYS: dict[str, tuple[str, ...]] = {"city_controls": ("city_code", "year"), "province_ip": ("province_code", "year"),
                                    "city_attributes": ("city_code",)}

# Value rules of the yearbook controls (units as the yearbook prints them): a number breaking
# its rule rejects the row (bad_value). The five er indicators take any number: entropy.fill_gaps
# treats a rate outside 0–100 as a gap and lists it in gold.er_index.invalid_raw.
VALUE_RULES: dict[str, tuple[str, str]] = {     # column -> (SQL condition on the column, wording)
    "pgdp": ("pgdp > 0", "must be > 0"),                        # GDP per capita, 元
    "fdi": ("fdi >= 0", "must be >= 0"),                        # FDI actually used, 万美元
    "deposits_loans": ("deposits_loans >= 0", "must be >= 0"),  # year-end deposits + loans, 万元
    "gdp": ("gdp > 0", "must be > 0"),                          # GDP, 万元
    "ins": ("ins BETWEEN 0 AND 100", "must lie in 0-100 (%)"),  # tertiary share of GDP, %
    "disputes": ("disputes >= 0", "must be a whole number >= 0"),
    "grants": ("grants >= 0", "must be a whole number >= 0"),
}

# Reject reasons per kind, in the order the checks run (docs/panel.md).
CONTROL_REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "city_controls": ("malformed_row", "unknown_city", "ambiguous_city", "unknown_province", "province_mismatch",
                      "bad_year", "bad_value", "duplicate_row", "conflicting_rows"),
    "province_ip": ("malformed_row", "unknown_province", "bad_year", "bad_value", "duplicate_row",
                    "conflicting_rows"),
    "city_attributes": ("malformed_row", "unknown_city", "ambiguous_city", "unknown_province", "province_mismatch",
                        "unknown_admin_level", "bad_hsr_year", "duplicate_row", "conflicting_rows"),
}

_LINEAGE = "source_row > 0"

CITY_CONTROLS = TableSpec(
    name="silver.city_controls",
    schema=struct_type(("city_code", _S), ("city_name", _S), ("province_code", _S), ("year", _I),
                       *[(c, _D) for c in CITY_CONTROL_VALUES],
                       ("city_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("city_code", "city_name", "province_code", "year", "source_file", "source_row"),
    checks={"valid_values": " AND ".join([_YEAR_CHECK, _LINEAGE] + [f"({c} IS NULL OR {VALUE_RULES[c][0]})"
                                                                    for c in CONTROL_VALUES])},
    comment="City yearbook controls (SPEC §5), one row per city unit and year; gaps are nulls",
    keys=KEYS["city_controls"],
)

PROVINCE_IP = TableSpec(
    name="silver.province_ip",
    schema=struct_type(("province_code", _S), ("province_name", _S), ("year", _I), ("disputes", _L), ("grants", _L),
                       ("province_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("province_code", "province_name", "year", "source_file", "source_row"),
    checks={"valid_values": f"{_YEAR_CHECK} AND {_LINEAGE} AND (disputes IS NULL OR disputes >= 0) "
                            "AND (grants IS NULL OR grants >= 0)"},
    comment="Provincial IP statistics (SPEC §1): patent infringement disputes handled, patents granted",
    keys=KEYS["province_ip"],
)

CITY_ATTRIBUTES = TableSpec(
    name="silver.city_attributes",
    schema=struct_type(("city_code", _S), ("city_name", _S), ("province_code", _S), ("admin_level", _S), ("cgl", _I),
                       ("hsr_open_year", _I), ("city_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("city_code", "city_name", "province_code", "source_file", "source_row"),
    checks={"valid_values": f"{_LINEAGE} AND (admin_level IS NULL) = (cgl IS NULL) AND (cgl IS NULL OR cgl IN (0, 1)) "
                            f"AND (hsr_open_year IS NULL OR {years_sql('hsr_open_year')})"},
    comment="City attributes (SPEC §3, §5): administrative level, cgl, high-speed-rail opening year (null = none)",
    keys=KEYS["city_attributes"],
)

CONTROL_REJECTS = TableSpec(
    name="bronze.control_rejects",
    schema=struct_type(("kind", _S), ("source_file", _S), ("source_row", _L), ("reason", _S), ("detail", _S),
                       ("raw_record", _S)),
    not_null=("kind", "source_file", "source_row", "reason"),
    checks={"valid_values": f"{_LINEAGE} AND ("
                            + " OR ".join(f"(kind = '{k}' AND {sql_in('reason', r)})"
                                          for k, r in CONTROL_REJECT_REASONS.items())
                            + ")"},
    comment="rows of the panel inputs the controls stage refused, with reason, lineage and the raw record",
    keys=("kind", "source_file", "source_row"),
)


# --------------------------------------------------------------------------- sample

SAMPLE_LOG = TableSpec(
    name="gold.sample_log",
    schema=T.StructType([
        T.StructField("city_code", T.StringType()),
        T.StructField("city_name", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("longitude", T.DoubleType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("n_values", T.LongType()),        # control cells the rule looked at
        T.StructField("n_missing", T.LongType()),       # of which missing
        T.StructField("missing_share", T.DoubleType()),
        T.StructField("threshold", T.DoubleType()),
        T.StructField("in_sample", T.BooleanType()),
        T.StructField("reason", T.StringType()),        # why dropped; null when kept
    ]),
    not_null=("city_code", "city_name", "province_code", "n_values", "n_missing", "threshold", "in_sample"),
    checks={"valid_values": "n_missing >= 0 AND n_missing <= n_values "
                            "AND (missing_share IS NULL OR missing_share BETWEEN 0 AND 1) "
                            "AND in_sample = (reason IS NULL)"},
    comment="Sample selection (SPEC §3): every city unit, its missing-control share and the verdict",
    keys=("city_code",),
)


# --------------------------------------------------------------------------- er

RATE_BOUNDS: tuple[float, float] = (0.0, 100.0)     # percent
FLAGS: tuple[str, ...] = ("observed", "interpolated", "extrapolated", "missing")


def flag_column(indicator: str) -> str:
    return f"{indicator}_flag"


def filled_schema(indicators: Sequence[str] = ER_INDICATORS) -> T.StructType:
    fields = [T.StructField("city_code", T.StringType()), T.StructField("year", T.IntegerType())]
    for ind in indicators:
        fields += [T.StructField(ind, T.DoubleType()), T.StructField(flag_column(ind), T.StringType())]
    fields.append(T.StructField("invalid_raw", T.ArrayType(T.StringType())))
    return T.StructType(fields)


# Few constraints, each over all indicators: every CHECK is one more Delta commit at creation.
_RATES = " AND ".join(f"({i} IS NULL OR {i} BETWEEN {RATE_BOUNDS[0]} AND {RATE_BOUNDS[1]})" for i in ER_INDICATORS)
_FLAG_RULES = " AND ".join(f"{flag_column(i)} IN ({', '.join(repr(f) for f in FLAGS)}) "
                           f"AND (({i} IS NULL) = ({flag_column(i)} = 'missing'))" for i in ER_INDICATORS)

ER_INDEX = TableSpec(
    name="gold.er_index",
    schema=T.StructType([*filled_schema().fields, T.StructField("er", T.DoubleType())]),
    not_null=("city_code", "year", *[flag_column(i) for i in ER_INDICATORS], "invalid_raw"),
    checks={
        "value_ranges": f"{years_sql()} AND {_RATES} AND (er IS NULL OR er BETWEEN 0 AND 1)",
        "flag_rules": _FLAG_RULES,
        "er_needs_all": "er IS NOT NULL OR " + " OR ".join(f"{flag_column(i)} = 'missing'" for i in ER_INDICATORS),
    },
    comment="SPEC §5 environmental regulation: filled indicators (with fill flags) and er per city-year",
    keys=("city_code", "year"),
)

ER_WEIGHTS = TableSpec(
    name="gold.er_weights",
    schema=T.StructType([
        T.StructField("indicator", T.StringType()),
        T.StructField("n", T.LongType()),           # complete city-years in the entropy
        T.StructField("x_min", T.DoubleType()),
        T.StructField("x_max", T.DoubleType()),
        T.StructField("e_j", T.DoubleType()),
        T.StructField("d_j", T.DoubleType()),
        T.StructField("w_j", T.DoubleType()),
    ]),
    not_null=("indicator", "n", "x_min", "x_max", "e_j", "d_j", "w_j"),
    checks={"entropy_units": "e_j BETWEEN 0 AND 1 AND w_j BETWEEN 0 AND 1 AND abs(d_j - (1 - e_j)) < 1e-12 "
                             "AND n >= 2"},
    comment="SPEC §5 spatio-temporal range entropy weights of the er indicators",
    keys=("indicator",),
)


# --------------------------------------------------------------------------- networks

COLLAB_EDGES = TableSpec(
    name="gold.collab_edges",
    keys=("year", "city_a", "city_b"),
    schema=T.StructType([
        T.StructField("year", T.IntegerType()),
        T.StructField("city_a", T.StringType()),
        T.StructField("city_b", T.StringType()),
        T.StructField("weight", T.LongType()),
    ]),
    not_null=("year", "city_a", "city_b", "weight"),
    checks={"collab_rows": f"{_YEAR_CHECK} AND city_a < city_b AND weight > 0"},
    comment="SPEC §4 collaboration network: patents shared by sample cities a < b, per year",
)

TRANSFER_EDGES = TableSpec(
    name="gold.transfer_edges",
    keys=("year", "src", "dst"),
    schema=T.StructType([
        T.StructField("year", T.IntegerType()),
        T.StructField("src", T.StringType()),
        T.StructField("dst", T.StringType()),
        T.StructField("weight", T.LongType()),
        T.StructField("is_local", T.BooleanType()),
    ]),
    not_null=("year", "src", "dst", "weight", "is_local"),
    checks={"transfer_rows": f"{_YEAR_CHECK} AND weight > 0 AND is_local = (src = dst)"},
    comment="SPEC §4 transfer network: transfers src -> dst per year; src = dst rows are local",
)

_COUNT_COLS = ("rsi", "ex", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "gtr_ip")
METRIC_COLUMNS = ("city_code", "year", "rsi", "ex", "in", "DC", "BC", "rsi_ip", "gtr", "gtr_local",
                  "gtr_other", "ex_gt", "in_gt", "dc_out", "dc_in", "bc_gt", "gtr_ip")

# Beyond the article (docs/networks.md, "Extensions"): weighted PageRank in each network-year;
# not SPEC §4 variables, so not in METRIC_COLUMNS (the panel takes METRIC_COLUMNS only).
EXTENSION_COLUMNS = ("pagerank", "pagerank_gt")

CITY_NETWORK_METRICS = TableSpec(
    name="gold.city_network_metrics",
    keys=("city_code", "year"),
    schema=T.StructType(
        [T.StructField("city_code", T.StringType()), T.StructField("year", T.IntegerType())]
        + [T.StructField(c, T.LongType() if c in _COUNT_COLS else T.DoubleType())
           for c in (*METRIC_COLUMNS[2:], *EXTENSION_COLUMNS)]),
    not_null=(*METRIC_COLUMNS, *EXTENSION_COLUMNS),
    checks={
        "metrics_year_range": _YEAR_CHECK,
        "metrics_counts": " AND ".join([f"{c} >= 0" for c in _COUNT_COLS] + [
            "rsi >= ex", "rsi_ip <= rsi", "gtr = gtr_local + gtr_other", "gtr_ip BETWEEN gtr_local AND gtr"]),
        "metrics_ratios": "`in` >= 0 AND (ex > 0 OR `in` = 0) AND in_gt >= 0 AND (ex_gt > 0 OR in_gt = 0)",
        "metrics_shares": " AND ".join(f"{c} BETWEEN 0 AND 1" for c in ("DC", "BC", "dc_out", "dc_in", "bc_gt",
                                                                       *EXTENSION_COLUMNS)),
    },
    comment="SPEC §4 network variables: one row per sample city and year (zeros without ties)",
)

NETWORK_SUMMARY = TableSpec(
    name="gold.network_summary",
    keys=("network", "year"),
    schema=T.StructType([
        T.StructField("network", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("n_cities", T.LongType()),
        T.StructField("nodes_with_ties", T.LongType()),
        T.StructField("isolated_cities", T.LongType()),
        T.StructField("edges", T.LongType()),
        T.StructField("total_weight", T.LongType()),
        T.StructField("local_transfers", T.LongType()),
        T.StructField("density", T.DoubleType()),
        T.StructField("components", T.LongType()),
        T.StructField("largest_component_size", T.LongType()),
        T.StructField("largest_component_share", T.DoubleType()),
        T.StructField("top_cities", T.MapType(T.StringType(), T.ArrayType(T.StringType()))),
        # extensions (docs/networks.md): transfer network only, null for collab
        T.StructField("reciprocated_pairs", T.LongType()),
        T.StructField("reciprocity", T.DoubleType()),
    ]),
    not_null=("network", "year", "n_cities", "nodes_with_ties", "isolated_cities", "edges",
              "total_weight", "density", "components", "largest_component_size",
              "largest_component_share", "top_cities"),
    checks={
        "summary_keys": f"network IN ('collab', 'transfer') AND {_YEAR_CHECK}",
        "summary_counts": ("nodes_with_ties + isolated_cities = n_cities AND components <= nodes_with_ties "
                           "AND largest_component_size <= nodes_with_ties "
                           "AND (network = 'transfer') = (local_transfers IS NOT NULL) "
                           "AND (network = 'transfer') = (reciprocated_pairs IS NOT NULL) "
                           # a NULL check result is a violation for Delta: collab rows need the IS NULL
                           "AND (reciprocated_pairs IS NULL OR reciprocated_pairs <= edges / 2)"),
        "summary_shares": ("density BETWEEN 0 AND 1 AND largest_component_share BETWEEN 0 AND 1 "
                           "AND (reciprocity IS NULL OR reciprocity BETWEEN 0 AND 1)"),
    },
    comment="per year and network: size, density, components, top cities by each centrality",
)


# --------------------------------------------------------------------------- panel

NETWORK_VARS: tuple[str, ...] = METRIC_COLUMNS[2:]        # rsi, ex, in, DC, BC, …, bc_gt, gtr_ip
COUNT_VARS: tuple[str, ...] = ("rsi", "ex", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "gtr_ip", "app")
LN_VARS: tuple[str, ...] = ("rsi", "ex", "in", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "in_gt",
                            "gtr_ip", "app")
SHARE_VARS: tuple[str, ...] = ("DC", "BC", "dc_out", "dc_in", "bc_gt")
CONTROL_VARS: tuple[str, ...] = ("ln_pgdp", "ln_fdi", "fin", "ins", "qrate", "HSR", "cgl", "er")
POLICY_VARS: tuple[str, ...] = ("zts", "gjs", "rps")
KEY_COLUMNS: tuple[str, ...] = ("city_code", "city_name", "province_code", "year")
PANEL_COLUMNS: tuple[str, ...] = (KEY_COLUMNS + NETWORK_VARS + ("app",) + tuple(f"ln_{v}" for v in LN_VARS)
                                  + CONTROL_VARS + POLICY_VARS)
# Nullable columns: a missing control of a sample city stays missing (docs/panel.md).
NULLABLE: tuple[str, ...] = CONTROL_VARS + POLICY_VARS


def panel_type(col: str) -> T.DataType:
    if col in ("city_code", "city_name", "province_code"):
        return T.StringType()
    if col in ("year", "HSR", "cgl"):
        return T.IntegerType()
    return T.LongType() if col in COUNT_VARS else T.DoubleType()


def _q(col: str) -> str:
    return f"`{col}`"


PANEL = TableSpec(
    name="gold.city_year_panel",
    schema=T.StructType([T.StructField(c, panel_type(c)) for c in PANEL_COLUMNS]),
    partition_by=("year",),
    not_null=tuple(c for c in PANEL_COLUMNS if c not in NULLABLE),
    checks={
        "panel_keys": (f"{years_sql()} AND length(city_code) = 6 "
                       "AND province_code = concat(substring(city_code, 1, 2), '0000')"),
        "panel_counts": " AND ".join([f"{c} >= 0" for c in COUNT_VARS] + [
            "rsi >= ex", "rsi_ip <= rsi", "gtr = gtr_local + gtr_other", "gtr_ip BETWEEN gtr_local AND gtr",
            "`in` >= 0", "in_gt >= 0"]),
        "panel_ranges": " AND ".join(
            [f"{c} BETWEEN 0 AND 1" for c in SHARE_VARS]
            + ["(er IS NULL OR er BETWEEN 0 AND 1)", "(ins IS NULL OR ins BETWEEN 0 AND 100)",
               "(qrate IS NULL OR qrate <= 1)", "(fin IS NULL OR fin >= 0)", "(ln_fdi IS NULL OR ln_fdi >= 0)",
               "(HSR IS NULL OR HSR IN (0, 1))", "(cgl IS NULL OR cgl IN (0, 1))",
               "(zts IS NULL OR zts >= 1)", "(gjs IS NULL OR gjs BETWEEN 1 AND 3)",
               "((rps IS NULL) = (zts IS NULL) AND (rps IS NULL) = (gjs IS NULL))"]),
        "panel_logs": " AND ".join(f"abs(ln_{v} - ln(1 + {_q(v)})) < 1e-9" for v in LN_VARS),
    },
    comment="SPEC §4-§6 city-year panel: one row per sample city and study year (missing controls are null)",
    keys=("city_code", "year"),
)


TABLES: tuple[TableSpec, ...] = (POLICY_TOOLS, POLICY_SYNERGY, POLICY_REJECTS, CITY_CONTROLS, PROVINCE_IP,
                                   CITY_ATTRIBUTES, CONTROL_REJECTS, SAMPLE_LOG, ER_INDEX, ER_WEIGHTS, COLLAB_EDGES,
                                   TRANSFER_EDGES, CITY_NETWORK_METRICS, NETWORK_SUMMARY, PANEL)
