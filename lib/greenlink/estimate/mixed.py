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

Numerics. The NB log-probability is written so that every term stays accurate for any
alpha >= 0, including alpha -> 0 (Poisson), where the textbook form subtracts lnGamma values
of size 1/alpha * ln(1/alpha) and loses all digits:

    ln NB(c | mu, alpha) = sum_{j<c} log1p(j alpha) - lnGamma(c+1) - (1/alpha + c) log1p(alpha mu) + c ln mu

(lnGamma(c+a) - lnGamma(a) = c ln a + sum_{j<c} log1p(j/a), a = 1/alpha, merged with
a ln(a/(a+mu)) + c ln(mu/(a+mu))); the derivative in ln alpha is
sum_{j<c} j alpha/(1 + j alpha) + h(alpha mu)/alpha - c alpha mu/(1 + alpha mu) with
h(x) = log1p(x) - x/(1+x) by its series for small x (the digamma difference as a sum), and
P(c > 0) = -expm1(-log1p(alpha mu)/alpha). At alpha = 0 the same formulas are the Poisson ones.

Maximisation: Newton-Raphson with step halving over (a, b, ln s, ln alpha, lambda), the
fixed-effect dummies as sparse explicit columns of x and z. The gradient is analytic; the
Hessian is assembled from per-observation second derivatives in the five indices
(e_i, z_i'b, ln s, ln alpha, lambda), obtained by central differences of the analytic index
gradient. Convergence as Stata's ml: the scaled gradient g'(-H)^-1 g below `_NRTOL` and the
relative change of the log-likelihood below `_LTOL` (or of the parameters below `_PTOL`).
Standard errors: inverse of minus that Hessian, which must be positive definite at the reported
maximum (vce.check_information; the Newton steps use a ridge, the reported point does not);
s and alpha by the delta method. Clustered (`cov_type: clustered`): the sandwich on each
cluster's summed per-row scores (the index gradient times the rows of X and Z), each
equation's block with its small-sample factor (vce.py).

Boundary (as Stata's nbreg): the model with alpha = 0 (Poisson count, same latent factor) is
fitted first, then the full model from it. When alpha goes to 0 (below `_ALPHA_FLOOR`, where
the likelihood is flat in ln alpha) or the full model does not improve on alpha = 0, the
estimate is the alpha = 0 model: /alpha is reported as 0 without a standard error (the
parameter sits on the boundary, where its SE means nothing) and the likelihood-ratio test of
alpha = 0 (chibar2(01): half a chi2(1) tail) is in the stats and notes. The LR test is
reported in every case.

Over 400 lines on purpose: one estimator (likelihood, gradients, quadrature, results), in the
shape of linearmodels' model classes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from scipy import special, stats

from greenlink.core.errors import UserError
from greenlink.estimate import vce
from greenlink.estimate.design import EquationData, ModelData, check_collinear, drop_flagged_groups, refit_sample
from greenlink.estimate.linear import cluster_dof, cluster_note, clustered, spec_order, within_r2
from greenlink.estimate.results import EquationResult, SystemResults
from greenlink.estimate.tobit import xtwx

_LOG2PI = np.log(2 * np.pi)
_NRTOL = 1e-10         # g'(-H)^-1 g (Stata's nrtolerance is 1e-5: tighter, so that row orders agree to 1e-8)
_LTOL = 1e-12          # relative change of the log-likelihood (Stata's ltolerance 1e-7)
_PTOL = 1e-10          # max relative change of the parameters (Stata's tolerance 1e-6)
_ALPHA_FLOOR = 1e-8    # below this the NB is the Poisson to ~1e-8 per observation: boundary


def _h(x: np.ndarray) -> np.ndarray:
    """log1p(x) - x/(1+x) for x >= 0, by its series where the difference would cancel."""
    x = np.asarray(x, float)
    out = np.empty_like(x)
    small = x < 1e-3
    xs = x[small]
    out[small] = xs * xs * (0.5 - xs * (2 / 3 - xs * (0.75 - xs * (0.8 - xs * 5 / 6))))
    xl = x[~small]
    out[~small] = np.log1p(xl) - xl / (1 + xl)
    return out


def _sums(c: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """sum_{j<c} log1p(j alpha) and sum_{j<c} j alpha/(1 + j alpha) per observation."""
    x = alpha * np.arange(int(c.max()) if len(c) else 0)
    s1 = np.concatenate([[0.0], np.cumsum(np.log1p(x))])
    s2 = np.concatenate([[0.0], np.cumsum(x / (1 + x))])
    return s1[c], s2[c]


def nb_logpmf(c: np.ndarray, logmu: np.ndarray, alpha: float) -> np.ndarray:
    """ln NB2(c; mean exp(logmu), dispersion alpha), accurate for every alpha >= 0 (0: Poisson)."""
    ci = np.asarray(c).astype(np.int64)
    c = ci.astype(float)
    if alpha == 0.0:
        return c * logmu - np.exp(logmu) - special.gammaln(c + 1)
    s1, _ = _sums(ci, alpha)
    l1p = np.logaddexp(0.0, np.log(alpha) + logmu)                   # log1p(alpha mu), no overflow
    return s1 - special.gammaln(c + 1) - (1.0 / alpha + c) * l1p + c * logmu


class MixedLikelihood:
    """Per-observation log-likelihood and its gradient in the indices (e, eta, ln s, ln alpha, lambda).

    `alpha_zero`: the count is Poisson given the factor (alpha = 0; ln alpha is not a parameter)."""

    K = 5

    def __init__(self, y: np.ndarray, c: np.ndarray, nodes: int, truncated: bool, alpha_zero: bool = False) -> None:
        self.y = y
        self.ci = np.asarray(c).astype(np.int64)
        self.c = self.ci.astype(float)
        x, w = np.polynomial.hermite.hermgauss(nodes)
        self.x = x * np.sqrt(2.0)                 # E[f(N(0,1))] = sum(omega_k f(x_k))
        self.omega = w / np.sqrt(np.pi)
        self.truncated = truncated
        self.alpha_zero = alpha_zero
        # indices that carry a parameter (ln alpha does not when alpha is fixed at 0)
        self.free = [0, 1, 2, 4] if alpha_zero else [0, 1, 2, 3, 4]

    def parts(self, e: np.ndarray, eta: np.ndarray, th: np.ndarray, grad: bool = True):
        """ll_i and, with grad, the n x 5 matrix of d ll_i / d (e, eta, ln s, ln alpha, lambda)."""
        lns, lnal, lam = th
        s = np.exp(lns)
        al = 0.0 if self.alpha_zero else float(np.exp(lnal))
        c = self.c
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            q = lam * e / s             # a trial step may underflow s: the likelihood is then rejected
            logmu = eta + q
            mu = np.exp(logmu)
            if al == 0.0:
                g = c * logmu - mu - special.gammaln(c + 1)
                s2 = None
            else:
                s1, s2 = _sums(self.ci, al)
                l1p = np.logaddexp(0.0, lnal + logmu)
                g = s1 - special.gammaln(c + 1) - (1.0 / al + c) * l1p + c * logmu
            ll = -0.5 * _LOG2PI - lns - 0.5 * (e / s) ** 2 + g
            if self.truncated:
                xk, om = self.x[None, :], self.omega[None, :]
                logmu0 = eta[:, None] + lam * xk
                mu0 = np.exp(logmu0)
                g0 = -mu0 if al == 0.0 else -np.logaddexp(0.0, lnal + logmu0) / al      # ln NB(0)
                P = (om * -np.expm1(g0)).sum(axis=1)
                ll = ll - np.log(P)
            if not np.all(np.isfinite(ll)):
                return np.full_like(ll, -np.inf), None
            if not grad:
                return ll, None
            d = (c - mu) / (1.0 + al * mu)                                  # dg/dln mu
            G = np.zeros((len(e), self.K))
            G[:, 0] = -e / s**2 + d * lam / s
            G[:, 1] = d
            G[:, 2] = -1.0 + (e / s) ** 2 - d * q
            if al > 0.0:
                am = al * mu
                G[:, 3] = s2 + _h(am) / al - c * am / (1.0 + am)
            G[:, 4] = d * e / s
            if self.truncated:
                d0 = -mu0 / (1.0 + al * mu0)
                wp = om * np.exp(g0) / P[:, None]
                G[:, 1] += (wp * d0).sum(axis=1)
                if al > 0.0:
                    G[:, 3] += (wp * (_h(al * mu0) / al)).sum(axis=1)
                G[:, 4] += (wp * d0 * xk).sum(axis=1)
        if not np.all(np.isfinite(G)):
            return np.full_like(ll, -np.inf), None
        return ll, G


def _theta(lik: MixedLikelihood, aux: np.ndarray) -> np.ndarray:
    """(ln s, ln alpha, lambda) from the auxiliary parameters (ln alpha = -inf when alpha = 0)."""
    return np.array([aux[0], -np.inf, aux[1]]) if lik.alpha_zero else np.asarray(aux, float)


def _assemble(lik: MixedLikelihood, X, Z, params: np.ndarray, hessian: bool = True):
    """Total log-likelihood, gradient and (optionally) Hessian in the full parameter vector."""
    pa, pb = X.shape[1], Z.shape[1]
    a_, b_, th = params[:pa], params[pa:pa + pb], _theta(lik, params[pa + pb:])
    e = lik.y - X @ a_
    eta = Z @ b_
    ll_i, G = lik.parts(e, eta, th, grad=True)
    if G is None:
        return -np.inf, None, None
    aux = [j for j in lik.free if j >= 2]
    grad = np.concatenate([-(X.T @ G[:, 0]), Z.T @ G[:, 1], G[:, aux].sum(axis=0)])
    if not hessian:
        return float(ll_i.sum()), grad, None
    # per-observation index Hessians by central differences of the analytic index gradient
    K = lik.K
    Hi = np.zeros((len(e), K, K))
    for j in lik.free:
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
    k = pa + pb + len(aux)
    H = np.zeros((k, k))
    H[:pa, :pa] = xtwx(X, Hi[:, 0, 0])
    H[:pa, pa:pa + pb] = -xtwx(X, Hi[:, 0, 1], Z)
    H[pa:pa + pb, pa:pa + pb] = xtwx(Z, Hi[:, 1, 1])
    H[:pa, pa + pb:] = -np.asarray(X.T @ Hi[:, 0][:, aux])
    H[pa:pa + pb, pa + pb:] = np.asarray(Z.T @ Hi[:, 1][:, aux])
    H[pa + pb:, pa + pb:] = Hi[:, aux][:, :, aux].sum(axis=0)
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


def _newton(lik, X, Z, start, max_iter: int, where: str, ln_alpha_at: int | None = None):
    """Newton-Raphson with step halving, Stata-like convergence (see module docstring).

    Returns (params, loglik, gradient, Hessian, iterations, hit_floor); `hit_floor`: ln alpha
    (at position `ln_alpha_at`) went below ln(_ALPHA_FLOOR), where the search stops."""
    params = start.copy()
    ll, grad, H = _assemble(lik, X, Z, params)
    if H is None:
        raise UserError(f"{where}: the mixed likelihood is not finite at the starting values")
    floor = np.log(_ALPHA_FLOOR)
    for it in range(1, max_iter + 1):
        try:
            fac = _factor(-H)
        except np.linalg.LinAlgError:
            raise UserError(f"{where}: the Hessian could not be factored at iteration {it}") from None
        step = scipy.linalg.cho_solve(fac, grad, check_finite=False)
        decrement = float(grad @ step)
        t = 1.0
        while True:
            cand = params + t * step
            ll_new = _assemble(lik, X, Z, cand, hessian=False)[0]
            if np.isfinite(ll_new) and ll_new >= ll - 1e-13 * (abs(ll) + 1.0):
                break
            t /= 2
            if t < 1e-10:
                if decrement < 1e-5:       # Stata's nrtolerance: at the maximum to numerical precision
                    return params, ll, grad, H, it - 1, False
                raise UserError(f"{where}: the mixed likelihood could not be increased at iteration {it}")
        dll = abs(ll_new - ll) / (abs(ll) + 1.0)
        dpar = float(np.max(np.abs(cand - params) / (np.abs(params) + 1.0)))
        params = cand
        ll, grad, H = _assemble(lik, X, Z, params)
        if H is None:
            raise UserError(f"{where}: the mixed likelihood is not finite at iteration {it}")
        if ln_alpha_at is not None and params[ln_alpha_at] < floor:
            return params, ll, grad, H, it, True
        decrement = float(grad @ scipy.linalg.cho_solve(_factor(-H), grad, check_finite=False))
        if decrement < _NRTOL and (dll < _LTOL or dpar < _PTOL):
            return params, ll, grad, H, it, False
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
    notes = list(md.notes)
    pa, pb = X.shape[1], Z.shape[1]
    nodes, trunc = model.quadrature_points, model.zero_truncated
    # alpha = 0 first (Stata's nbreg fits the Poisson model first), then the full model from it
    pois = MixedLikelihood(y, c, nodes, trunc, alpha_zero=True)
    p0, ll0, _, H0, it0, _ = _newton(pois, X, Z, np.concatenate([a0, b0, [np.log(s0), 0.0]]), model.max_iter,
                                     f"{where} (alpha = 0)")
    nb = MixedLikelihood(y, c, nodes, trunc)
    start = np.concatenate([p0[:pa + pb], [p0[pa + pb], np.log(alpha0), p0[pa + pb + 1]]])
    p1, ll1, _, H1, it1, hit_floor = _newton(nb, X, Z, start, model.max_iter, where, ln_alpha_at=pa + pb + 1)
    lr = max(0.0, 2.0 * (ll1 - ll0))
    p_lr = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    boundary = hit_floor or ll1 <= ll0
    if boundary:
        params, ll, H, iters = p0, ll0, H0, it0
        notes.append(f"{count_ed.name}: the NB dispersion alpha is at its boundary 0 "
                     f"(the count is Poisson given the latent factor); alpha reported as 0 without a standard "
                     f"error; LR test of alpha = 0: chibar2(01) = {lr:.3g}, p = {p_lr:.3g}")
    else:
        params, ll, H, iters = p1, ll1, H1, it1
    lik = pois if boundary else nb
    # -H must be positive definite at the reported maximum (no SE of 0 from a clipped diagonal)
    cov, check, flags = vce.check_information(-H, where)
    notes += flags
    kd = D.shape[1]
    const_named = not fe.names and kd > 0
    aux = params[pa + pb:]
    s = np.exp(aux[0])
    # reported terms: (equation, term, index in the parameter vector, scale of the delta method)
    rep: list[tuple[str, str, int, float]] = []

    def block(ed: EquationData, x: pd.DataFrame, offset: int) -> None:
        names = (["const"] if const_named else []) + list(x.columns)
        lo = offset + (0 if const_named else kd)
        for t in spec_order(ed, names):
            rep.append((ed.name, t, lo + names.index(t), 1.0))

    block(lin_ed, xl, 0)
    rep.append((lin_ed.name, "/sigma", pa + pb, s))
    block(count_ed, xc, pa)
    if boundary:
        alpha, lam = 0.0, aux[1]
        rep.append((count_ed.name, "/lambda", pa + pb + 1, 1.0))
    else:
        alpha, lam = np.exp(aux[1]), aux[2]
        rep += [(count_ed.name, "/alpha", pa + pb + 1, alpha), (count_ed.name, "/lambda", pa + pb + 2, 1.0)]
    idx = np.array([r[2] for r in rep])
    scale = np.array([r[3] for r in rep])
    value = {"/sigma": s, "/alpha": alpha, "/lambda": lam}
    coef_all = np.array([value[t] if t.startswith("/") else params[i] for _, t, i, _ in rep])
    se_all = np.sqrt(np.diag(cov)[idx]) * scale
    cols = pd.MultiIndex.from_tuples([(eq, t) for eq, t, _, _ in rep])
    influence, dofs, df = None, {}, None
    if model.cov_type == "clustered":
        # per-row scores in the parameter vector: d ll_r / d a = -G_e x_r, d/d b = G_eta z_r, aux: G_aux
        th = _theta(lik, aux)
        _, G = lik.parts(y - X @ params[:pa], Z @ params[pa:pa + pb], th)
        auxi = [j for j in lik.free if j >= 2]
        B = cov[:, idx] * scale[None, :]
        psi = (np.asarray(X.multiply(-G[:, [0]]).tocsr() @ B[:pa])
               + np.asarray(Z.multiply(G[:, [1]]).tocsr() @ B[pa:pa + pb]) + G[:, auxi] @ B[pa + pb:])
        influence = pd.DataFrame(psi, index=lin_ed.y.index, columns=cols)
        # one K per equation: its constant, dummies and slopes (the auxiliary parameters are not counted)
        dofs = {lin_ed.name: cluster_dof(md, lin_ed, fe, lin_ed.y.index, X.shape[1]),
                count_ed.name: cluster_dof(md, count_ed, fe, lin_ed.y.index, Z.shape[1])}
        se_cl, _ = clustered(md, influence, dofs)
        se_all = se_cl.values
        df = dofs[lin_ed.name].df
        notes += cluster_note(md, dofs)
    by_eq: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
    for j, (eq, t, _, _) in enumerate(rep):
        terms, cf, se = by_eq.setdefault(eq, ([], [], []))
        terms.append(t)
        cf.append(coef_all[j])
        se.append(se_all[j])
    lt, lc, ls = by_eq[lin_ed.name]
    ct, cc, cs = by_eq[count_ed.name]
    if boundary:          # /alpha at 0 without a standard error, after the count's slopes
        k = ct.index("/lambda")
        ct.insert(k, "/alpha")
        cc.insert(k, 0.0)
        cs.insert(k, np.nan)
    lc, ls, cc, cs = map(np.asarray, (lc, ls, cc, cs))
    e = y - X @ params[:pa]
    eta = Z @ params[pa:pa + pb]
    yc = y - y.mean()
    r2_lin = float(1 - e @ e / (yc @ yc)) if yc @ yc > 0 else float("nan")
    r2_cnt = float(np.corrcoef(c, np.exp(eta))[0, 1] ** 2) if np.std(c) > 0 else float("nan")
    r2_within = within_r2(fe, lin_ed.y, e)
    stats_common = {"loglik": ll, "iterations": float(iters), "quadrature_points": float(model.quadrature_points),
                    "loglik_alpha0": ll0, "lr_alpha0": lr, "p_lr_alpha0": p_lr, "alpha_boundary": float(boundary)}
    out = {}
    stats_common.update(check)
    for ed, terms, coef, se, r2 in ((lin_ed, lt, lc, ls, r2_lin), (count_ed, ct, cc, cs, r2_cnt)):
        p = vce.pvalues(coef, se, df)
        notes += vce.zero_se_note(ed.name, pd.Series(se, index=terms), {"/alpha"} if boundary else set())
        term_notes = {"/alpha": f"boundary: alpha = 0 (LR test of alpha = 0: chibar2(01) = {lr:.3g}, "
                                f"p = {p_lr:.3g})"} if boundary and ed is count_ed else {}
        out[ed.name] = EquationResult(
            name=ed.name, dependent=ed.name, column=ed.spec.column, label=ed.spec.label,
            estimator="mixed_ml" + ("/negbin" if ed is count_ed else "/linear"),
            params=pd.Series(coef, index=terms), std_errors=pd.Series(se, index=terms),
            pvalues=pd.Series(p, index=terms), nobs=n, rsquared=r2, fixed_effects=fe.names,
            omitted=dict(ed.omitted), counts=ed.counts, stats=dict(stats_common), term_notes=term_notes,
            rsquared_within=r2_within if ed is lin_ed else float("nan"))
    # equations in the spec's order
    ordered = {ed.spec.name: out[ed.spec.name] for ed in md.equations}
    return SystemResults(model=model.name, estimator="mixed_ml", equations=ordered, iterations=iters,
                         loglik=ll, notes=notes, influence=influence, cluster_dof=dofs)
