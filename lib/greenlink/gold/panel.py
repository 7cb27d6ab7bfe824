"""`greenlink panel`: the city-year panel of SPEC §4–§6 (gold.city_year_panel) and Table 1.

One row per sample city (gold.sample_log) and study year, with
- every SPEC §4 network variable from gold.city_network_metrics (`bc_gt` is SPEC's transfer
  `bc`: Delta column names are case-insensitive and `BC` exists) and their ln(1+x) forms;
- `app` = silver.patents rows (all types, green or not) by the first applicant's city and
  application year, and ln_app;
- SPEC §5 controls: ln_pgdp, ln_fdi, fin, ins (silver.city_controls), qrate
  (silver.province_ip), HSR, cgl (silver.city_attributes), er (gold.er_index);
- SPEC §6 policy synergy zts, gjs, rps of the city's province (gold.policy_synergy).
Missing controls stay null (docs/panel.md): the econometrics drops incomplete rows per
equation; only `er` is gap-filled, by the controls stage as SPEC §5 prescribes.
Table 1 (conf/estimation/table1.yaml) is written to <reports>/tables/ as Markdown, LaTeX and CSV.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.core import state, tables
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.core.session import reports_dir
from greenlink.estimate.estimate import run_table
from greenlink.estimate.render import write_reports
from greenlink.estimate.spec import load_table
from greenlink.gold.panelconf import PanelSettings
from greenlink.gold.sample import sample_cities
from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CITY_NETWORK_METRICS, ER_INDEX, LN_VARS,
                                   NETWORK_VARS, NULLABLE, PANEL, PANEL_COLUMNS, POLICY_SYNERGY, POLICY_VARS, PROVINCE_IP,
                                   SAMPLE_LOG, panel_type)
from greenlink.silver.tables import PATENTS

JOB = "panel"
# Tables the panel reads, by name, in `assemble_panel`'s order after the grid's.
INPUTS: tuple[str, ...] = tuple(s.name for s in (CITY_NETWORK_METRICS, PATENTS, CITY_CONTROLS, PROVINCE_IP,
                                                 CITY_ATTRIBUTES, ER_INDEX, POLICY_SYNERGY))

# --------------------------------------------------------------------------- pieces (pure)

def panel_grid(sample: DataFrame, years: tuple[int, int]) -> DataFrame:
    """Every sample city × study year: city_code, city_name, province_code, year."""
    ys = sample.sparkSession.range(years[0], years[1] + 1).select(F.col("id").cast("int").alias("year"))
    return sample.select("city_code", "city_name", "province_code").crossJoin(ys)


def app_counts(patents: DataFrame, years: tuple[int, int]) -> DataFrame:
    """SPEC §4 `app`: (city_code, year, app) = patent rows (all types, green or not) whose first
    applicant is located in the city, by application year; unlocated rows are not counted."""
    return (patents.where(F.col("city_code").isNotNull() & F.col("year").between(*years))
            .groupBy("city_code", F.col("year").cast("int").alias("year"))
            .agg(F.count(F.lit(1)).alias("app")))


def app_audit(patents: DataFrame, sample: DataFrame, years: tuple[int, int]) -> DataFrame:
    """Where the study years' patent rows go: (outcome, rows) with outcome counted (first
    applicant in a sample city), outside_sample (located elsewhere) or unlocated."""
    flag = F.broadcast(sample.select("city_code", F.lit(True).alias("_in")))
    p = patents.where(F.col("year").between(*years)).select("city_code").join(flag, "city_code", "left")
    outcome = (F.when(F.col("city_code").isNull(), "unlocated").when(F.col("_in").isNull(), "outside_sample")
               .otherwise("counted"))
    return p.groupBy(outcome.alias("outcome")).agg(F.count(F.lit(1)).alias("rows"))


def control_vars(controls: DataFrame) -> DataFrame:
    """SPEC §5 city controls from silver.city_controls: (city_code, year, ln_pgdp, ln_fdi, fin, ins).
    ln_pgdp = ln(GDP per capita); ln_fdi = ln(1 + FDI); fin = (deposits + loans) / GDP; ins = tertiary
    share of GDP (%). A missing input leaves the variable null."""
    return controls.select(
        "city_code", F.col("year").cast("int").alias("year"),
        F.when(F.col("pgdp") > 0, F.log(F.col("pgdp"))).alias("ln_pgdp"),
        F.log1p(F.col("fdi")).alias("ln_fdi"),
        F.when(F.col("gdp") > 0, F.col("deposits_loans") / F.col("gdp")).alias("fin"),
        F.col("ins").cast("double").alias("ins"))


def qrate(province_ip: DataFrame) -> DataFrame:
    """SPEC §5 `qrate` = 1 − disputes / patents granted, per (province_code, year); null when
    either is missing or no patent was granted."""
    return province_ip.select(
        "province_code", F.col("year").cast("int").alias("year"),
        F.when(F.col("grants") > 0, 1.0 - F.col("disputes") / F.col("grants")).alias("qrate"))


def hsr(year: Column) -> Column:
    """SPEC §5 `HSR` = 1 in and after the opening year, else 0 (no opening year: 0); null for a
    city without an attributes row. Needs the `_has_attributes` marker of `assemble_panel`."""
    return (F.when(F.col("_has_attributes").isNull(), F.lit(None))
            .when(F.col("hsr_open_year") <= year, F.lit(1)).otherwise(F.lit(0)).cast("int"))


def assemble_panel(grid: DataFrame, metrics: DataFrame, app: DataFrame, controls: DataFrame,
                   province_ip: DataFrame, attributes: DataFrame, er: DataFrame, synergy: DataFrame) -> DataFrame:
    """The gold.city_year_panel rows (PANEL_COLUMNS) of `grid` (city_code, city_name,
    province_code, year).

    metrics: gold.city_network_metrics; app: `app_counts` (absent city-year = 0);
    controls: silver.city_controls; province_ip: silver.province_ip; attributes:
    silver.city_attributes; er: gold.er_index; synergy: gold.policy_synergy. Every join is a
    left join on the grid: a grid row without metrics keeps null network variables (the stage
    refuses that case before writing, `coverage_problems`)."""
    keys = ["city_code", "year"]
    attrs = attributes.select("city_code", "cgl", "hsr_open_year", F.lit(True).alias("_has_attributes"))
    d = (grid
         .join(metrics.select(*keys, *NETWORK_VARS), keys, "left")
         .join(app.select(*keys, "app"), keys, "left")
         .join(control_vars(controls), keys, "left")
         .join(qrate(province_ip), ["province_code", "year"], "left")
         .join(attrs, "city_code", "left")
         .join(er.select(*keys, "er"), keys, "left")
         .join(synergy.select("province_code", "year", *POLICY_VARS), ["province_code", "year"], "left")
         .withColumn("app", F.coalesce(F.col("app"), F.lit(0)).cast("long"))
         .withColumn("HSR", hsr(F.col("year")))
         .withColumn("cgl", F.col("cgl").cast("int")))
    d = d.withColumns({f"ln_{v}": F.log1p(F.col(v).cast("double")) for v in LN_VARS})
    return d.select(*[F.col(c).cast(panel_type(c)).alias(c) for c in PANEL_COLUMNS])


def coverage_problems(grid: DataFrame, metrics: DataFrame, years: tuple[int, int]) -> DataFrame:
    """(problem, rows) where gold.city_network_metrics does not match the sample × years grid:
    `missing` sample city-years without metrics, `not_in_sample` metrics rows of other cities
    (networks ran on another sample: rerun it)."""
    keys = ["city_code", "year"]
    m = metrics.where(F.col("year").between(*years)).select(*keys)
    g = grid.select(*keys)
    missing = g.join(m, keys, "left_anti").select(F.lit("missing").alias("problem"))
    extra = m.join(g, keys, "left_anti").select(F.lit("not_in_sample").alias("problem"))
    return missing.unionByName(extra).groupBy("problem").agg(F.count(F.lit(1)).alias("rows"))


# --------------------------------------------------------------------------- Table 1

def write_table1(panel: pd.DataFrame, spec: str | Path, out_dir: str | Path,
                 formats: Sequence[str] = ("md", "tex", "csv")) -> list[Path]:
    """Table 1 (descriptive statistics, article layout) of `panel` as <out_dir>/<table>.<fmt>.
    The panel is sorted by city and year first, so the same panel gives the same bytes."""
    table = load_table(spec)
    if table.kind != "descriptive":
        raise UserError(f"{spec}: Table 1 must be a descriptive table (kind: descriptive)")
    ordered = panel.sort_values(["city_code", "year"], kind="stable").reset_index(drop=True)
    return write_reports([run_table(ordered, table)], out_dir, tuple(formats), plots=False)


# --------------------------------------------------------------------------- stage

@dataclass(frozen=True)
class PanelConfig:
    """What `greenlink panel` runs on (the command's options as values)."""

    years: tuple[int, int] | None = None      # study years (None: conf/panel.yaml)
    panel_conf: str | None = None             # panel settings (None: conf/panel.yaml)
    reports: str | None = None                # reports folder (None: <warehouse>/../reports)
    full: bool = False                        # run even when the inputs are unchanged


def run(spark: SparkSession, config: PanelConfig = PanelConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Write gold.city_year_panel and Table 1; returns the counts recorded in _meta.runs."""
    conf = PanelSettings.load(config.panel_conf)
    years = config.years or conf.years
    out_dir = Path(reports_dir(spark, config)) / "tables"
    inputs = {"panel_conf": conf.source, "table1_spec": str(conf.table1_spec), "reports": str(out_dir)}
    st = state.stage_state(spark, JOB, __name__, reads=(*INPUTS, SAMPLE_LOG.name), owns=(PANEL.name,),
                           files={"conf": state.file_digest([Path(conf.source), Path(conf.table1_spec)])},
                           settings={"years": years, "reports": str(out_dir)})
    with Run(spark, JOB, inputs=inputs, args={"years": years}, parent_run_id=parent_run_id) as r:
        if r.track(st, full=config.full) == "skipped":
            return dict(r.counts)
        sample = sample_cities(spark)
        read = {name: tables.read(spark, name) for name in INPUTS}
        grid = panel_grid(sample, years)
        problems = {row["problem"]: row["rows"]
                    for row in coverage_problems(grid, read[CITY_NETWORK_METRICS.name], years).collect()}
        if problems:
            raise UserError(f"{CITY_NETWORK_METRICS.name} does not cover the sample × {years[0]}-{years[1]} "
                            f"({', '.join(f'{k}: {v} rows' for k, v in sorted(problems.items()))}): "
                            "rerun `greenlink networks` after `greenlink controls`")
        patents = read[PATENTS.name]
        for row in app_audit(patents, sample, years).collect():
            r.count(f"app.{row['outcome']}", row["rows"])
        panel = assemble_panel(grid, read[CITY_NETWORK_METRICS.name], app_counts(patents, years),
                               *[read[name] for name in INPUTS[2:]])
        tables.write(panel, PANEL, mode="overwrite")
        written = tables.read(spark, PANEL.name)
        stats = written.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct("city_code").alias("cities"),
                            *[F.count(F.when(F.col(c).isNull(), 1)).alias(c) for c in NULLABLE]).first()
        r.count("panel.rows", stats["rows"])
        r.count("panel.cities", stats["cities"])
        for c in NULLABLE:
            r.count(f"panel.null.{c}", stats[c])
        r.log(f"{stats['rows']} city-years of {stats['cities']} cities written")
        pdf = written.toPandas()
        paths = write_table1(pdf, conf.table1_spec, out_dir, conf.table1_formats)
        r.count("table1.files", len(paths))
        r.log(f"Table 1 -> {', '.join(str(p) for p in paths)}")
        return dict(r.counts)
