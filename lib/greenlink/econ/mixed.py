"""Mixed count/linear system by maximum likelihood (SPEC §7, Table 3 columns 5-6).

    y_i = x_i'a + e_i,                e_i ~ N(0, s²)                          (linear, e.g. ln_gtr)
    c_i | e_i ~ NegBin2(mean m_i, dispersion alpha),  ln m_i = z_i'b + lambda * e_i / s   (count, rsi)

The count's latent normal heterogeneity is the linear equation's standardised error with
loading lambda (a one-factor structure: the two equations' disturbances are correlated
through it); heterogeneity beyond that is the negative binomial's own gamma mixing. With
`zero_truncated` the pair is observed only when c > 0 (the rsi > 0 sample), so the exact
likelihood of observation i is

    f(y, c | c > 0) = phi(e/s)/s * NB(c | z'b + lambda e/s) / P(c > 0),
    P(c > 0)        = E_u[1 - NB(0 | z'b + lambda u)],   u ~ N(0, 1),

where P(c > 0) integrates over the error because selection on c > 0 also selects e. That
one-dimensional normal expectation is computed by Gauss-Hermite quadrature
(`quadrature_points` nodes), not by GHK simulation: with a single latent normal dimension GHK
reduces to plain Monte Carlo over it, whose simulated log-likelihood is biased in the number
of draws and noisy in the parameters, whereas quadrature is deterministic, accurate far beyond
the reported precision with 32 nodes for this smooth integrand, and keeps the likelihood
smooth for Newton's method. (An additional independent normal term in ln m was tried and
dropped: it is only weakly identified against the NB's gamma heterogeneity and drove the
maximiser to its boundary.)

Maximisation: Newton-Raphson with step halving over (a, b, ln s, ln alpha, lambda), the
fixed-effect dummies as sparse explicit columns of x and z. The gradient is analytic; the
Hessian is assembled from per-observation second derivatives in the five indices
(e_i, z_i'b, ln s, ln alpha, lambda), obtained by central differences of the analytic index
gradient. Standard errors: inverse of minus that Hessian; s and alpha by the delta method.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from scipy import special, stats

from greenlink.econ.design import EquationData, ModelData, check_collinear, drop_flagged_groups, refit_sample
from greenlink.econ.linear import spec_order
from greenlink.econ.tobit import xtwx
from greenlink.econ.results import EquationResult, SystemResults
from greenlink.errors import UserError

_LOG2PI = np.log(2 * np.pi)


def _nb_logpmf(c: np.ndarray, logmu: np.ndarray, a: float) -> np.ndarray:
    """ln NB2(c; mean exp(logmu), dispersion 1/a)."""
    log_a_mu = np.logaddexp(np.log(a), logmu)                          # ln(a + mu)
    return (special.gammaln(c + a) - special.gammaln(a) - special.gammaln(c + 1)
            + a * (np.log(a) - log_a_mu) + c * (logmu - log_a_mu))


class MixedLikelihood:
    """Per-observation log-likelihood and its gradient in the indices (e, eta, ln s, ln alpha, lambda)."""

    K = 5

    def __init__(self, y: np.ndarray, c: np.ndarray, nodes: int, truncated: bool) -> None:
        self.y, self.c = y, c
        x, w = np.polynomial.hermite.hermgauss(nodes)
        self.x = x * np.sqrt(2.0)                 # E[f(N(0,1))] = sum(omega_k f(x_k))
        self.omega = w / np.sqrt(np.pi)
        self.truncated = truncated

    def parts(self, e: np.ndarray, eta: np.ndarray, th: np.ndarray, grad: bool = True):
        """ll_i and, with grad, the n x 5 matrix of d ll_i / d (e, eta, ln s, ln alpha, lambda)."""
        lns, lnal, lam = th
        s, a = np.exp(lns), np.exp(-lnal)
        c = self.c
        q = lam * e / s
        logmu = eta + q
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            g = _nb_logpmf(c, logmu, a)
            ll = -0.5 * _LOG2PI - lns - 0.5 * (e / s) ** 2 + g
            if self.truncated:
                xk, om = self.x[None, :], self.omega[None, :]
                logmu0 = eta[:, None] + lam * xk
                g0 = a * (np.log(a) - np.logaddexp(np.log(a), logmu0))       # ln NB(0)
                p0 = np.exp(g0)
                P = (om * (1.0 - p0)).sum(axis=1)
                ll = ll - np.log(P)
            if not np.all(np.isfinite(ll)):
                return np.full_like(ll, -np.inf), None
            if not grad:
                return ll, None
            mu = np.exp(logmu)
            d = a * (c - mu) / (a + mu)                                       # dg/dln mu
            dg_da = (special.digamma(c + a) - special.digamma(a) + np.log(a) - np.logaddexp(np.log(a), logmu)
                     + (mu - c) / (a + mu))
            G = np.empty((len(e), self.K))
            G[:, 0] = -e / s**2 + d * lam / s
            G[:, 1] = d
            G[:, 2] = -1.0 + (e / s) ** 2 - d * q
            G[:, 3] = -a * dg_da
            G[:, 4] = d * e / s
            if self.truncated:
                mu0 = np.exp(logmu0)
                d0 = -a * mu0 / (a + mu0)
                dg0_da = np.log(a) - np.logaddexp(np.log(a), logmu0) + mu0 / (a + mu0)
                wp = om * p0 / P[:, None]
                G[:, 1] += (wp * d0).sum(axis=1)
                G[:, 3] += (wp * (-a * dg0_da)).sum(axis=1)
                G[:, 4] += (wp * d0 * xk).sum(axis=1)
        return ll, G


def _assemble(lik: MixedLikelihood, X, Z, params: np.ndarray, hessian: bool = True):
    """Total log-likelihood, gradient and (optionally) Hessian in the full parameter vector."""
    pa, pb = X.shape[1], Z.shape[1]
    a_, b_, th = params[:pa], params[pa:pa + pb], params[pa + pb:]
    e = lik.y - X @ a_
    eta = Z @ b_
    ll_i, G = lik.parts(e, eta, th, grad=True)
    if G is None:
        return -np.inf, None, None
    grad = np.concatenate([-(X.T @ G[:, 0]), Z.T @ G[:, 1], G[:, 2:].sum(axis=0)])
    if not hessian:
        return float(ll_i.sum()), grad, None
    # per-observation index Hessians by central differences of the analytic index gradient
    K = lik.K
    Hi = np.zeros((len(e), K, K))
    for j in range(K):
        if j == 0:
            h = 1e-5 * np.maximum(1.0, np.abs(e))
            gp, gm = lik.parts(e + h, eta, th)[1], lik.parts(e - h, eta, th)[1]
        elif j == 1:
            h = 1e-5 * np.maximum(1.0, np.abs(eta))
            gp, gm = lik.parts(e, eta + h, th)[1], lik.parts(e, eta - h, th)[1]
        else:
            h = 1e-5 * max(1.0, abs(th[j - 2]))
            tp, tm = th.copy(), th.copy()
            tp[j - 2] += h
            tm[j - 2] -= h
            gp, gm = lik.parts(e, eta, tp)[1], lik.parts(e, eta, tm)[1]
        if gp is None or gm is None:
            return -np.inf, None, None
        Hi[:, :, j] = (gp - gm) / (2 * (h[:, None] if np.ndim(h) else h))
    Hi = 0.5 * (Hi + Hi.transpose(0, 2, 1))
    k = pa + pb + K - 2
    H = np.zeros((k, k))
    H[:pa, :pa] = xtwx(X, Hi[:, 0, 0])
    H[:pa, pa:pa + pb] = -xtwx(X, Hi[:, 0, 1], Z)
    H[pa:pa + pb, pa:pa + pb] = xtwx(Z, Hi[:, 1, 1])
    H[:pa, pa + pb:] = -np.asarray(X.T @ Hi[:, 0, 2:])
    H[pa:pa + pb, pa + pb:] = np.asarray(Z.T @ Hi[:, 1, 2:])
    H[pa + pb:, pa + pb:] = Hi[:, 2:, 2:].sum(axis=0)
    H = np.triu(H) + np.triu(H, 1).T
    return float(ll_i.sum()), grad, H


def _factor(negH: np.ndarray):
    """Cholesky factor of minus the Hessian, with the smallest ridge that makes it positive definite."""
    scale = max(float(np.abs(np.diag(negH)).max()), 1.0)
    ridge = 0.0
    for _ in range(60):
        try:
            return scipy.linalg.cho_factor(negH + ridge * np.eye(len(negH)), check_finite=False)
        except np.linalg.LinAlgError:
            ridge = max(ridge * 4, 1e-10 * scale)
    raise np.linalg.LinAlgError("Hessian could not be made positive definite")


def _newton(lik, X, Z, start, max_iter: int, tol: float, where: str):
    params = start.copy()
    ll, grad, H = _assemble(lik, X, Z, params)
    if not np.isfinite(ll):
        raise UserError(f"{where}: the mixed likelihood is not finite at the starting values")
    for it in range(1, max_iter + 1):
        try:
            step = scipy.linalg.cho_solve(_factor(-H), grad, check_finite=False)
        except np.linalg.LinAlgError:
            raise UserError(f"{where}: the Hessian could not be factored at iteration {it}") from None
        t = 1.0
        while True:
            cand = params + t * step
            ll_new = _assemble(lik, X, Z, cand, hessian=False)[0]
            if np.isfinite(ll_new) and ll_new >= ll - 1e-10 * abs(ll):
                break
            t /= 2
            if t < 1e-10:
                raise UserError(f"{where}: the mixed likelihood could not be increased at iteration {it}")
        change = float(np.max(np.abs(cand - params) / (np.abs(params) + 1.0)))
        params = cand
        ll, grad, H = _assemble(lik, X, Z, params)
        if H is None:
            raise UserError(f"{where}: the mixed likelihood is not finite at iteration {it}")
        decrement = float(grad @ scipy.linalg.cho_solve(_factor(-H), grad, check_finite=False))
        if change < tol or abs(decrement) < 1e-10:
            return params, ll, grad, H, it
    raise UserError(f"{where}: the mixed count/linear ML did not converge after {max_iter} iterations")


def _poisson_start(c: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Poisson regression by IRLS: starting values for the count coefficients."""
    b = np.zeros(Z.shape[1])
    zt = np.log(c + 0.5)
    mu = np.ones(len(c))
    for _ in range(50):
        w = mu
        new = np.linalg.solve(xtwx(Z, w) + 1e-10 * np.eye(Z.shape[1]), Z.T @ (w * zt))
        mu = np.exp(np.clip(Z @ new, -30, 30))
        zt = Z @ new + (c - mu) / mu
        if np.max(np.abs(new - b)) < 1e-8:
            return new
        b = new
    return b


def fit_mixed(md: ModelData) -> SystemResults:
    model = md.model
    where = f"model {model.name}"
    count_ed = next(ed for ed in md.equations if ed.spec.family == "negbin")
    linear = [ed for ed in md.equations if ed.spec.family != "negbin"]
    if len(linear) != 1:
        raise UserError(f"{where}: mixed_ml supports one linear equation with the count equation "
                        f"(got {len(linear)} linear equations)")
    lin_ed = linear[0]
    fe = md.fe[lin_ed.name]
    c = count_ed.y.values
    if np.any(c < 0) or not np.allclose(c, np.round(c)):
        raise UserError(f"{where}: the negbin dependent {count_ed.name} must be a non-negative integer count")
    if model.zero_truncated and np.any(c == 0):
        raise UserError(f"{where}: zero_truncated needs a sample with {count_ed.name} > 0 "
                        f"(add sample: \"{count_ed.name} > 0\")")
    if fe.names:
        # a group whose count sits at its lower bound in every row (all 1 when zero-truncated,
        # all 0 otherwise) has a count dummy diverging to minus infinity: exclude it, counted
        lower = 1 if model.zero_truncated else 0
        keep = drop_flagged_groups(c == lower, fe)
        if not keep.all():
            reason = f"{count_ed.name} = {lower} in every row of a {'/'.join(fe.names)} group"
            lin_ed, fe = refit_sample(lin_ed, fe, keep, reason, model, where)
            count_ed, _ = refit_sample(count_ed, md.fe[count_ed.name], keep, reason, model, where)
            c = count_ed.y.values
    xl = pd.concat([lin_ed.exog, lin_ed.endog], axis=1)
    xc = pd.concat([count_ed.exog, count_ed.endog], axis=1)
    check_collinear(xl, fe, f"{where}: equation {lin_ed.name}")
    check_collinear(xc, fe, f"{where}: equation {count_ed.name}")
    D, _ = fe.design()
    X = scipy.sparse.hstack([D, scipy.sparse.csr_matrix(xl.values)], format="csr")
    Z = scipy.sparse.hstack([D, scipy.sparse.csr_matrix(xc.values)], format="csr")
    n = len(c)
    k_total = X.shape[1] + Z.shape[1] + 3
    if n <= max(X.shape[1], Z.shape[1]) + 2:
        raise UserError(f"{where}: panel too small for the spec: {n} observations for {k_total} parameters "
                        f"(incl. {2 * D.shape[1]} constant/fixed-effect parameters)")
    y = lin_ed.y.values
    a0 = scipy.sparse.linalg.lsqr(X, y, atol=1e-12, btol=1e-12, iter_lim=20000)[0]
    s0 = max(np.std(y - X @ a0), 1e-6)
    b0 = _poisson_start(c, Z)
    mu0 = np.exp(Z @ b0)
    alpha0 = float(np.clip(np.mean(((c - mu0) ** 2 - mu0) / mu0**2), 0.05, 10.0))
    start = np.concatenate([a0, b0, [np.log(s0), np.log(alpha0), 0.0]])
    notes = list(md.notes)
    lik = MixedLikelihood(y, c.astype(float), model.quadrature_points, model.zero_truncated)
    params, ll, grad, H, iters = _newton(lik, X, Z, start, model.max_iter, 1e-9, where)
    negH = -H
    try:
        cov = np.linalg.inv(negH)
    except np.linalg.LinAlgError:
        raise UserError(f"{where}: singular information matrix at the maximum (parameters not identified)") from None
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    pa, pb = X.shape[1], Z.shape[1]
    kd = D.shape[1]
    const_named = not fe.names and kd > 0
    th, se_th = params[pa + pb:], se_all[pa + pb:]

    def block(ed: EquationData, x: pd.DataFrame, offset: int) -> tuple[list[str], np.ndarray, np.ndarray]:
        names = (["const"] if const_named else []) + list(x.columns)
        lo = offset + (0 if const_named else kd)
        coef, se = params[lo:lo + len(names)], se_all[lo:lo + len(names)]
        order = spec_order(ed, names)
        idx = [names.index(t) for t in order]
        return order, coef[idx], se[idx]

    lt, lc, ls = block(lin_ed, xl, 0)
    ct, cc, cs = block(count_ed, xc, pa)
    s, alpha, lam = np.exp(th[0]), np.exp(th[1]), th[2]
    lt, lc, ls = lt + ["/sigma"], np.append(lc, s), np.append(ls, s * se_th[0])
    ct, cc, cs = ct + ["/alpha", "/lambda"], np.append(cc, [alpha, lam]), np.append(cs, [alpha * se_th[1], se_th[2]])
    e = y - X @ params[:pa]
    eta = Z @ params[pa:pa + pb]
    yc = y - y.mean()
    r2_lin = float(1 - e @ e / (yc @ yc)) if yc @ yc > 0 else float("nan")
    r2_cnt = float(np.corrcoef(c, np.exp(eta))[0, 1] ** 2) if np.std(c) > 0 else float("nan")
    stats_common = {"loglik": ll, "iterations": float(iters), "quadrature_points": float(model.quadrature_points)}
    out = {}
    for ed, terms, coef, se, r2 in ((lin_ed, lt, lc, ls, r2_lin), (count_ed, ct, cc, cs, r2_cnt)):
        p = 2 * stats.norm.sf(np.abs(coef / se))
        out[ed.name] = EquationResult(
            name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label,
            estimator="mixed_ml" + ("/negbin" if ed is count_ed else "/linear"),
            params=pd.Series(coef, index=terms), std_errors=pd.Series(se, index=terms),
            pvalues=pd.Series(p, index=terms), nobs=n, rsquared=r2, fixed_effects=fe.names,
            omitted=dict(ed.omitted), counts=ed.counts, stats=dict(stats_common))
    # equations in the spec's order
    ordered = {ed.spec.name: out[ed.spec.name] for ed in md.equations}
    return SystemResults(model=model.name, estimator="mixed_ml", equations=ordered, iterations=iters,
                         loglik=ll, notes=notes)
