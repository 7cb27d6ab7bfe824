"""The estimate stage: the article's tables on a panel -> estimates, rendered tables, plots.

`run(spark, EstimateConfig)` is the pipeline stage (gold.city_year_panel -> gold.estimates and
<reports>/tables); `run_panel_file(EstimateConfig(panel=...))` estimates the article's tables or
any specs on a panel file without Spark (`greenlink estimate --panel`); `run_estimation` does the
work on a pandas panel (both, the tests). The command line is `greenlink.ops.commands.estimate`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenlink.core import state
from greenlink.core import tables as delta_tables   # `tables` here are the article's Tables 1-8
from greenlink.core.config import conf_file
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.core.session import reports_dir
from greenlink.estimate.fitting import run_tables
from greenlink.estimate.io import read_panel
from greenlink.estimate.render import FORMATS, write_reports
from greenlink.estimate.results import STAT_COLUMNS
from greenlink.estimate.spec import load_tables
from greenlink.estimate.tables import ESTIMATES, ESTIMATES_CSV_COLUMNS
from greenlink.gold.tables import PANEL

SPEC_DIR = "estimation"


def article_tables(names: str, spec_dir: Path | None = None):
    """The article's table specs from conf/estimation: `all` or a comma-separated subset."""
    tables = load_tables(spec_dir or conf_file(SPEC_DIR))
    if names.strip() == "all":
        return tables
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {t.table: t for t in tables}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UserError(f"unknown table(s) {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[n] for n in wanted]


def sample_frame(results) -> pd.DataFrame:
    """Row accounting of every estimated equation: table, model, equation, item, rows."""
    rows = []
    for tr in results:
        for mname, res in tr.results.items():
            for eq in res.equations.values():
                if eq.counts is None:
                    continue
                for item, n in eq.counts.as_dict().items():
                    rows.append((tr.table.table, mname, eq.name, item, n))
    return pd.DataFrame(rows, columns=["table", "model", "equation", "item", "rows"])


def estimates_frame(results) -> pd.DataFrame:
    """Long estimates with the model and estimator of each row (estimates.csv)."""
    frames = []
    for tr in results:
        if tr.table.kind != "regression":
            continue
        long = tr.long()
        if not len(long):
            continue
        model_of = {e.column: m.name for m, e in tr.table.columns()}
        est_of = {e.column: tr.results[m.name].equations[e.name].estimator
                  for m, e in tr.table.columns() if m.name in tr.results}
        long.insert(1, "model", long["column"].map(model_of))
        long.insert(2, "estimator", long["column"].map(est_of))
        frames.append(long)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ESTIMATES_CSV_COLUMNS)


def run_estimation(panel: pd.DataFrame, tables, out_dir: str | Path, formats: tuple[str, ...] = ("md", "tex", "html", "csv"),
                   contemporaneous: bool | None = None, on_error: str = "raise", plots: bool = True):
    """Estimate `tables` on `panel` and write estimates.csv, samples.csv and the rendered tables
    to `out_dir`. Returns (results, estimates frame)."""
    results = run_tables(panel, tables, contemporaneous, on_error)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    est = estimates_frame(results)
    est.to_csv(out / "estimates.csv", index=False)
    sample_frame(results).to_csv(out / "samples.csv", index=False)
    write_reports(results, out, formats, plots)
    return results, est


def _same_estimates(old: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Equal up to the producing run and float noise far below any reported digit."""
    keys = ["table", "column", "equation", "term"]
    if len(old) != len(new) or set(old.columns) - {"run"} != set(new.columns) - {"run"}:
        return False
    a, b = old.sort_values(keys).reset_index(drop=True), new.sort_values(keys).reset_index(drop=True)
    for c in ("table", "model", "estimator", "column", "equation", "term", "nobs", "note"):
        if not a[c].astype("string").fillna("").equals(b[c].astype("string").fillna("")):
            return False
    return all(np.allclose(a[c].astype(float), b[c].astype(float), rtol=1e-10, atol=1e-12, equal_nan=True)
               for c in ("coef", "se", "p", "r2", *STAT_COLUMNS))


@dataclass(frozen=True)
class EstimateConfig:
    """What `greenlink estimate` runs, its options as values. Without `panel` it is the pipeline
    stage (`run`: the article's `tables` on gold.city_year_panel); with `panel` a panel file is
    estimated without Spark (`run_panel_file`): the article's `tables`, or `specs` when given."""

    tables: str = "all"                       # `all` or comma-separated article tables of conf/estimation
    out: str | None = None                    # output folder (None: <reports>/tables; required with specs)
    plots: bool = True                        # False: skip the coefficient plots
    reports: str | None = None                # reports folder (None: <warehouse>/../reports)
    full: bool = False                        # run even when the panel and the specs are unchanged
    panel: str | None = None                  # panel file (.csv, .tsv, .parquet, Delta folder) instead of the warehouse's
    specs: tuple[str, ...] = ()               # estimation spec YAMLs to run on `panel` instead of `tables`
    formats: tuple[str, ...] = FORMATS        # rendered table formats
    contemporaneous: bool = False             # SPEC §7 option for every model (False: as each spec says)

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise UserError(f"unknown format(s) {', '.join(bad)}; formats: {', '.join(FORMATS)}")
        if self.specs and not (self.panel and self.out):
            raise UserError("--spec needs --panel FILE and --out DIR")


CONFIG = EstimateConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark, config: EstimateConfig = EstimateConfig(), parent_run_id: str | None = None) -> dict[str, int]:
    """Pipeline stage: every article table on gold.city_year_panel -> gold.estimates and
    <reports>/tables. gold.estimates is rewritten only when an estimate changed, so a rerun on
    an unchanged panel leaves the table as it was."""
    if config.panel or config.specs:
        raise ValueError(f"the estimate stage reads {PANEL.name}; a panel file goes to run_panel_file")
    if not delta_tables.exists(spark, PANEL.name):
        raise UserError(f"{PANEL.name} not found: run `greenlink panel` (or `greenlink run`) first")
    spec = ESTIMATES
    names = config.tables or "all"
    out = Path(config.out or Path(reports_dir(spark, config)) / "tables")
    st = state.stage_state(spark, "estimate", __name__, reads=(PANEL.name,), owns=(spec.name,),
                           files={"specs": state.file_digest(conf_file("estimation").rglob("*"))},
                           settings={"tables": names, "out": str(out), "plots": config.plots,
                                     "formats": list(config.formats), "contemporaneous": config.contemporaneous})
    with Run(spark, "estimate", inputs={PANEL.name: str(delta_tables.latest_version(spark, PANEL.name))},
             args={"tables": names}, parent_run_id=parent_run_id) as r:
        if r.track(st, full=config.full) == "skipped":
            return dict(r.counts)
        panel = delta_tables.read(spark, PANEL.name).toPandas()
        r.log(f"panel: {len(panel):,} city-years; estimating {names}")
        results, est = run_estimation(panel, article_tables(names), out, config.formats,
                                      _contemporaneous(config), on_error="record", plots=config.plots)
        est = est.assign(run=r.run_id, **{c: pd.to_numeric(est[c], errors="coerce").astype("Int64")
                                          for c in ("nobs", "n_censored", "n_uncensored", "n_informative")})
        failed = [(tr.table.table, m, why) for tr in results for m, why in tr.failures.items()]
        for table, model, why in failed:
            r.log(f"{table} model {model} failed: {why}")
        r.count("estimates.rows", len(est))
        r.count("estimates.failed_models", len(failed))
        old = delta_tables.read(spark, spec.name).toPandas() if delta_tables.exists(spark, spec.name) else None
        if old is not None and _same_estimates(old, est):
            r.log(f"estimates unchanged; {spec.name} left as is")
            r.count("estimates.unchanged", 1)
        else:
            frame = est[list(spec.schema.fieldNames())].astype(object).where(est.notna(), None)
            delta_tables.write(spark.createDataFrame(frame.values.tolist(), spec.schema), spec)
            r.log(f"{spec.name} written; reports in {out}")
        return dict(r.counts)


def _contemporaneous(config: EstimateConfig) -> bool | None:
    return True if config.contemporaneous else None        # None: as each spec says


def run_panel_file(config: EstimateConfig, warehouse: str | None = None):
    """`greenlink estimate --panel FILE`: `config.specs` (failures raise) or the article's
    `config.tables` (failures recorded, as in the stage) on a panel file, without Spark or
    warehouse tables. Output to `config.out`, else <reports>/tables with <reports> =
    `config.reports` or <warehouse>/../reports. Returns (results, estimates frame, output folder)."""
    if not config.panel:
        raise ValueError("run_panel_file needs config.panel; the warehouse's panel is the stage, `run`")
    if config.specs:
        tables, on_error = load_tables(list(config.specs)), "raise"
    else:
        tables, on_error = article_tables(config.tables), "record"
    if config.out:
        out = Path(config.out)
    elif config.reports or warehouse:
        out = Path(config.reports or Path(warehouse).parent / "reports") / "tables"
    else:
        raise ValueError("no output folder: config.out, config.reports or the warehouse")
    results, est = run_estimation(read_panel(config.panel), tables, out, config.formats, _contemporaneous(config),
                                  on_error, config.plots)
    return results, est, out
