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

Clustered standard errors (every linear estimator): the sandwich on each cluster's summed
scores, from per-row influence functions, with the table's small-sample convention (vce.py).
`bias_correction: nickell` (3SLS): the analytic fixed-T correction of a dynamic system
(nickell.py), applied to the stacked coefficients and, through its Jacobian, to their influence
functions and covariance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from linearmodels import IV3SLS
from scipy import stats

from greenlink.core.errors import UserError
from greenlink.estimate import vce
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


def cluster_note(md: ModelData, dofs: dict | None = None) -> list[str]:
    """The notes of a clustered model: cluster variable and number of clusters; the convention."""
    if md.model.cov_type != "clustered":
        return []
    g = [f"{d.g}" for d in (dofs or {}).values()]
    count = f" ({'/'.join(dict.fromkeys(g))} clusters)" if g else ""
    return [f"standard errors clustered by {md.model.cluster}{count}",
            f"clustered standard errors, cluster_df {md.model.cluster_df}: sandwich on each cluster's summed scores "
            f"times {vce.rule_text(md.model.cluster_df)}"]


def cluster_dof(md: ModelData, ed: EquationData, fe: FixedEffects, rows: pd.Index, k_total: int) -> vce.ClusterDof:
    """N, K, G of one equation's clustered covariance under the model's convention: K = k_total
    (every coefficient incl. constant and dummies) minus, under `nested`, the dummies of fixed
    effects nested in the clusters."""
    clusters = md.cluster_values.reindex(rows)
    k = k_total
    if md.model.cluster_df == "nested":
        for name in vce.nested_effects(fe, md.cluster_values):
            k -= len(fe.levels[list(fe.names).index(name)]) - 1
    return vce.ClusterDof(n=len(rows), k=max(k, 1), g=int(clusters.nunique()), rule=md.model.cluster_df)


def clustered(md: ModelData, psi: pd.DataFrame, dofs: dict) -> tuple[pd.Series, dict]:
    """Clustered standard errors of the columns (equation, term) of `psi` and the covariance."""
    factors = np.array([dofs[eq].factor for eq, _ in psi.columns])
    cov = vce.clustered_cov(psi, md.cluster_values, factors)
    return pd.Series(np.sqrt(np.diag(cov)), index=psi.columns), cov


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


def _projected(exog: pd.DataFrame, endog: pd.DataFrame, excl: pd.DataFrame) -> np.ndarray:
    """X̂ = [exog, P_Z endog], Z = [exog, excluded instruments] (X itself without endogenous terms)."""
    if not endog.shape[1]:
        return exog.values
    z = np.column_stack([exog.values, excl.values])
    return np.column_stack([exog.values, z @ np.linalg.lstsq(z, endog.values, rcond=None)[0]])


def system_influence(xhat: list[np.ndarray], eps: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Per-row influence of the 3SLS coefficients: (X̂'(Σ⁻¹⊗I)X̂)⁻¹ m_r with the GLS-weighted
    score m_r = [x̂_jr (Σ⁻¹ε_r)_j]_j (linearmodels' clustered system covariance uses the same)."""
    w = np.linalg.inv(sigma)
    sizes = [x.shape[1] for x in xhat]
    edges = np.concatenate([[0], np.cumsum(sizes)])
    xpx = np.zeros((edges[-1], edges[-1]))
    for i, xi in enumerate(xhat):
        for j, xj in enumerate(xhat):
            xpx[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = w[i, j] * (xi.T @ xj)
    we = eps @ w                                        # (Σ⁻¹ ε_r)_j per row
    m = np.column_stack([xi * we[:, [i]] for i, xi in enumerate(xhat)])
    return m @ np.linalg.inv((xpx + xpx.T) / 2)


def fit_3sls(md: ModelData) -> SystemResults:
    """Three-stage least squares of the whole system (iterated when the model says so)."""
    model = md.model
    eqs, prepared = {}, {}
    for i, ed in enumerate(md.equations):
        y, exog, endog, excl, k_fe = _prepared(md, ed)
        prepared[_label(i)] = (ed, y, exog, endog, excl, k_fe)
        eqs[_label(i)] = {"dependent": y, "exog": exog if exog.shape[1] else None,
                          "endog": endog if endog.shape[1] else None,
                          "instruments": excl if endog.shape[1] else None}
    first = IV3SLS(eqs).fit(method="ols", cov_type="unadjusted")
    eps0 = first.resids.values
    sigma_used = eps0.T @ eps0 / eps0.shape[0]          # the Σ of the (last) GLS step
    if not model.iterate:
        final = IV3SLS(eqs).fit(method="gls", cov_type="unadjusted")
        steps, converged = 1, True
    else:
        beta_prev, eps = first.params.values, eps0
        change, steps = np.inf, 0
        for steps in range(1, model.max_iter + 1):
            sigma_used = eps.T @ eps / eps.shape[0]
            step = IV3SLS(eqs, sigma=sigma_used).fit(method="gls", cov_type="unadjusted")
            beta, eps = step.params.values, step.resids.values
            change = mreldif(beta, beta_prev)
            beta_prev = beta
            if change < model.tol:
                break
        else:
            raise UserError(f"model {model.name}: iterated 3SLS did not converge after {model.max_iter} "
                            f"iterations (max relative change {change:.3g} > tol {model.tol:g})")
        final = IV3SLS(eqs).fit(method="gls", iterate=True, iter_limit=steps, tol=0.0, cov_type="unadjusted")
        if not np.allclose(final.params.values, beta_prev, rtol=1e-7, atol=1e-10):
            raise RuntimeError("linearmodels' iterated GLS diverged from the step-by-step iteration")
        converged = True
    # stacked coefficients (equation by equation: exogenous then endogenous terms, as linearmodels)
    coef_all = np.asarray(final.params.values, float)
    cov_all = np.asarray(final.cov, float)
    cols = [(ed.name, t) for ed, y, exog, endog, excl, k_fe in prepared.values()
            for t in list(exog.columns) + list(endog.columns)]
    psi = None
    dofs: dict = {}
    if model.cov_type == "clustered":
        # the sandwich on each cluster's summed GLS-weighted scores, the table's convention per equation
        xhat = []
        for label, (ed, y, exog, endog, excl, k_fe) in prepared.items():
            xhat.append(_projected(exog, endog, excl))
            dofs[ed.name] = cluster_dof(md, ed, md.fe[ed.name], ed.y.index, exog.shape[1] + endog.shape[1] + k_fe)
        psi = system_influence(xhat, final.resids.values, sigma_used)
    notes = list(md.notes)
    extra_stats: dict[str, float] = {}
    term_note = ""
    corrected = False
    if model.bias_correction == "nickell":
        try:
            coef_c, transform, extra_stats = _nickell(md, prepared, coef_all, sigma_used)
        except NickellNotApplicable as exc:
            # no stationary fixed point: the uncorrected estimates, flagged in every term and the notes
            term_note = "not bias-corrected (Nickell correction not applicable, see the notes)"
            extra_stats = {"bias_correction_failed": 1.0}
            notes.append(f"nickell: correction NOT applied, uncorrected within estimates reported (biased by O(1/T)): "
                         f"{exc}")
        else:
            corrected = True
            coef_all = coef_c
            cov_all = transform @ cov_all @ transform.T
            if psi is not None:
                psi = psi @ transform.T
            notes.append("nickell: analytic fixed-T bias correction of the dynamic fixed-effects system (Kiviet 1995, "
                         "Bun & Carree 2005, for the panel VAR of the lagged dependents; errors serially uncorrelated, "
                         "other regressors strictly exogenous); standard errors through the correction's Jacobian")
    influence = None
    if psi is not None:
        influence = pd.DataFrame(psi, index=md.equations[0].y.index, columns=pd.MultiIndex.from_tuples(cols))
        se_all, _ = clustered(md, influence, dofs)
        se_all = se_all.values
    else:
        se_all = np.sqrt(np.diag(cov_all))
    out = {}
    names = []
    at = 0
    for label, (ed, y, exog, endog, excl, k_fe) in prepared.items():
        r = final.equations[label]
        terms = list(exog.columns) + list(endog.columns)
        b = coef_all[at:at + len(terms)]
        se_eq = se_all[at:at + len(terms)]
        at += len(terms)
        # residuals after the fixed effects (FWL): the corrected coefficients' own when corrected
        resid = y.values - np.column_stack([exog.values, endog.values]) @ b if corrected else r.resids.values
        fe = md.fe[ed.name]
        order = spec_order(ed, terms)
        params = pd.Series(b, index=terms)[order]
        se = pd.Series(se_eq, index=terms)[order]
        df = dofs[ed.name].df if ed.name in dofs else None
        pv = pd.Series(vce.pvalues(params.values, se.values, df), index=order)
        out[ed.name] = EquationResult(
            name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label, estimator="3sls",
            params=params, std_errors=se, pvalues=pv, nobs=int(r.nobs), rsquared=_r2(ed.y, resid),
            rsquared_within=within_r2(md.fe[ed.name], ed.y, resid), fixed_effects=fe.names, omitted=dict(ed.omitted), counts=ed.counts,
            stats={"instruments": float(exog.shape[1] + (ed.excluded.shape[1] if endog.shape[1] else 0)),
                   "sigma": float(np.sqrt(resid @ resid / len(resid))), **extra_stats},
            term_notes={t: term_note for t in order} if term_note else {})
        names.append(ed.name)
    sigma = pd.DataFrame(np.asarray(final.sigma), index=names, columns=names)
    return SystemResults(model=model.name, estimator="3sls", equations=out, iterations=steps,
                         converged=converged, sigma=sigma, notes=notes + cluster_note(md, dofs),
                         influence=influence, cluster_dof=dofs)


class NickellNotApplicable(Exception):
    """The Nickell correction has no stationary solution on this sample (nickell.py)."""


def _nickell(md: ModelData, prepared: dict, coef: np.ndarray, sigma_w: np.ndarray):
    """The analytic Nickell-bias correction of the stacked 3SLS coefficients (estimate/nickell.py);
    spec problems (no lagged dependent, no unit effects, gaps) are UserErrors, a sample without a
    stationary solution is NickellNotApplicable."""
    from greenlink.estimate import nickell

    where = f"model {md.model.name}"
    eds = [v[0] for v in prepared.values()]
    if any(v[3].shape[1] for v in prepared.values()):
        raise NickellNotApplicable(f"{where}: the correction is for the lagged specification; this one has "
                                   "endogenous regressors (contemporaneous option)")
    fe = md.fe[eds[0].name]
    unit = next((n for n, c in zip(fe.names, fe.columns) if c == md.unit), None)
    if unit is None:
        raise UserError(f"{where}: bias_correction: nickell corrects unit fixed effects: add {md.unit or 'city'} "
                        "to fixed_effects")
    terms = [list(v[2].columns) for v in prepared.values()]
    lags = nickell.lag_structure([ed.name for ed in eds], terms)
    if not any(lags):
        raise UserError(f"{where}: bias_correction: nickell needs a lagged dependent variable (y[t-1]) among the "
                        "regressors")
    rows = eds[0].y.index
    lengths = nickell.unit_lengths(fe.groups[unit], md.period.loc[rows], where)
    z = [v[2].values for v in prepared.values()]
    y = [v[1].values for v in prepared.values()]
    try:
        return nickell.correct(z, y, coef, sigma_w, lags, lengths, fe.nparams, where)
    except nickell.NoSolution as exc:
        raise NickellNotApplicable(str(exc)) from None


def fit_single(md: ModelData, ed: EquationData, estimator: str) -> tuple[EquationResult, pd.DataFrame | None, object]:
    """OLS (s² = SSR/(n-k), k counting the dummies; t p-values, as Stata regress) or 2SLS with
    the system's exogenous terms as instruments (s² = SSR/n; normal p-values, as reg3 2sls).
    Clustered: the sandwich on each cluster's summed scores with the table's convention (vce.py).
    Returns the result, the per-row influence of the slopes (clustered only) and the dof terms."""
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
    terms = list(x.columns)
    psi = dof = None
    if md.model.cov_type == "clustered":
        dof = cluster_dof(md, ed, md.fe[ed.name], ed.y.index, k)
        psi = pd.DataFrame((Xh * resid[:, None]) @ bread, index=ed.y.index,
                           columns=pd.MultiIndex.from_tuples([(ed.name, t) for t in terms]))
        se = clustered(md, psi, {ed.name: dof})[0].values
        p = vce.pvalues(beta, se, dof.df)
    else:
        se = np.sqrt(np.diag(bread * s2))
        z = beta / se
        p = 2 * (stats.t.sf(np.abs(z), df) if df else stats.norm.sf(np.abs(z)))
    order = spec_order(ed, terms)
    fe = md.fe[ed.name]
    res = EquationResult(
        name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label, estimator=estimator,
        params=pd.Series(beta, index=terms)[order], std_errors=pd.Series(se, index=terms)[order],
        pvalues=pd.Series(p, index=terms)[order],
        nobs=n, rsquared=_r2(ed.y, resid), rsquared_within=within_r2(md.fe[ed.name], ed.y, resid), fixed_effects=fe.names,
        omitted=dict(ed.omitted), counts=ed.counts, stats={"df_resid": float(n - k), "sigma": float(np.sqrt(s2))})
    return res, psi, dof


def fit_equations(md: ModelData, estimator: str) -> SystemResults:
    eqs, psis, dofs = {}, [], {}
    for ed in md.equations:
        eqs[ed.name], psi, dof = fit_single(md, ed, estimator)
        if psi is not None:
            psis.append(psi)
            dofs[ed.name] = dof
    return SystemResults(model=md.model.name, estimator=estimator, equations=eqs,
                         notes=list(md.notes) + cluster_note(md, dofs), influence=stack_influence(psis),
                         cluster_dof=dofs)


def stack_influence(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Influence frames of equations fitted on their own samples, on the union of their rows
    (a row outside an equation's sample contributes 0 to its parameters)."""
    if not frames:
        return None
    out = pd.concat(frames, axis=1).fillna(0.0)
    return out.sort_index()
