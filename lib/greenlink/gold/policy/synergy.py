"""The policy records on Spark and the regional policy synergy of SPEC §6 (pure DataFrame
transforms of the policy stage, `gold.policy.stage`).

`parse_policies` turns the lines of the policy files into one parsed row each (one record's
parsing, agencies, tools, year, province: `gold.policy.text`), `accepted_policies` and
`policy_rejects` split them into gold.policy_tools and bronze.policy_rejects rows, and
`policy_synergy` gives zts, gjs, rps per province and year (docs/panel_parts.md).
"""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core.config import study_years
from greenlink.core.printable import printable_column
from greenlink.core.rejects import accepted_rows, first_at, mark_first
from greenlink.gold.policy.text import EMPTY_YEAR_RULES, AgencyDictionary, ToolDictionary, parse_record
from greenlink.gold.tables import POLICY_TOOLS
from greenlink.reference.gazetteer import province_lookup, provinces

FILLS: tuple[str, ...] = ("observed", "carried_forward", "missing")


_PARSED_COLUMNS = [f.name for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")] \
    + ["reject_reason", "reject_detail"]
_PARSED_SCHEMA = T.StructType(
    [T.StructField("source_file", T.StringType()), T.StructField("source_line", T.LongType()),
     T.StructField("raw_record", T.StringType())]
    + [f for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")]
    + [T.StructField("reject_reason", T.StringType()), T.StructField("reject_detail", T.StringType())])



def parse_policies(lines: DataFrame, tools: ToolDictionary, agencies: AgencyDictionary) -> DataFrame:
    """Lines (source_file, source_line, raw_record) -> one parsed row per line (`_PARSED_SCHEMA`:
    the gold.policy_tools columns, raw_record, reject_reason, reject_detail). jieba runs inside
    mapInPandas on the executors; a later line repeating an accepted policy_id is rejected
    (duplicate_row if the line is identical to the first one, else duplicate_policy_id)."""
    lookup = province_lookup()
    cols = _PARSED_SCHEMA.fieldNames()

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            out = []
            for f, ln, raw in zip(pdf["source_file"], pdf["source_line"], pdf["raw_record"]):
                try:
                    row = parse_record(raw, tools, agencies, lookup, _PARSED_COLUMNS)
                except Exception as exc:     # a record shaped in a way no rule foresaw: reject, never crash
                    row = {c: None for c in _PARSED_COLUMNS}
                    row.update(reject_reason="malformed_row",
                               reject_detail=f"unparseable record ({type(exc).__name__}: {exc})"[:300])
                row.update(source_file=f, source_line=int(ln), raw_record=raw)
                out.append(row)
            yield pd.DataFrame(out, columns=cols)

    parsed = lines.mapInPandas(parse, _PARSED_SCHEMA)
    position = ("source_file", "source_line")
    dup = F.col("_repeat") & F.col("policy_id").isNotNull()
    return (mark_first(parsed, ["policy_id"], F.col("reject_reason").isNull(), position, carry=("raw_record",))
            .withColumn("reject_reason", F.when(dup & (F.col("raw_record") == F.col("_first.raw_record")),
                                                "duplicate_row")
                        .when(dup, "duplicate_policy_id").otherwise(F.col("reject_reason")))
            .withColumn("reject_detail", F.when(dup, F.concat(F.lit("first at "), first_at(":", position)))
                        .otherwise(F.col("reject_detail")))
            .drop("_first", "_repeat"))


def accepted_policies(parsed: DataFrame) -> DataFrame:
    """The gold.policy_tools rows of `parse_policies` output."""
    return accepted_rows(parsed, POLICY_TOOLS.schema.fieldNames(), "reject_reason")


def policy_rejects(parsed: DataFrame) -> DataFrame:
    """The bronze.policy_rejects rows of `parse_policies` output."""
    return parsed.where(F.col("reject_reason").isNotNull()).select(
        "source_file", "source_line", "policy_id", F.col("reject_reason").alias("reason"),
        printable_column(F.col("reject_detail")).alias("detail"), "raw_record")


def provinces_frame(spark: SparkSession) -> DataFrame:
    """The 31 province-level units as a DataFrame (province_code, province_name)."""
    p = provinces()
    return spark.createDataFrame(list(zip(p["province_code"], p["province_name"])),
                                 "province_code string, province_name string")


def policy_synergy(policies: DataFrame, province_units: DataFrame,
                   years: tuple[int, int] | None = None, empty_year: str = "carry_forward") -> DataFrame:
    """Accepted policies -> one gold.policy_synergy row per province × year in `years`.

    Input columns: province_code, year, n_agencies, n_tool_types, in_synergy.
    Observed province-year (≥ 1 policy with a tool): zts = mean n_agencies, gjs = mean
    n_tool_types over those policies, rps = zts × gjs, source_year = year. Otherwise, with
    empty_year = carry_forward, the values of the latest earlier year that was observed
    (policies issued before `years` count, later ones do not; default: the study years); with `missing`, or when no
    earlier year was observed, null values and fill = 'missing'.
    """
    if empty_year not in EMPTY_YEAR_RULES:
        raise ValueError(f"empty_year must be one of {EMPTY_YEAR_RULES}")
    years = study_years() if years is None else years
    used = F.col("in_synergy")
    per = (policies.where(F.col("year") <= years[1])
           .groupBy("province_code", "year")
           .agg(F.count(F.lit(1)).alias("n_policies"),
                F.sum(F.when(used, 1).otherwise(0)).cast("long").alias("n_policies_used"),
                F.sum(F.when(used, F.col("n_agencies"))).alias("sum_pz"),
                F.sum(F.when(used, F.col("n_tool_types"))).alias("sum_pg")))
    lo = per.agg(F.least(F.min("year"), F.lit(years[0])).alias("lo"))
    span = lo.select(F.explode(F.sequence(F.col("lo").cast("int"), F.lit(years[1]))).alias("year"))
    grid = province_units.select("province_code", "province_name").crossJoin(span)
    g = grid.join(per, ["province_code", "year"], "left")
    observed = F.coalesce(F.col("n_policies_used"), F.lit(0)) > 0
    obs = F.when(observed, F.struct(
        F.col("year").alias("source_year"),
        (F.col("sum_pz") / F.col("n_policies_used")).alias("zts"),
        (F.col("sum_pg") / F.col("n_policies_used")).alias("gjs")))
    if empty_year == "carry_forward":
        w = Window.partitionBy("province_code").orderBy("year").rowsBetween(Window.unboundedPreceding, Window.currentRow)
        val = F.last(obs, ignorenulls=True).over(w)
    else:
        val = obs
    return (g.withColumn("_v", val)
            .where(F.col("year").between(years[0], years[1]))
            .select("province_code", "province_name", F.col("year").cast("int").alias("year"),
                    F.coalesce("n_policies", F.lit(0)).cast("long").alias("n_policies"),
                    F.coalesce("n_policies_used", F.lit(0)).cast("long").alias("n_policies_used"),
                    F.col("_v.zts").alias("zts"), F.col("_v.gjs").alias("gjs"),
                    (F.col("_v.zts") * F.col("_v.gjs")).alias("rps"),
                    F.when(observed, "observed").when(F.col("_v").isNotNull(), "carried_forward")
                    .otherwise("missing").alias("fill"),
                    F.col("_v.source_year").cast("int").alias("source_year")))
