"""Linear estimators: iterated three-stage least squares (linearmodels IV3SLS), and OLS / 2SLS
equation by equation for comparison (SPEC §7).

3SLS follows Stata `reg3` (and Greene, Econometric Analysis, ch. "Simultaneous equations"):
* instruments of every equation = all exogenous terms of the system (+ constant, dummies);
* step 0 is 2SLS equation by equation; Σ = E'E/n (no small-sample adjustment);
* 3SLS = GLS with Σ⁻¹ ⊗ I on the instrument-projected regressors; V = (X̂'(Σ⁻¹⊗I)X̂)⁻¹;
  z statistics and normal p-values;
* `iterate` (Stata `ireg3`): re-estimate Σ from the residuals of the last GLS step and repeat
  until max_j |b_j(k) - b_j(k-1)| / (|b_j(k-1)| + 1) < tol (Stata's mreldif), else a UserError
  with the iteration count. The steps are linearmodels' own GLS with the given Σ; the final
  results come from linearmodels' iterated fit run for the same number of steps, so its
  covariance uses the Σ of the converged residuals.

Fixed effects are dummies shared by all equations and included among the instruments; they
are concentrated out (Frisch-Waugh-Lovell) before the IV3SLS call, which leaves slopes,
residuals, Σ and the slope covariance identical to the explicit-dummy (LSDV) regression.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from linearmodels import IV3SLS
from scipy import stats

from greenlink.core.errors import UserError
from greenlink.estimate.design import EquationData, FixedEffects, ModelData
from greenlink.estimate.results import EquationResult, SystemResults


def mreldif(new: np.ndarray, old: np.ndarray) -> float:
    """Stata's maximum relative difference: max |new - old| / (|old| + 1)."""
    return float(np.max(np.abs(new - old) / (np.abs(old) + 1.0))) if len(new) else 0.0


def _r2(y: pd.Series, resid: np.ndarray) -> float:
    yc = y.values - y.values.mean()
    sst = float(yc @ yc)
    return float(1.0 - resid @ resid / sst) if sst > 0 else float("nan")


def within_r2(fe: FixedEffects, y: pd.Series, resid: np.ndarray) -> float:
    """1 - SSR / (sum of squares of y after the fixed effects): the share of the within-group
    variation explained by the regressors (Stata xtreg's within R²); NaN without fixed effects."""
    if not fe.names:
        return float("nan")
    yw = np.asarray(fe.partial_out(y), float)
    sst = float(yw @ yw)
    return float(1.0 - resid @ resid / sst) if sst > 0 else float("nan")


def cluster_note(md: ModelData) -> list[str]:
    """The note of a clustered model: cluster variable and number of clusters."""
    if md.model.cov_type != "clustered":
        return []
    g = sorted({int(c.max()) + 1 for c in md.clusters.values()})
    factor = "G/(G-1)(N-1)/(N-K), t(G-1) p-values" if md.model.estimator == "ols" else "G/(G-1)"
    return [f"standard errors clustered by {md.model.cluster} ({'/'.join(map(str, g))} clusters; {factor})"]


def _prepared(md: ModelData, ed: EquationData) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """(y, exog, endog, excluded instruments, number of concentrated-out parameters)."""
    fe = md.fe[ed.name]
    y, exog, endog, excl = ed.y, ed.exog, ed.endog, ed.excluded
    if not exog.shape[1] and not endog.shape[1]:
        raise UserError(f"model {md.model.name}: equation {ed.name} has no regressor left "
                        f"(omitted: {', '.join(ed.omitted) or 'none'})")
    if fe.names:
        return (fe.partial_out(y), fe.partial_out(exog), fe.partial_out(endog),
                fe.partial_out(excl), fe.nparams)
    if md.model.constant:
        exog = pd.concat([pd.DataFrame({"const": np.ones(len(y))}, index=y.index), exog], axis=1)
    return y, exog, endog, excl, 0


def spec_order(ed: EquationData, terms: list[str]) -> list[str]:
    """Estimated terms in the spec's order (constant first)."""
    order = ["const"] + [t.name for t in ed.spec.regressors]
    return sorted(terms, key=lambda t: order.index(t) if t in order else len(order))


def _label(i: int) -> str:
    return f"eq{i}"


def fit_3sls(md: ModelData) -> SystemResults:
    """Three-stage least squares of the whole system (iterated when the model says so)."""
    model = md.model
    eqs, prepared = {}, {}
    for i, ed in enumerate(md.equations):
        y, exog, endog, excl, _ = _prepared(md, ed)
        prepared[_label(i)] = (ed, y, exog, endog)
        eqs[_label(i)] = {"dependent": y, "exog": exog if exog.shape[1] else None,
                          "endog": endog if endog.shape[1] else None,
                          "instruments": excl if endog.shape[1] else None}
    first = IV3SLS(eqs).fit(method="ols", cov_type="unadjusted")
    # conventional (reg3) or clustered: linearmodels' sandwich with the GLS-weighted scores
    # summed within clusters, times G/(G-1) (group_debias); the system's rows share one sample
    cov = {"cov_type": "unadjusted"}
    if model.cov_type == "clustered":
        cov = {"cov_type": "clustered", "clusters": md.clusters[md.equations[0].name], "group_debias": True}
    if not model.iterate:
        final = IV3SLS(eqs).fit(method="gls", **cov)
        steps, converged = 1, True
    else:
        beta_prev, eps = first.params.values, first.resids.values
        change, steps = np.inf, 0
        for steps in range(1, model.max_iter + 1):
            sigma = eps.T @ eps / eps.shape[0]
            step = IV3SLS(eqs, sigma=sigma).fit(method="gls", cov_type="unadjusted")
            beta, eps = step.params.values, step.resids.values
            change = mreldif(beta, beta_prev)
            beta_prev = beta
            if change < model.tol:
                break
        else:
            raise UserError(f"model {model.name}: iterated 3SLS did not converge after {model.max_iter} "
                            f"iterations (max relative change {change:.3g} > tol {model.tol:g})")
        final = IV3SLS(eqs).fit(method="gls", iterate=True, iter_limit=steps, tol=0.0, **cov)
        if not np.allclose(final.params.values, beta_prev, rtol=1e-7, atol=1e-10):
            raise RuntimeError("linearmodels' iterated GLS diverged from the step-by-step iteration")
        converged = True
    out = {}
    names = []
    for label, (ed, y, exog, endog) in prepared.items():
        r = final.equations[label]
        terms = list(exog.columns) + list(endog.columns)
        resid = r.resids.values
        fe = md.fe[ed.name]
        order = spec_order(ed, terms)
        out[ed.name] = EquationResult(
            name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label, estimator="3sls",
            params=pd.Series(r.params.values, index=terms)[order],
            std_errors=pd.Series(r.std_errors.values, index=terms)[order],
            pvalues=pd.Series(r.pvalues.values, index=terms)[order], nobs=int(r.nobs), rsquared=_r2(ed.y, resid),
            rsquared_within=within_r2(md.fe[ed.name], ed.y, resid), fixed_effects=fe.names, omitted=dict(ed.omitted), counts=ed.counts,
            stats={"instruments": float(exog.shape[1] + (ed.excluded.shape[1] if endog.shape[1] else 0))})
        names.append(ed.name)
    sigma = pd.DataFrame(np.asarray(final.sigma), index=names, columns=names)
    return SystemResults(model=model.name, estimator="3sls", equations=out, iterations=steps,
                         converged=converged, sigma=sigma, notes=list(md.notes) + cluster_note(md))


def fit_single(md: ModelData, ed: EquationData, estimator: str) -> EquationResult:
    """OLS (s² = SSR/(n-k), k counting the dummies; t p-values, as Stata regress) or 2SLS with
    the system's exogenous terms as instruments (s² = SSR/n; normal p-values, as reg3 2sls)."""
    y, exog, endog, excl, k_fe = _prepared(md, ed)
    x = pd.concat([exog, endog], axis=1)
    X, Y = x.values, y.values
    if estimator == "2sls" and endog.shape[1]:
        Z = np.column_stack([exog.values, excl.values])
        Xh = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
    else:
        Xh = X
    xtx = Xh.T @ Xh
    beta = np.linalg.solve(xtx, Xh.T @ Y)
    resid = Y - X @ beta
    n, k = len(Y), X.shape[1] + k_fe
    if estimator == "ols":
        s2, df = resid @ resid / (n - k), n - k
    else:
        s2, df = resid @ resid / n, None
    bread = np.linalg.inv(xtx)
    if md.model.cov_type == "clustered":
        # sandwich with the (projected) regressor scores summed by cluster: Stata's regress
        # vce(cluster) factor G/(G-1) (n-1)/(n-k) and t(G-1) for OLS; G/(G-1) and normal for 2SLS
        codes = md.clusters[ed.name]
        g = int(codes.max()) + 1
        scores = np.zeros((g, Xh.shape[1]))
        np.add.at(scores, codes, Xh * resid[:, None])
        factor = g / (g - 1) * ((n - 1) / (n - k) if estimator == "ols" else 1.0)
        cov = factor * bread @ (scores.T @ scores) @ bread
        df = g - 1 if estimator == "ols" else None
    else:
        cov = bread * s2
    se = np.sqrt(np.diag(cov))
    z = beta / se
    p = 2 * (stats.t.sf(np.abs(z), df) if df else stats.norm.sf(np.abs(z)))
    terms = list(x.columns)
    order = spec_order(ed, terms)
    fe = md.fe[ed.name]
    return EquationResult(
        name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label, estimator=estimator,
        params=pd.Series(beta, index=terms)[order], std_errors=pd.Series(se, index=terms)[order],
        pvalues=pd.Series(p, index=terms)[order],
        nobs=n, rsquared=_r2(ed.y, resid), rsquared_within=within_r2(md.fe[ed.name], ed.y, resid), fixed_effects=fe.names,
        omitted=dict(ed.omitted), counts=ed.counts, stats={"df_resid": float(n - k), "sigma": float(np.sqrt(s2))})


def fit_equations(md: ModelData, estimator: str) -> SystemResults:
    eqs = {ed.name: fit_single(md, ed, estimator) for ed in md.equations}
    return SystemResults(model=md.model.name, estimator=estimator, equations=eqs,
                         notes=list(md.notes) + cluster_note(md))
