"""Standard errors every estimator shares (issue 24): one cluster convention per table, the
cluster-robust sandwich from per-row influence functions, and the check that an ML optimum is
a maximum.

Influence functions. Every estimator can return, for the reported parameters θ (slopes and
the auxiliary /sigma, /alpha, /lambda on their reported scale), one row per sample row r with
ψ_r = B s_r, the row's score s_r times the bread B (minus the inverse Hessian for the ML
estimators, (X'X)⁻¹ for OLS, (X̂'X̂)⁻¹ for 2SLS, (X̂'(Σ⁻¹⊗I)X̂)⁻¹ for 3SLS), mapped by the
delta method where a parameter is reported on another scale. The fixed-effect dummies are
among the estimated parameters (ML) or concentrated out (linear, Frisch–Waugh–Lovell); either
way the slopes' rows of B s_r are the slopes' influence. The clustered covariance is

    V = D^½ (Σ_g ψ_g ψ_g') D^½,   ψ_g = Σ_{r in cluster g} ψ_r,   D = diag(c_j) per equation j,

the sandwich on each cluster's summed scores with the small-sample factor c_j of the
parameter's equation (the table's `cluster_df`):

    regress   c = G/(G-1) · (N-1)/(N-K), K = every coefficient of the equation's mean: the
              constant, every fixed-effect dummy, the slopes (Stata `regress, vce(cluster)`
              with explicit dummies); t(G-1) p-values
    nested    the same with K not counting the dummies of fixed effects nested in the clusters
              (every level inside one cluster: the city dummies when clustering by city), as
              Stata `xtreg, fe vce(cluster)` and `reghdfe`; t(G-1) p-values
    none      c = G/(G-1) only (Stata's ML commands with vce(cluster)); normal p-values

N = the equation's rows that enter the estimator (for the Tobit, the rows outside
all-censored groups), G = the clusters among them, K excludes the auxiliary parameters
(σ, α, λ). Systems (3SLS, the mixed ML) scale each covariance block V_jk by √(c_j c_k).
The same ψ combine linearly: the split-panel jackknife's clustered covariance is the sandwich
of 2ψ(full) − ½ψ(first half) − ½ψ(second half) (estimate/jackknife.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
from scipy import stats

from greenlink.core.errors import UserError

CLUSTER_DF = ("regress", "nested", "none")
COND_FLAG = 1e10          # scaled condition number of -H above which the SEs are flagged as unreliable

_RULE_TEXT = {
    "regress": "G/(G-1)(N-1)/(N-K), K counting every dummy (Stata regress); t(G-1) p-values",
    "nested": "G/(G-1)(N-1)/(N-K), K without the dummies nested in the clusters (Stata xtreg/reghdfe); "
              "t(G-1) p-values",
    "none": "G/(G-1) only (Stata's ML commands); normal p-values",
}


def rule_text(rule: str) -> str:
    """One line stating a convention (table notes, docs)."""
    return _RULE_TEXT[rule]


@dataclass
class ClusterDof:
    """Small-sample terms of one equation's clustered covariance."""

    n: int            # rows entering the estimator
    k: int            # coefficients counted in K under the rule
    g: int            # clusters among those rows
    rule: str

    @property
    def factor(self) -> float:
        g = self.g
        base = g / (g - 1) if g > 1 else float("nan")
        if self.rule == "none":
            return base
        return base * (self.n - 1) / (self.n - self.k) if self.n > self.k else float("nan")

    @property
    def df(self) -> int | None:
        """Degrees of freedom of the t reference distribution (None: normal)."""
        return None if self.rule == "none" else max(self.g - 1, 1)


def nested_effects(fe, clusters: pd.Series) -> list[str]:
    """Fixed effects of `fe` whose every level lies inside one cluster (`clusters` indexed like
    the fixed-effect groups)."""
    out = []
    for name, g in fe.groups.items():
        c = clusters.reindex(g.index).values
        if pd.Series(c).groupby(g.values).nunique().max() <= 1:
            out.append(name)
    return out


def counted_k(fe, n_slopes: int, rule: str, clusters: pd.Series) -> int:
    """K of the (N-1)/(N-K) term: the constant and dummies (rank) and the slopes, minus the
    dummies of fixed effects nested in the clusters under `nested`."""
    k = int(fe.nparams) + int(n_slopes)
    if rule == "nested" and fe.names:
        for name in nested_effects(fe, clusters):
            k -= len(fe.levels[list(fe.names).index(name)]) - 1
    return max(k, 1)


def cluster_sums(psi: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    """G x k: the rows of `psi` summed within clusters (codes 0..g-1)."""
    ind = scipy.sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(g, len(codes)))
    return np.asarray(ind @ psi)


def clustered_cov(psi: pd.DataFrame, clusters: pd.Series, factors: np.ndarray) -> np.ndarray:
    """D^½ (Σ_g ψ_g ψ_g') D^½ for influence rows `psi` (index = sample rows), cluster labels of
    those rows, and one factor per column of `psi`."""
    codes, levels = pd.factorize(clusters.reindex(psi.index).values, sort=True)
    if (codes < 0).any():
        raise UserError(f"cluster variable missing in {int((codes < 0).sum())} sample row(s)")
    s = cluster_sums(psi.values, codes, len(levels))
    meat = s.T @ s
    d = np.sqrt(np.asarray(factors, float))
    return meat * np.outer(d, d)


def pvalues(coef: np.ndarray, se: np.ndarray, df: int | None) -> np.ndarray:
    """Two-sided p-values: t(df) or normal (df None)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(np.asarray(coef, float) / np.asarray(se, float))
    return 2 * (stats.t.sf(z, df) if df else stats.norm.sf(z))


def check_information(neg_h: np.ndarray, where: str) -> tuple[np.ndarray, dict[str, float], list[str]]:
    """Minus the Hessian at a reported ML maximum must be positive definite: returns its inverse,
    stats (smallest eigenvalue and condition number of the scaled matrix D^-½(-H)D^-½, D its
    diagonal) and notes (a flag when the condition number exceeds COND_FLAG). A matrix that is
    not positive definite is a UserError: the point is not a maximum and has no standard errors."""
    neg_h = (neg_h + neg_h.T) / 2
    d = np.diag(neg_h).copy()
    if not np.all(np.isfinite(neg_h)) or np.any(d <= 0):
        bad = int(np.sum(~(d > 0)))
        raise UserError(f"{where}: minus the Hessian at the reported maximum is not positive definite "
                        f"({bad} non-positive diagonal element(s)): not a maximum, no standard errors")
    scale = 1.0 / np.sqrt(d)
    scaled = neg_h * np.outer(scale, scale)
    eig = scipy.linalg.eigvalsh(scaled, check_finite=False)
    lo, hi = float(eig[0]), float(eig[-1])
    if lo <= 1e-14 * hi:
        raise UserError(f"{where}: minus the Hessian at the reported maximum is not positive definite "
                        f"(smallest eigenvalue of its scaled form {lo:.3g}, largest {hi:.3g}): not a maximum "
                        "or parameters not identified; no standard errors")
    cho = scipy.linalg.cho_factor(scaled, check_finite=False)
    inv = scipy.linalg.cho_solve(cho, np.eye(len(d)), check_finite=False) * np.outer(scale, scale)
    cond = hi / lo
    notes = []
    if cond > COND_FLAG:
        notes.append(f"information matrix nearly singular (scaled condition number {cond:.3g} > {COND_FLAG:.0e}): "
                     "standard errors of weakly identified parameters are unreliable")
    return (inv + inv.T) / 2, {"hessian_min_eig": lo, "hessian_cond": cond}, notes


def zero_se_note(name: str, se: pd.Series, explained: set[str]) -> list[str]:
    """A note naming terms whose standard error is 0 or not finite without a stated reason."""
    bad = [t for t in se.index if t not in explained and not (np.isfinite(se[t]) and se[t] > 0)]
    if not bad:
        return []
    return [f"{name}: standard error 0 or not defined for {', '.join(bad)} (not reported as estimated precisely)"]
