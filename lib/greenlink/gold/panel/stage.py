"""`greenlink panel`: the city-year panel of SPEC §4–§6 (gold.city_year_panel).

One row per sample city (gold.sample_log) and study year, with
- every SPEC §4 network variable from gold.city_network_metrics (`bc_gt` is SPEC's transfer
  `bc`: Delta column names are case-insensitive and `BC` exists) and their ln(1+x) forms;
- `app` = silver.patents rows (all types, green or not) by the first applicant's city and
  application year, and ln_app;
- SPEC §5 controls: ln_pgdp, ln_fdi, fin, ins (silver.city_controls), qrate
  (silver.province_ip), HSR, cgl (silver.city_attributes), er (gold.er_index);
- SPEC §6 policy synergy zts, gjs, rps of the city's province (gold.policy_synergy).
Missing controls stay null (docs/panel.md): the econometrics drops incomplete rows per
equation; only `er` is gap-filled, by the controls stage as SPEC §5 prescribes. The rows come
from `gold.panel.assembly`; Table 1 (descriptive statistics of this panel) is one of the
article's tables the estimate stage writes (docs/architecture.md, "Layout").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from greenlink.core import state, tables
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.gold.panel.assembly import app_audit, app_counts, assemble_panel, coverage_problems, panel_grid
from greenlink.gold.panel.settings import PanelSettings
from greenlink.gold.sample import sample_cities
from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CITY_NETWORK_METRICS, ER_INDEX, NULLABLE, PANEL,
                                   POLICY_SYNERGY, PROVINCE_IP, SAMPLE_LOG)
from greenlink.silver.tables import PATENTS

JOB = "panel"
# Tables the panel reads, by name, in `assemble_panel`'s order after the grid's.
INPUTS: tuple[str, ...] = tuple(s.name for s in (CITY_NETWORK_METRICS, PATENTS, CITY_CONTROLS, PROVINCE_IP,
                                                 CITY_ATTRIBUTES, ER_INDEX, POLICY_SYNERGY))


@dataclass(frozen=True)
class PanelConfig:
    """What `greenlink panel` runs on (the command's options as values)."""

    years: tuple[int, int] | None = None      # study years (None: conf/panel.yaml)
    panel_conf: str | None = None             # panel settings (None: conf/panel.yaml)
    full: bool = False                        # run even when the inputs are unchanged


CONFIG = PanelConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark: SparkSession, config: PanelConfig = PanelConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Write gold.city_year_panel; returns the counts recorded in _meta.runs."""
    conf = PanelSettings.load(config.panel_conf)
    years = config.years or conf.years
    inputs = {"panel_conf": conf.source}
    st = state.stage_state(spark, JOB, __name__, reads=(*INPUTS, SAMPLE_LOG.name), owns=(PANEL.name,),
                           files={"conf": state.file_digest([Path(conf.source)])},
                           settings={"years": years})
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
        return dict(r.counts)
