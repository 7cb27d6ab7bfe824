"""Tobit (censored normal regression) by maximum likelihood (SPEC §7, Table 3 columns 1-2).

    y* = x'b + s e,  e ~ N(0, 1);   y = y* if y* > c, else c (left-censored at c, default 0)

The log-likelihood is maximised by Newton-Raphson with step halving in Olsen's (1978)
parameterisation d = b/s, g = 1/s, in which it is globally concave, with the analytic
gradient and Hessian. Standard errors come from the inverse of the observed information
(minus the Hessian) mapped to (b, s) by the delta method, which at the maximum equals the
inverse information in (b, s); p-values are normal (z), t(G-1) when clustered under the
regress or nested convention (vce.py). Fixed effects are explicit dummy columns. The
observations of a fixed-effect group whose outcomes are all censored carry no
information on the slopes (their dummy goes to minus infinity), so they are excluded first,
counted under that reason; this is the limit of the full-sample maximum likelihood.

At the optimum minus the Hessian must be positive definite (vce.check_information: a UserError
otherwise, a note when its scaled condition number exceeds 1e10). Clustered standard errors
(`cov_type: clustered`): the sandwich on each cluster's summed per-row scores in (d, g), mapped
to (b, s) by the same delta method, with the table's small-sample convention (vce.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from scipy import special

from greenlink.core.errors import UserError
from greenlink.estimate import vce
from greenlink.estimate.design import EquationData, ModelData, check_collinear, drop_flagged_groups, refit_sample
from greenlink.estimate.linear import cluster_dof, cluster_note, clustered, spec_order, stack_influence
from greenlink.estimate.results import EquationResult, SystemResults

_LOG2PI = np.log(2 * np.pi)


def xtwx(A, w: np.ndarray, B=None) -> np.ndarray:
    """A' diag(w) B as a dense array, for dense or sparse A and B."""
    B = A if B is None else B
    m = A.T @ (scipy.sparse.diags(w) @ B)
    return m.toarray() if scipy.sparse.issparse(m) else np.asarray(m)


def row_scores(theta: np.ndarray, X, y: np.ndarray, cens: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-row score weights in Olsen's (d, g): d ll_r/d d = w_d[r] x_r, d ll_r/d g = w_g[r]
    (uncensored: r x and 1/g - r y with r = g y - x'd; censored: -lambda x and c lambda,
    lambda = phi(a)/Phi(a), a = g c - x'd)."""
    d, g = theta[:-1], theta[-1]
    xd = X @ d
    w_d, w_g = np.empty(len(y)), np.empty(len(y))
    unc = ~cens
    r = g * y[unc] - xd[unc]
    w_d[unc], w_g[unc] = r, 1.0 / g - r * y[unc]
    a = g * c - xd[cens]
    lam = np.exp(-0.5 * a * a - 0.5 * _LOG2PI - special.log_ndtr(a))
    w_d[cens], w_g[cens] = -lam, c * lam
    return w_d, w_g


def _loglik_parts(theta: np.ndarray, X: np.ndarray, y: np.ndarray, cens: np.ndarray, c: float,
                  hessian: bool = True):
    """Log-likelihood, gradient and Hessian in Olsen's (d, g)."""
    d, g = theta[:-1], theta[-1]
    xd = X @ d
    unc = ~cens
    r = g * y[unc] - xd[unc]
    a = g * c - xd[cens]
    logphi_cdf = special.log_ndtr(a)
    ll = np.sum(np.log(g) - 0.5 * _LOG2PI - 0.5 * r * r) + np.sum(logphi_cdf)
    lam = np.exp(-0.5 * a * a - 0.5 * _LOG2PI - logphi_cdf)          # phi(a)/Phi(a), stable
    Xu, Xc = X[unc], X[cens]
    grad = np.empty_like(theta)
    grad[:-1] = Xu.T @ r - Xc.T @ lam
    grad[-1] = unc.sum() / g - r @ y[unc] + c * lam.sum()
    if not hessian:
        return ll, grad, None
    w = lam * (a + lam)                                                # -d2 log Phi(a) / da2
    k = len(theta)
    H = np.empty((k, k))
    H[:-1, :-1] = -xtwx(Xu, np.ones(Xu.shape[0])) - xtwx(Xc, w)
    cross = Xu.T @ y[unc] + c * (Xc.T @ w)
    H[:-1, -1] = cross
    H[-1, :-1] = cross
    H[-1, -1] = -unc.sum() / g**2 - y[unc] @ y[unc] - c * c * w.sum()
    return ll, grad, H


def tobit_ml(y: np.ndarray, X: np.ndarray, left: float = 0.0, tol: float = 1e-10, max_iter: int = 200,
             where: str = "tobit") -> dict:
    """ML estimates of a left-censored Tobit: beta, sigma, cov of (beta, sigma), loglik, iterations."""
    y = np.asarray(y, float)
    X = X.tocsr() if scipy.sparse.issparse(X) else np.asarray(X, float)
    cens = y <= left
    if cens.all() or not cens.any():
        kind = "every" if cens.all() else "no"
        raise UserError(f"{where}: {kind} observation is censored at {left:g}; a Tobit needs both kinds")
    b0 = scipy.sparse.linalg.lsqr(X, y, atol=1e-12, btol=1e-12, iter_lim=20000)[0] if scipy.sparse.issparse(X) \
        else np.linalg.lstsq(X, y, rcond=None)[0]
    s0 = max(np.std(y - X @ b0), 1e-8)
    theta = np.append(b0 / s0, 1.0 / s0)
    ll, grad, H = _loglik_parts(theta, X, y, cens, left)
    for it in range(1, max_iter + 1):
        try:
            step = scipy.linalg.cho_solve(scipy.linalg.cho_factor(-H, check_finite=False), grad, check_finite=False)
        except np.linalg.LinAlgError:
            raise UserError(f"{where}: singular information matrix at iteration {it}") from None
        t = 1.0
        while True:
            cand = theta + t * step
            if cand[-1] > 0:
                ll_new = _loglik_parts(cand, X, y, cens, left, hessian=False)[0]
                if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                    break
            t /= 2
            if t < 1e-12:
                raise UserError(f"{where}: Tobit likelihood could not be increased at iteration {it}")
        change = np.max(np.abs(cand - theta) / (np.abs(theta) + 1.0))
        theta = cand
        ll, grad, H = _loglik_parts(theta, X, y, cens, left)
        try:
            decrement = float(grad @ scipy.linalg.cho_solve(scipy.linalg.cho_factor(-H, check_finite=False), grad,
                                                           check_finite=False))
        except np.linalg.LinAlgError:
            raise UserError(f"{where}: singular information matrix at iteration {it}") from None
        if change < tol or decrement < 1e-14:
            break
    else:
        raise UserError(f"{where}: Tobit did not converge after {max_iter} iterations")
    d, g = theta[:-1], theta[-1]
    cov_theta, check, notes = vce.check_information(-H, where)
    k = len(theta)
    J = np.zeros((k, k))
    J[:-1, :-1] = np.eye(k - 1) / g
    J[:-1, -1] = -d / g**2
    J[-1, -1] = -1.0 / g**2
    cov = J @ cov_theta @ J.T
    return {"beta": d / g, "sigma": 1.0 / g, "cov": (cov + cov.T) / 2, "loglik": float(ll),
            "iterations": it, "censored": int(cens.sum()), "theta": theta, "cov_theta": cov_theta,
            "check": check, "notes": notes, "cens": cens, "X": X}


def influence(r: dict, y: np.ndarray, left: float, cols: list[int]) -> np.ndarray:
    """Per-row influence of beta[cols] and sigma (last column): (-H)^-1 s_r in (d, g), mapped
    to (b, s) by the delta method b = d/g, s = 1/g."""
    theta, X, cinv = r["theta"], r["X"], r["cov_theta"]
    d, g = theta[:-1], theta[-1]
    w_d, w_g = row_scores(theta, X, y, r["cens"], left)
    want = list(cols) + [len(theta) - 1]
    B = cinv[:, want]                                   # k x m
    Xd = X.multiply(w_d[:, None]).tocsr() if scipy.sparse.issparse(X) else X * w_d[:, None]
    psi_theta = np.asarray(Xd @ B[:-1]) + w_g[:, None] * B[-1][None, :]   # rows x (d[cols], g)
    psi_g = psi_theta[:, -1]
    out = psi_theta[:, :-1] / g - np.outer(psi_g, d[cols] / g**2)
    return np.column_stack([out, -psi_g / g**2])


def fit_tobit(md: ModelData, ed: EquationData):
    """The equation's Tobit fit, the fixed-effect groups it found without information, its
    per-row influence and cluster dof terms (clustered only) and its notes (information flags)."""
    left = md.model.censor_left
    where = f"model {md.model.name}: equation {ed.name}"
    fe = md.fe[ed.name]
    n_all, counts, groups = len(ed.y), ed.counts, ""
    if fe.names:
        keep = drop_flagged_groups(ed.y.values <= left, fe)
        if not keep.all():
            groups = ", ".join(f"{k} {name}" for name, g in fe.groups.items()
                               if (k := g.nunique() - g[keep].nunique()))
            ed, fe = refit_sample(ed, fe, keep, f"all outcomes censored in a {'/'.join(fe.names)} group",
                                  md.model, where)
    x = pd.concat([ed.exog, ed.endog], axis=1)
    check_collinear(x, fe, where)
    D, _ = fe.design()
    X = scipy.sparse.hstack([D, scipy.sparse.csr_matrix(x.values)], format="csr")
    if X.shape[0] <= X.shape[1] + 1:
        raise UserError(f"{where}: panel too small for the spec: {X.shape[0]} observations for "
                        f"{X.shape[1] + 1} parameters (incl. {D.shape[1]} constant/fixed-effect parameters)")
    r = tobit_ml(ed.y.values, X, left, where=where)
    k_d = D.shape[1]
    names = list(x.columns)
    if not fe.names and D.shape[1]:
        names = ["const"] + names
        k_d = 0
    coef = np.append(r["beta"][k_d:], r["sigma"])
    se = np.sqrt(np.diag(r["cov"]))
    se = np.append(se[k_d:-1], se[-1])
    terms = spec_order(ed, names) + ["/sigma"]
    order = [names.index(t) for t in terms[:-1]] + [len(names)]
    coef, se = coef[order], se[order]
    psi = dof = None
    df = None
    if md.model.cov_type == "clustered":
        # the sandwich on each cluster's summed scores; N, G: the rows entering the likelihood
        dof = cluster_dof(md, ed, fe, ed.y.index, X.shape[1])
        cols = [k_d + names.index(t) for t in terms[:-1]]
        psi = pd.DataFrame(influence(r, ed.y.values.astype(float), left, cols), index=ed.y.index,
                           columns=pd.MultiIndex.from_tuples([(ed.name, t) for t in terms]))
        se = clustered(md, psi, {ed.name: dof})[0].values
        df = dof.df
    p = vce.pvalues(coef, se, df)
    # N as Stata's tobit reports it: every row of the likelihood. The rows of all-censored
    # groups are in it (at the limit their dummy is -inf and they add 0 to the log-likelihood,
    # all of them censored), so the fit above on the informative rows is the full-sample ML.
    informative = len(ed.y)
    res = EquationResult(
        name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label, estimator="tobit",
        params=pd.Series(coef, index=terms), std_errors=pd.Series(se, index=terms), pvalues=pd.Series(p, index=terms),
        nobs=n_all, rsquared=float("nan"), fixed_effects=fe.names, omitted=dict(ed.omitted), counts=counts,
        stats={"loglik": r["loglik"], "censored": float(r["censored"] + n_all - informative),
               "iterations": float(r["iterations"]), "informative": float(informative), **r["check"]})
    return res, groups, psi, dof, [f"{ed.name}: {n}" for n in r["notes"]]


def fit_tobit_model(md: ModelData) -> SystemResults:
    fits = {ed.name: fit_tobit(md, ed) for ed in md.equations}
    eqs = {name: f[0] for name, f in fits.items()}
    ll = sum(e.stats["loglik"] for e in eqs.values())
    dofs = {name: f[3] for name, f in fits.items() if f[3] is not None}
    notes = list(md.notes) + cluster_note(md, dofs)
    for e, groups, *_ in fits.values():
        k = e.nobs - int(e.stats["informative"])
        if k:
            notes.append(f"{e.name}: N = {e.nobs:,} rows, as Stata's tobit reports; {k:,} of them, "
                         f"all censored in groups with no uncensored outcome ({groups}), carry no information "
                         f"on the slopes: {int(e.stats['informative']):,} informative rows")
    for e, _, _, _, flags in fits.values():
        notes += flags + vce.zero_se_note(e.name, e.std_errors, set())
    return SystemResults(model=md.model.name, estimator="tobit", equations=eqs, loglik=ll, notes=notes,
                         influence=stack_influence([f[2] for f in fits.values() if f[2] is not None]),
                         cluster_dof=dofs)
