"""Estimate a model or whole tables from a pandas panel (SPEC §7).

`estimate(panel, model)` -> SystemResults for one ModelSpec;
`run_tables(panel, tables)` -> TableResult per TableDef (regression or descriptive);
`estimate_tables(panel, tables)` -> the long frame (table, column, equation, term, coef, se, p,
nobs, r2, loglik, n_censored, n_uncensored, n_informative, sigma, se_sigma, alpha, se_alpha,
note) that becomes gold.estimates and estimates.csv.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError
from greenlink.estimate import design
from greenlink.estimate.describe import descriptive_table
from greenlink.estimate.results import LONG_COLUMNS, SystemResults
from greenlink.estimate.spec import ModelSpec, TableDef, load_tables

def single_threaded_blas():
    """BLAS limited to one thread while estimating: the matrices are small (hundreds of
    columns), where threads gain nothing, and on a shared machine oversubscribed OpenBLAS
    threads made a 600x600 Cholesky ~100x slower. Uses threadpoolctl when it is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:      # results are the same, only slower under load
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


IV_ESTIMATORS = ("3sls", "2sls")
ESTIMATES_COLUMNS = ["table", "column", *LONG_COLUMNS]


def estimate(panel: pd.DataFrame, model: ModelSpec, unit: str | None = "city_code", time: str = "year",
             contemporaneous: bool | None = None, where: str | None = None) -> SystemResults:
    """Fit one model on the panel. `contemporaneous=True` forces the SPEC §7 contemporaneous
    option on the instrumental-variable estimators (3sls, 2sls); the likelihood estimators and
    OLS have no instruments, so they keep the lagged specification and say so in a note."""
    note = None
    if contemporaneous is not None:
        if model.estimator in IV_ESTIMATORS:
            model = replace(model, contemporaneous=contemporaneous)
        elif contemporaneous:
            note = f"contemporaneous option not applicable to {model.estimator}: lagged specification kept"
    with single_threaded_blas():
        res = _estimate(panel, model, unit, time, where)
    if note:
        res.notes.append(note)
    return res


def _checked_fit(md: design.ModelData, where: str | None = None) -> SystemResults:
    try:
        return _fit(md)
    except np.linalg.LinAlgError as exc:
        n = min(len(e.y) for e in md.equations)
        raise UserError(f"{where or 'model ' + md.model.name}: numerically singular estimation ({exc}) with {n} "
                        "observations: the panel is too small for the spec or regressors are nearly collinear") from None


def _estimate(panel: pd.DataFrame, model: ModelSpec, unit: str | None, time: str, where: str | None) -> SystemResults:
    md = design.build(panel, model, unit, time, where=where)
    res = _checked_fit(md, where)
    if model.bias_correction == "jackknife":
        from greenlink.estimate.jackknife import correct

        res = correct(panel, md, res, unit, time, where or f"model {model.name}", _checked_fit)
    for ed in md.equations:     # for per-SD effects (coefficient x sd of the regressor in the sample)
        if ed.name in res.equations:
            x = pd.concat([ed.exog, ed.endog], axis=1)
            res.equations[ed.name].regressor_sd = {c: float(x[c].std(ddof=1)) for c in x.columns}
    return res


def _fit(md: design.ModelData) -> SystemResults:
    model = md.model
    est = model.estimator
    # local: linearmodels (imported by all three estimator modules) takes seconds to load,
    # and Table 1 (descriptive) needs none of them
    if est == "3sls":
        from greenlink.estimate.linear import fit_3sls
        return fit_3sls(md)
    if est in ("ols", "2sls"):
        from greenlink.estimate.linear import fit_equations
        return fit_equations(md, est)
    if est == "tobit":
        from greenlink.estimate.tobit import fit_tobit_model
        return fit_tobit_model(md)
    if est == "mixed_ml":
        from greenlink.estimate.mixed import fit_mixed
        return fit_mixed(md)
    raise UserError(f"unknown estimator {est!r}")


@dataclass
class TableResult:
    """One estimated (or described) table: its definition, model results and failures."""

    table: TableDef
    results: dict[str, SystemResults] = field(default_factory=dict)   # model name -> results
    failures: dict[str, str] = field(default_factory=dict)            # model name -> one-line reason
    descriptive: pd.DataFrame | None = None

    def long(self) -> pd.DataFrame:
        """Long estimates (one row per column/equation/term), in the table's column order."""
        frames = []
        for m, e in self.table.columns():
            res = self.results.get(m.name)
            if res is None or e.name not in res.equations:
                continue
            f = res.equations[e.name].to_frame()
            f.insert(0, "column", e.column)
            f.insert(0, "table", self.table.table)
            frames.append(f)
        if not frames:
            return pd.DataFrame(columns=ESTIMATES_COLUMNS)
        return pd.concat(frames, ignore_index=True)[ESTIMATES_COLUMNS]


def run_table(panel: pd.DataFrame, table: TableDef, contemporaneous: bool | None = None,
              on_error: str = "raise") -> TableResult:
    """Estimate every model of a table (or compute Table 1 for a descriptive table).

    on_error="record" keeps going when a model raises a UserError and records the reason."""
    out = TableResult(table=table)
    if table.kind == "descriptive":
        out.descriptive = descriptive_table(panel, table)
        return out
    for m in table.models:
        try:
            out.results[m.name] = estimate(panel, m, table.unit, table.time, contemporaneous,
                                           where=f"{table.table} model {m.name}")
        except UserError as exc:
            if on_error == "raise":
                raise
            out.failures[m.name] = str(exc)
    return out


def run_tables(panel: pd.DataFrame, tables: list[TableDef], contemporaneous: bool | None = None,
               on_error: str = "raise") -> list[TableResult]:
    return [run_table(panel, t, contemporaneous, on_error) for t in tables]


def estimate_tables(panel: pd.DataFrame, specs, contemporaneous: bool | None = None,
                    on_error: str = "raise") -> pd.DataFrame:
    """Long results of every regression table: columns ESTIMATES_COLUMNS (table, column, equation,
    term, coef, se, p, nobs, r2, the equation statistics of results.STAT_COLUMNS, note: why a
    term has no estimate, e.g. absorbed by city fixed effects).

    `specs`: TableDefs, or spec file paths / a folder of them (e.g. conf/estimation)."""
    if isinstance(specs, (str, Path)) or (isinstance(specs, list) and specs and isinstance(specs[0], (str, Path))):
        specs = load_tables(specs)
    frames = [r.long() for r in run_tables(panel, specs, contemporaneous, on_error)
              if r.table.kind == "regression"]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=ESTIMATES_COLUMNS)
    return pd.concat(frames, ignore_index=True)
