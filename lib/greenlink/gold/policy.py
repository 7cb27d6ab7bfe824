"""Regional policy synergy from provincial 产学研 policy documents (SPEC §6): zts, gjs, rps.

Per policy (one JSON object per line of `<input>/policies/*.jsonl`, docs/raw_formats.md):
- issuing agencies from the `agencies` field, split and normalised with the reviewable
  dictionary conf/policy_agencies.yaml (`parse_agencies`); PZ = number of distinct agencies;
- Rothwell–Zegveld tool types from the `text`: jieba segmentation with the dictionary's
  keywords added to jieba's user dictionary, then keyword matching on token boundaries
  with conf/policy_tools.yaml (`detect_tools`); PG = number of types present (0–3).
Per province p and year t (`policy_synergy`), over the policies with at least one tool type:
  zts = mean PZ, gjs = mean PG (1–3), rps = zts × gjs.
Policies with no detected tool are kept in gold.policy_tools (in_synergy = false) but do not
enter the means: SPEC §6 defines a policy's tool count on 1–3, so a policy without any
instrument is outside the index's population (counted, see docs/panel_parts.md).
Province-years without such policies follow conf/policy_tools.yaml `synergy.empty_year`.

Records that cannot be used are rejected with a reason (`policy_text.REJECT_REASONS`) into
bronze.policy_rejects; records in = accepted + rejected. One record's parsing (agencies, tools,
year, province) is in `policy_text`; the tables in `gold.tables`;
this module holds the Spark side and the stage.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import state, tables
from greenlink.core.config import conf_file, study_years
from greenlink.core.errors import UserError
from greenlink.core.printable import printable_column
from greenlink.core.rejects import accepted_rows, first_at, mark_first
from greenlink.core.runs import Run
from greenlink.gold.policy_text import (EMPTY_YEAR_RULES, AgencyDictionary, ToolDictionary,
                                        parse_record)
from greenlink.gold.tables import POLICY_REJECTS, POLICY_SYNERGY, POLICY_TOOLS
from greenlink.reference.gazetteer import province_lookup, provinces

FILLS: tuple[str, ...] = ("observed", "carried_forward", "missing")


_PARSED_COLUMNS = [f.name for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")] \
    + ["reject_reason", "reject_detail"]
_PARSED_SCHEMA = T.StructType(
    [T.StructField("source_file", T.StringType()), T.StructField("source_line", T.LongType()),
     T.StructField("raw_record", T.StringType())]
    + [f for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")]
    + [T.StructField("reject_reason", T.StringType()), T.StructField("reject_detail", T.StringType())])


# --------------------------------------------------------------------------- Spark

LINES_SCHEMA = "source_file string, source_line long, raw_record string"


def read_policy_lines(spark: SparkSession, input_dir: str | Path) -> tuple[DataFrame, int, int]:
    """`<input>/policies/*.jsonl` -> (DataFrame source_file, source_line, raw_record; its number
    of rows; number of blank lines skipped). Policy files are small (thousands of lines): read on the driver,
    which keeps exact 1-based line numbers. source_file is relative to `input_dir`."""
    root = Path(input_dir)
    folder = root / "policies"
    if not folder.is_dir():
        raise UserError(f"no policies folder: {folder}")
    files = sorted(folder.glob("*.jsonl"))
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".jsonl")
    if others:
        raise UserError(f"{folder}: unknown file format(s) {', '.join(others)} (expected .jsonl)")
    if not files:
        raise UserError(f"{folder}: no .jsonl files")
    rows, blank = [], 0
    for f in files:
        rel = str(f.relative_to(root))
        text = f.read_bytes().decode("utf-8-sig", errors="replace")
        for k, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((rel, k, line))
            else:
                blank += 1
    return spark.createDataFrame(rows, LINES_SCHEMA), len(rows), blank


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


# --------------------------------------------------------------------------- stage

@dataclass(frozen=True)
class PolicyConfig:
    """What `greenlink policy` runs on (the command's options as values)."""

    input: str | None = None                  # raw input folder holding policies/*.jsonl
    years: tuple[int, int] | None = None      # study years of gold.policy_synergy (None: conf/panel.yaml)
    tools: str | None = None                  # tool dictionary (None: conf/policy_tools.yaml)
    agencies: str | None = None               # agency dictionary (None: conf/policy_agencies.yaml)
    full: bool = False                        # run even when the inputs are unchanged


def run(spark: SparkSession, config: PolicyConfig = PolicyConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Read policies, write gold.policy_tools, bronze.policy_rejects, gold.policy_synergy.
    Returns the counts recorded in _meta.runs."""
    if not config.input:
        raise UserError("--input DIR is required (the folder holding policies/*.jsonl)")
    years = config.years or study_years()
    tools = ToolDictionary.load(config.tools)
    agencies = AgencyDictionary.load(config.agencies)
    inputs = {"input": str(config.input), "tools": str(config.tools or conf_file("policy_tools.yaml")),
              "agencies": str(config.agencies or conf_file("policy_agencies.yaml"))}
    folder = Path(config.input) / "policies"
    st = state.stage_state(
        spark, "policy", __name__, owns=(POLICY_TOOLS.name, POLICY_REJECTS.name, POLICY_SYNERGY.name),
        files={"policies": state.file_digest(folder.glob("*")) if folder.is_dir() else "none",
               "dictionaries": state.file_digest([Path(inputs["tools"]), Path(inputs["agencies"])])},
        settings={"years": years})
    with Run(spark, "policy", inputs=inputs, args={"years": years}, parent_run_id=parent_run_id) as r:
        if r.track(st, full=config.full) == "skipped":
            return dict(r.counts)
        lines, n_lines, blank = read_policy_lines(spark, config.input)
        parsed = parse_policies(lines, tools, agencies).persist()
        try:
            stats = parsed.groupBy("reject_reason").agg(
                F.count(F.lit(1)).alias("n"),
                F.sum(F.when(~F.col("in_synergy"), 1).otherwise(0)).alias("no_tool"),
                F.array_distinct(F.flatten(F.collect_list("agencies_unmatched"))).alias("unmatched")).collect()
            by_reason = {row["reject_reason"]: row["n"] for row in stats}
            records_in = sum(by_reason.values())
            accepted = by_reason.pop(None, 0)
            rejected = sum(by_reason.values())
            if records_in != accepted + rejected or records_in != n_lines:
                raise RuntimeError(f"policy counts do not reconcile: lines {n_lines}, in {records_in}, "
                                   f"accepted {accepted}, rejected {rejected}")
            good = [row for row in stats if row["reject_reason"] is None]
            r.count("policies.blank_lines", blank)
            r.count("policies.records_in", records_in)
            r.count("policies.accepted", accepted)
            r.count("policies.rejected", rejected)
            for reason, n in sorted(by_reason.items()):
                r.count(f"policies.rejected.{reason}", n)
            r.count("policies.no_tool", good[0]["no_tool"] if good else 0)
            r.count("policies.unmatched_agency_names", len(good[0]["unmatched"]) if good else 0)
            # Small tables: each stage run replaces them whole (same input -> same content).
            tables.write(accepted_policies(parsed), POLICY_TOOLS, mode="overwrite")
            tables.write(policy_rejects(parsed), POLICY_REJECTS, mode="overwrite")
        finally:
            parsed.unpersist()
        synergy = policy_synergy(tables.read(spark, POLICY_TOOLS.name), provinces_frame(spark),
                                 years, tools.empty_year)
        tables.write(synergy, POLICY_SYNERGY, mode="overwrite")
        for row in tables.read(spark, POLICY_SYNERGY.name).groupBy("fill").count().collect():
            r.count(f"synergy.{row['fill']}", row["count"])
        r.log(f"{accepted} policies accepted, {rejected} rejected; synergy written")
        return dict(r.counts)
