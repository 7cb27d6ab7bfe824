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

Records that cannot be used are rejected with a reason (`text.REJECT_REASONS`) into
bronze.policy_rejects; records in = accepted + rejected. One record's parsing (agencies, tools,
year, province) is in `text`; the tables in `gold.tables`;
the Spark transforms in `synergy`; this module reads the files and runs the stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.core import state, tables
from greenlink.core.config import conf_file, study_years
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.gold.policy.synergy import accepted_policies, parse_policies, policy_rejects, policy_synergy, provinces_frame
from greenlink.gold.policy.text import AgencyDictionary, ToolDictionary
from greenlink.gold.tables import POLICY_REJECTS, POLICY_SYNERGY, POLICY_TOOLS

# --------------------------------------------------------------------------- files

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


# --------------------------------------------------------------------------- stage

@dataclass(frozen=True)
class PolicyConfig:
    """What `greenlink policy` runs on (the command's options as values)."""

    input: str | None = None                  # raw input folder holding policies/*.jsonl
    years: tuple[int, int] | None = None      # study years of gold.policy_synergy (None: conf/panel.yaml)
    tools: str | None = None                  # tool dictionary (None: conf/policy_tools.yaml)
    agencies: str | None = None               # agency dictionary (None: conf/policy_agencies.yaml)
    full: bool = False                        # run even when the inputs are unchanged


CONFIG = PolicyConfig  # the config `run` takes (core.stages: how the pipeline finds it)


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
