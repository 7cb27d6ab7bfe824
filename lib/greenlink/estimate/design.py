"""From a pandas panel and a ModelSpec to estimation arrays (SPEC §7).

* Lags are within the panel unit by period value: `x[t-1]` of (city, 2015) is x of (city, 2014);
  a missing (city, 2014) row gives a missing lag, never the previous row of another year.
* Transforms apply before lagging: `ln1p(gtr)[t-1]` = ln(1 + gtr) of t-1.
* Every panel row is either used or excluded with one reason (first that applies: sample
  filter, no lagged row, missing or invalid value of a named term, all-censored fixed-effect
  group); the counts reconcile: rows = used + excluded.
* Fixed effects are dummy sets (one per level present, first level dropped) plus the constant;
  the linear estimators concentrate them out (Frisch-Waugh-Lovell), the ML estimators use
  them as explicit columns. Regressors without variation beyond the dummies (cgl under city
  dummies) are omitted and reported, or are an error with `on_absorbed: error`; linear
  dependence among the remaining regressors is always an error naming them.

Over 400 lines on purpose: lags, transforms, sample accounting and the design arrays are one
contract (the rows an equation uses); splitting it would spread each rule's checks over files.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph

from greenlink.core.errors import UserError
from greenlink.estimate import sample_expr
from greenlink.estimate.spec import EquationSpec, Factor, ModelSpec, Term

UNIT_ALIASES = ("city", "unit")
TIME_ALIASES = ("year", "time")
_ABSORB_TOL = 1e-9
_COLLINEAR_TOL = 1e-9


@dataclass
class SampleCounts:
    """Row accounting for one estimation sample: rows = used + sum(excluded)."""

    rows: int
    excluded: "OrderedDict[str, int]" = field(default_factory=OrderedDict)
    used: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, **{f"excluded: {k}": v for k, v in self.excluded.items()}, "used": self.used}

    def reconciles(self) -> bool:
        return self.rows == self.used + sum(self.excluded.values())


@dataclass
class EquationData:
    """Arrays of one equation on its estimation sample (index = panel row labels)."""

    spec: EquationSpec
    y: pd.Series
    exog: pd.DataFrame            # named exogenous regressors (absorbed ones removed)
    endog: pd.DataFrame           # named endogenous regressors
    excluded: pd.DataFrame        # excluded instruments (system exogenous terms not in exog)
    omitted: dict[str, str]       # term -> reason
    counts: SampleCounts

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def terms(self) -> list[str]:
        return list(self.exog.columns) + list(self.endog.columns)


@dataclass
class FixedEffects:
    """Constant + dummy sets of one sample.

    The linear estimators partial them out exactly by alternating group demeaning (the method
    of alternating projections, converged to 1e-13 relative); the ML estimators take them as a
    sparse dummy matrix (`design()`: constant, then each set's levels except the first)."""

    names: tuple[str, ...]              # fixed-effect names as in the spec (city, year, ...)
    columns: tuple[str, ...]            # panel columns they use
    groups: dict[str, pd.Series]        # fe name -> level of each sample row
    constant: bool
    index: pd.Index = field(default_factory=lambda: pd.RangeIndex(0))   # sample rows
    codes: list[np.ndarray] = field(default_factory=list)
    levels: list[np.ndarray] = field(default_factory=list)
    nparams: int = 0                    # rank of [constant, dummies]
    dropped: int = 0                    # redundant dummies (groups not connected)

    def __post_init__(self) -> None:
        self.codes, self.levels = [], []
        for name in self.names:
            codes, levels = pd.factorize(self.groups[name], sort=True)
            self.codes.append(codes)
            self.levels.append(np.asarray(levels))
        full = int(self.constant or bool(self.names)) + sum(len(lv) - 1 for lv in self.levels)
        if len(self.names) <= 1:
            rank = full
        elif len(self.names) == 2:
            rank = full - (_components(self.codes[0], self.codes[1]) - 1)
        else:
            rank = int(np.linalg.matrix_rank(self._dense()))
        self.nparams, self.dropped = rank, full - rank
        n = len(self.index)
        self._indicators = [scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, len(lv)))
                            for c, lv in zip(self.codes, self.levels)]
        self._counts = [np.bincount(c, minlength=len(lv)).astype(float) for c, lv in zip(self.codes, self.levels)]

    @property
    def active(self) -> bool:
        """Whether anything is partialled out (a constant or dummies)."""
        return self.constant or bool(self.names)

    def partial_out(self, frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
        values = np.array(frame, dtype=float, copy=True)
        one = values.ndim == 1
        m = values.reshape(len(values), -1)
        if not self.names:
            if self.constant:
                m -= m.mean(axis=0)
        else:
            scale = np.abs(m).max(axis=0) + 1e-300
            for sweep in range(20000):
                biggest = 0.0
                for c, g, n in zip(self.codes, self._indicators, self._counts):
                    means = (g.T @ m) / n[:, None]
                    m -= means[c]
                    biggest = max(biggest, float((np.abs(means).max(axis=0) / scale).max()) if m.shape[1] else 0.0)
                if biggest < 1e-13 or len(self.codes) == 1:
                    break
            else:
                raise UserError(f"fixed effects {', '.join(self.names)}: demeaning did not converge")
        out = m[:, 0] if one else m
        if isinstance(frame, pd.Series):
            return pd.Series(out, index=frame.index, name=frame.name)
        return pd.DataFrame(out, index=frame.index, columns=frame.columns)

    def _dense(self) -> np.ndarray:
        return self.design()[0].toarray()

    def design(self) -> tuple[scipy.sparse.csr_matrix, list[str]]:
        """Sparse [constant, dummies] of full column rank and the column names."""
        n = len(self.index)
        blocks, names = [], []
        if self.constant or self.names:
            blocks.append(scipy.sparse.csr_matrix(np.ones((n, 1))))
            names.append("const")
        for name, c, lv in zip(self.names, self.codes, self.levels):
            g = scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, len(lv)))
            blocks.append(g[:, 1:])
            names += [f"{name}={v}" for v in lv[1:]]
        if not blocks:
            return scipy.sparse.csr_matrix((n, 0)), []
        d = scipy.sparse.hstack(blocks, format="csr")
        if self.dropped and len(self.names) >= 2:
            # groups not connected: keep a full-rank subset of the dummies (rare; dense pivoted QR)
            _, r, piv = scipy.linalg.qr(d.toarray(), mode="economic", pivoting=True)
            diag = np.abs(np.diag(r))
            kept = sorted(piv[: int((diag > diag[0] * 1e-10).sum())])
            d, names = d[:, kept], [names[i] for i in kept]
        return d, names


def _components(a: np.ndarray, b: np.ndarray) -> int:
    """Connected components of the bipartite graph linking levels of two fixed effects."""
    na, nb = a.max() + 1, b.max() + 1
    g = scipy.sparse.coo_matrix((np.ones(len(a)), (a, b + na)), shape=(na + nb, na + nb))
    return int(scipy.sparse.csgraph.connected_components(g, directed=False)[0])


@dataclass
class ModelData:
    """Everything an estimator needs for one model."""

    model: ModelSpec
    equations: list[EquationData]
    fe: dict[str, FixedEffects]         # equation name -> its fixed-effect block (shared object for systems)
    unit: str | None
    time: str
    notes: list[str] = field(default_factory=list)
    clusters: dict[str, np.ndarray] = field(default_factory=dict)   # cov_type clustered: equation -> cluster codes
    cluster_values: pd.Series | None = None   # cov_type clustered: cluster label of every panel row (by row label)
    period: pd.Series | None = None           # period of every panel row (by row label; the jackknife's split)


# ----------------------------------------------------------------------------- terms -> columns

def _expr_names(expr: str, where: str) -> set[str]:
    return sample_expr.names(expr, where)          # a spec is user input: whitelisted syntax only


def _resolve_fe(name: str, unit: str | None, time: str, panel: pd.DataFrame, where: str) -> str:
    if name in UNIT_ALIASES:
        if unit is None:
            raise UserError(f"{where}: fixed effect {name!r} needs a panel unit column (panel.unit)")
        return unit
    if name in TIME_ALIASES:
        return time
    if name not in panel.columns:
        raise UserError(f"{where}: fixed effect {name!r} is neither city/year nor a panel column")
    return name


def check_variables(panel: pd.DataFrame, model: ModelSpec, unit: str | None, time: str, where: str) -> None:
    """Every variable the model names must be a panel column (one error listing all missing)."""
    needed: dict[str, None] = {}
    for col in ([unit] if unit else []) + [time]:
        needed[col] = None
    for e in model.equations:
        for t in (e.dependent, *e.regressors):
            for v in t.variables:
                needed[v] = None
        if e.sample:
            for v in sorted(_expr_names(e.sample, where)):
                needed[v] = None
    for t in model.exogenous:
        for v in t.variables:
            needed[v] = None
    if model.sample:
        for v in sorted(_expr_names(model.sample, where)):
            needed[v] = None
    missing = [v for v in needed if v not in panel.columns]
    if missing:
        avail = ", ".join(sorted(map(str, panel.columns))[:40])
        raise UserError(f"{where}: spec names variable(s) not in the panel: {', '.join(missing)} "
                        f"(panel has {len(panel.columns)} columns: {avail}{', ...' if len(panel.columns) > 40 else ''})")
    for name in model.fixed_effects + ((model.cluster,) if model.cluster else ()):
        _resolve_fe(name, unit, time, panel, where)


class PanelFrame:
    """The panel with a (unit, period) index, building factor columns and their lags on demand."""

    def __init__(self, panel: pd.DataFrame, unit: str | None, time: str, where: str) -> None:
        self.where = where
        self.unit, self.time = unit, time
        keys = [unit, time] if unit else [time]
        if panel[keys].isna().any().any():
            raise UserError(f"{where}: the panel has rows without {'/'.join(keys)} (key columns must be complete)")
        t = pd.to_numeric(panel[time], errors="coerce")
        if t.isna().any() or not np.allclose(t, np.round(t)):
            raise UserError(f"{where}: panel time column {time!r} must hold integer periods")
        # rows sorted by (unit, period) first: no estimate may depend on the order the panel
        # arrived in (Spark's toPandas() and delta-rs differ), down to the last bit of a sum
        t = t.round().astype(np.int64)
        keys_frame = pd.DataFrame({"u": panel[unit].astype(str).values if unit else "", "t": t.values})
        order = keys_frame.sort_values(["u", "t"], kind="mergesort").index
        self.panel = panel.iloc[order].reset_index(drop=True)
        self.t = t.iloc[order].reset_index(drop=True)
        self.u = self.panel[unit].reset_index(drop=True) if unit else pd.Series(0, index=self.panel.index)
        dup = pd.MultiIndex.from_arrays([self.u, self.t]).duplicated()
        if dup.any():
            raise UserError(f"{where}: {int(dup.sum())} duplicate ({'/'.join(keys)}) rows in the panel")
        self._key = pd.MultiIndex.from_arrays([self.u, self.t])
        self._cache: dict[Factor, pd.Series] = {}
        self._present: dict[int, np.ndarray] = {}
        self._invalid: dict[Factor, np.ndarray] = {}

    def lag_row_exists(self, lag: int) -> np.ndarray:
        if lag not in self._present:
            target = pd.MultiIndex.from_arrays([self.u, self.t - lag])
            self._present[lag] = target.isin(self._key) if lag else np.ones(len(self.t), bool)
        return self._present[lag]

    def factor(self, f: Factor) -> pd.Series:
        if f in self._cache:
            return self._cache[f]
        raw = pd.to_numeric(self.panel[f.var], errors="coerce").astype(float)
        invalid = raw.isna() & self.panel[f.var].notna()       # non-numeric text
        if f.func == "ln":
            bad = raw <= 0
            invalid |= bad
            base = np.log(raw.where(~bad))
        elif f.func == "ln1p":
            bad = raw <= -1
            invalid |= bad
            base = np.log1p(raw.where(~bad))
        else:
            base = raw
        base = base.where(np.isfinite(base))
        if f.lag:
            target = pd.MultiIndex.from_arrays([self.u, self.t - f.lag])
            lagged = pd.Series(base.values, index=self._key).reindex(target)
            values = pd.Series(lagged.values, index=self.panel.index, name=f.name)
            bad_lag = pd.Series(invalid.values.astype(bool), index=self._key).reindex(target, fill_value=False).values
            self._invalid[f] = bad_lag
        else:
            values = pd.Series(base.values, index=self.panel.index, name=f.name)
            self._invalid[f] = invalid.values
        self._cache[f] = values
        return values

    def term(self, t: Term) -> pd.Series:
        out = self.factor(t.factors[0])
        for f in t.factors[1:]:
            out = out * self.factor(f)
        return out.rename(t.name)

    def sample_mask(self, expr: str | None) -> np.ndarray:
        if not expr:
            return np.ones(len(self.panel), bool)
        return sample_expr.evaluate(expr, self.panel, self.where)


def _account(pf: PanelFrame, terms: list[Term], filters: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, SampleCounts]:
    """Rows usable for `terms` under `filters`, with the reason each other row is excluded."""
    n = len(pf.panel)
    counts = SampleCounts(rows=n)
    keep = np.ones(n, bool)
    for label, mask in filters:
        drop = keep & ~mask
        if drop.any():
            counts.excluded[label] = int(drop.sum())
        keep &= mask
    max_lag = max((f.lag for t in terms for f in t.factors), default=0)
    for lag in range(1, max_lag + 1):
        if any(f.lag == lag for t in terms for f in t.factors):
            drop = keep & ~pf.lag_row_exists(lag)
            if drop.any():
                counts.excluded[f"no t-{lag} row of the same unit (first period)"] = int(drop.sum())
            keep &= pf.lag_row_exists(lag)
    for t in terms:
        vals = pf.term(t).values
        bad = keep & ~np.isfinite(vals)
        if bad.any():
            invalid = np.zeros(n, bool)
            for f in t.factors:
                invalid |= pf._invalid[f]
            inv = bad & invalid
            if inv.any():
                counts.excluded[f"invalid value of {t.name} (ln of non-positive or non-numeric)"] = int(inv.sum())
            miss = bad & ~invalid
            if miss.any():
                counts.excluded[f"missing {t.name}"] = int(miss.sum())
        keep &= np.isfinite(vals)
    counts.used = int(keep.sum())
    return keep, counts


# ----------------------------------------------------------------------------- fixed effects

def build_fixed_effects(pf: PanelFrame, names: tuple[str, ...], rows: np.ndarray, constant: bool,
                        where: str) -> FixedEffects:
    """Constant + one dummy per level (first dropped) for each fixed effect, on `rows`."""
    idx = pf.panel.index[rows]
    cols = tuple(_resolve_fe(n, pf.unit, pf.time, pf.panel, where) for n in names)
    groups = {name: pf.panel.loc[idx, col] for name, col in zip(names, cols)}
    return FixedEffects(tuple(names), cols, groups, constant, idx)


def drop_flagged_groups(flags: np.ndarray, fe: FixedEffects) -> np.ndarray:
    """Rows to keep after repeatedly removing every fixed-effect group whose rows are all
    flagged (e.g. all censored): such a group's dummy diverges and its rows carry no
    information on the other parameters."""
    keep = np.ones(len(flags), bool)
    changed = True
    while changed:
        changed = False
        for g in fe.groups.values():
            level = g.values
            sub = pd.Series(flags[keep]).groupby(level[keep]).transform("all").values
            if sub.any():
                keep[np.flatnonzero(keep)[sub]] = False
                changed = True
    return keep


def refit_sample(ed: "EquationData", fe: FixedEffects, keep: np.ndarray, reason: str, model: ModelSpec,
                 where: str) -> tuple["EquationData", FixedEffects]:
    """The equation restricted to `keep` (rows of its sample), the dropped rows counted under
    `reason`; dummies are rebuilt and absorbed regressors re-checked."""
    idx = ed.y.index[keep]
    groups = {n: g.loc[idx] for n, g in fe.groups.items()}
    new_fe = FixedEffects(fe.names, fe.columns, groups, fe.constant, idx)
    counts = SampleCounts(rows=ed.counts.rows, excluded=OrderedDict(ed.counts.excluded), used=int(keep.sum()))
    counts.excluded[reason] = int((~keep).sum())
    if counts.used == 0:
        raise UserError(f"{where}: no observations left ({reason}: {int((~keep).sum())})")
    x = pd.concat([ed.exog, ed.endog], axis=1).loc[idx]
    kept_cols, omitted = _split_absorbed(x, new_fe)
    if omitted and model.on_absorbed == "error":
        raise UserError(f"{where}: regressor(s) without variation beyond the constant/fixed effects: "
                        f"{', '.join(f'{k} ({v})' for k, v in omitted.items())}")
    new = EquationData(ed.spec, ed.y.loc[idx], ed.exog.loc[idx, [c for c in ed.exog.columns if c in kept_cols]],
                       ed.endog.loc[idx, [c for c in ed.endog.columns if c in kept_cols]],
                       ed.excluded.loc[idx], {**ed.omitted, **omitted}, counts)
    return new, new_fe


def _absorbed_reason(x: pd.Series, fe: FixedEffects) -> str:
    if np.nanstd(x.values) == 0:
        return "no variation in the sample (absorbed by the constant)"
    within = [n for n, g in fe.groups.items() if np.allclose(x.groupby(g.values).transform("std").fillna(0), 0)]
    if within:
        return f"no variation within {within[0]} (absorbed by {within[0]} fixed effects)"
    return "absorbed by the fixed effects jointly"


def _split_absorbed(frame: pd.DataFrame, fe: FixedEffects) -> tuple[list[str], dict[str, str]]:
    """Columns of `frame` that keep variation after the constant/dummies, and reasons for the rest."""
    keep, omitted = [], {}
    if frame.shape[1] == 0:
        return keep, omitted
    resid = fe.partial_out(frame) if fe.active else frame
    for c in frame.columns:
        x = frame[c].values
        scale = max(np.linalg.norm(x), 1e-300)
        if np.linalg.norm(resid[c].values) <= _ABSORB_TOL * scale:
            omitted[c] = _absorbed_reason(frame[c], fe)
        else:
            keep.append(c)
    return keep, omitted


def check_collinear(frame: pd.DataFrame, fe: FixedEffects, where: str) -> None:
    """UserError naming the regressors that are linearly dependent (after the fixed effects)."""
    if frame.shape[1] < 2:
        return
    resid = fe.partial_out(frame).values if fe.active else frame.values
    norms = np.linalg.norm(resid, axis=0)
    z = resid / np.where(norms > 0, norms, 1.0)
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    null = vt[s <= _COLLINEAR_TOL * max(s[0], 1e-300)]
    if null.size:
        involved = [frame.columns[j] for j in range(frame.shape[1]) if np.abs(null[:, j]).max() > 1e-6]
        after = " after the fixed effects" if fe.names else ""
        raise UserError(f"{where}: perfectly collinear regressors{after}: {', '.join(involved)}")


def _independent_columns(base: pd.DataFrame, cand: pd.DataFrame, fe: FixedEffects) -> list[str]:
    """Columns of `cand` (in order) that add rank to `base` after the fixed effects."""
    if cand.shape[1] == 0:
        return []
    b = fe.partial_out(base).values if fe.active else base.values
    c = fe.partial_out(cand).values if fe.active else cand.values
    if b.shape[1]:
        c = c - b @ np.linalg.lstsq(b, c, rcond=None)[0]
    norms = np.linalg.norm(np.asarray(cand, float), axis=0)
    keep, basis = [], np.zeros((c.shape[0], 0))
    for j, col in enumerate(cand.columns):
        v = c[:, j]
        if basis.shape[1]:
            v = v - basis @ (basis.T @ v)
        nv = np.linalg.norm(v)
        if nv > _ABSORB_TOL * max(norms[j], 1e-300):
            keep.append(col)
            basis = np.column_stack([basis, v / nv])
    return keep


def _check_size(name: str, nobs: int, nparams: int, nfe: int, where: str) -> None:
    if nobs <= nparams:
        fe = f" (incl. {nfe} constant/fixed-effect parameters)" if nfe else ""
        raise UserError(f"{where}: panel too small for the spec: equation {name} has {nobs} observations "
                        f"for {nparams} parameters{fe}")


# ----------------------------------------------------------------------------- roles

def endogenous_terms(model: ModelSpec, eq: EquationSpec) -> set[str]:
    """Regressors of `eq` that are endogenous: another equation's dependent at period t (reg3
    convention), a listed endogenous variable at t, or an interaction containing one."""
    if model.estimator in ("ols", "tobit", "mixed_ml"):
        return set()
    deps = {e.dependent.factors[0].base for e in model.equations}
    listed = set(model.endogenous)
    out = set()
    for t in eq.regressors:
        if t.name in listed:
            out.add(t.name)
            continue
        for f in t.factors:
            if f.lag == 0 and (f.base in deps or f.name in listed or f.var in listed):
                out.add(t.name)
                break
    return out


def system_exogenous(model: ModelSpec) -> list[Term]:
    """All exogenous terms of the system (each equation's non-endogenous regressors, then the
    model's extra instruments), in order of first appearance: Stata reg3's instrument list."""
    seen: dict[str, Term] = {}
    for e in model.equations:
        endo = endogenous_terms(model, e)
        for t in e.regressors:
            if t.name not in endo:
                seen.setdefault(t.name, t)
    for t in model.exogenous:
        seen.setdefault(t.name, t)
    return list(seen.values())


# ----------------------------------------------------------------------------- build

def build(panel: pd.DataFrame, model: ModelSpec, unit: str | None = "city_code", time: str = "year",
          where: str | None = None, periods: tuple[int, int] | None = None) -> ModelData:
    """Estimation arrays for `model` on `panel` (validates names, samples, roles, rank, size).

    `periods` = (first, last): only rows of those periods are estimation rows (the split-panel
    jackknife's half panels); lags still come from the whole panel."""
    where = where or f"model {model.name}"
    if model.contemporaneous:
        model = model.contemporaneous_version()
    check_variables(panel, model, unit, time, where)
    pf = PanelFrame(panel, unit, time, where)
    model_filter = [(f"sample filter {model.sample}", pf.sample_mask(model.sample))] if model.sample else []
    if periods is not None:
        inside = ((pf.t >= periods[0]) & (pf.t <= periods[1])).values
        model_filter.insert(0, (f"jackknife half panel: periods {periods[0]}-{periods[1]}", inside))
    system = model.estimator in ("3sls", "mixed_ml")
    uses_iv = model.estimator in ("3sls", "2sls")
    instruments = system_exogenous(model) if uses_iv else []

    def needed(eq: EquationSpec) -> list[Term]:
        terms = [eq.dependent, *eq.regressors]
        names = {t.name for t in terms}
        if uses_iv and endogenous_terms(model, eq):
            terms += [t for t in instruments if t.name not in names]
        return terms

    if system:
        # one common sample: every term of every equation (and every instrument) observed
        all_terms: dict[str, Term] = {}
        for e in model.equations:
            for t in needed(e):
                all_terms.setdefault(t.name, t)
        if uses_iv:
            for t in instruments:
                all_terms.setdefault(t.name, t)
        rows, counts = _account(pf, list(all_terms.values()), model_filter)
        samples = {e.name: (rows, counts) for e in model.equations}
    else:
        samples = {}
        for e in model.equations:
            filters = model_filter + ([(f"sample filter {e.sample}", pf.sample_mask(e.sample))] if e.sample else [])
            samples[e.name] = _account(pf, needed(e), filters)

    fe_cache: dict[bytes, FixedEffects] = {}
    eq_data, fes, clusters = [], {}, {}
    for e in model.equations:
        rows, counts = samples[e.name]
        if counts.used == 0:
            raise UserError(f"{where}: no observations left for equation {e.name} "
                            f"({', '.join(f'{k}: {v}' for k, v in counts.as_dict().items())})")
        key = rows.tobytes()
        if key not in fe_cache:
            fe_cache[key] = build_fixed_effects(pf, model.fixed_effects, rows, model.constant, where)
        fe = fe_cache[key]
        idx = pf.panel.index[rows]
        y = pf.term(e.dependent)[rows].rename(e.name)
        endo = endogenous_terms(model, e)
        x_all = pd.DataFrame({t.name: pf.term(t)[rows] for t in e.regressors}, index=idx)
        keep, omitted = _split_absorbed(x_all, fe)
        if omitted and model.on_absorbed == "error":
            raise UserError(f"{where}: equation {e.name}: regressor(s) without variation beyond the constant/"
                            f"fixed effects: {', '.join(f'{k} ({v})' for k, v in omitted.items())}")
        dropped_endo = [t for t in omitted if t in endo]
        if dropped_endo:
            raise UserError(f"{where}: equation {e.name}: endogenous regressor(s) {', '.join(dropped_endo)} "
                            "have no variation beyond the fixed effects")
        check_collinear(x_all[keep], fe, f"{where}: equation {e.name}")
        exog = x_all[[c for c in keep if c not in endo]]
        endog = x_all[[c for c in keep if c in endo]]
        _check_size(e.name, counts.used, len(keep) + fe.nparams, fe.nparams, where)
        excluded = pd.DataFrame(index=idx)
        if uses_iv and len(endog.columns):
            z_all = pd.DataFrame({t.name: pf.term(t)[rows] for t in instruments if t.name not in exog.columns},
                                 index=idx)
            zkeep, _ = _split_absorbed(z_all, fe)
            excluded = z_all[_independent_columns(exog, z_all[zkeep], fe)]
            if excluded.shape[1] < endog.shape[1]:
                raise UserError(f"{where}: equation {e.name} is not identified: {endog.shape[1]} endogenous "
                                f"regressor(s) ({', '.join(endog.columns)}) but {excluded.shape[1]} excluded "
                                "instrument(s)")
            _check_size(e.name, counts.used, exog.shape[1] + excluded.shape[1] + fe.nparams, fe.nparams, where)
        eq_data.append(EquationData(e, y, exog, endog, excluded, omitted, counts))
        fes[e.name] = fe
        if model.cov_type == "clustered":
            clusters[e.name] = _cluster_codes(pf, model.cluster, idx, where)
    notes = []
    dropped = {fe.dropped for fe in fe_cache.values()}
    if max(dropped, default=0):
        notes.append(f"{max(dropped)} redundant fixed-effect dummies dropped (groups not connected)")
    values = None
    if model.cov_type == "clustered":
        col = _resolve_fe(model.cluster, pf.unit, pf.time, pf.panel, where)
        values = pf.panel[col]
    return ModelData(model, eq_data, fes, unit, time, notes, clusters, values, pf.t)


def _cluster_codes(pf: PanelFrame, cluster: str, idx: pd.Index, where: str) -> np.ndarray:
    """Integer cluster codes of the sample rows (cov_type: clustered)."""
    col = _resolve_fe(cluster, pf.unit, pf.time, pf.panel, where)
    values = pf.panel.loc[idx, col]
    if values.isna().any():
        raise UserError(f"{where}: cluster variable {col!r} is missing in {int(values.isna().sum())} sample row(s)")
    return pd.factorize(values, sort=True)[0]
