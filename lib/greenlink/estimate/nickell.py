"""Analytic fixed-T bias correction of a dynamic fixed-effects system (Table 3 (7)(8)):
the Nickell (1981) bias of the within (city-dummy) estimator, corrected as Kiviet (1995) and
Bun & Carree (2005) do for a dynamic panel, generalised to the panel VAR(1) that the system's
lagged dependents form and to the 3SLS (SUR) weighting.

Model (each city i, its rows t = 1..T_i contiguous, y_0 = the row before the first):

    y_t = A y_{t-1} + B_j x_jt + η_i + τ_t + e_t,    e_t iid over t with covariance Σ,

where y stacks the system's dependents, A[j, m] is the coefficient of dependent m at t-1 in
equation j (0 where the equation leaves it out) and every other regressor is strictly
exogenous. Within a city, E[Σ_t ỹ_{t-1} ẽ_t'] = -(1/T_i) Σ_{k=0}^{T_i-2} (T_i-1-k) A^k Σ, whatever
the paths of the exogenous regressors (their trends included): the deterministic part of
y_{t-1} is uncorrelated with e. Summed over cities this is -𝓗(A) Σ. The GLS estimator
θ̂ = (Z̃'WZ̃)⁻¹ Z̃'W ỹ, W = Σ_w⁻¹ ⊗ I (Σ_w the weighting matrix of the last 3SLS step), then has

    E[θ̂] - θ = (Z̃'WZ̃)⁻¹ b(θ),   b = -[𝓗(A) Σ Σ_w⁻¹]_{mj} in the row of equation j's regressor
                                   "dependent m at t-1", 0 elsewhere,

and the corrected estimate solves θ̃ = θ̂ - (Z̃'WZ̃)⁻¹ b(θ̃) by fixed-point iteration, Σ being
the residual covariance at θ̃ with degrees of freedom counting the dummies (Σ̂ = E'E/n of the
dummy regression is itself biased by O(1/T)). It is consistent for fixed T as N grows, unlike
the split-panel jackknife, which needs the regressors' moments to be the same in both halves
of the period (trending controls such as ln_app, ln_pgdp break that in a dynamic model: the
Monte Carlo in docs/estimation.md). The year effects add an O(1/N) term, ignored.

Standard errors: θ̃ = θ̂ - c(θ̃) gives dθ̃ = (I + J)⁻¹ dθ̂, J = ∂c/∂θ (numerical, through A), so
each row's influence is (I + J)⁻¹ applied to the uncorrected one; clustered: their sandwich
(vce.py), unadjusted: (I + J)⁻¹ V (I + J)⁻ᵀ.

When the fixed point has no stationary solution (the iteration leaves the unit circle; e.g. the
demo world, whose outcomes are zero in most rows, so that the lagged dependents have little
within variation relative to the error variance) or does not converge, the correction is not
applied: the uncorrected within estimates are reported, each term and the table notes saying
so (linear.fit_3sls), rather than a failed column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError

MAX_ITER = 200
TOL = 1e-10


class NoSolution(UserError):
    """No stationary fixed point of the correction on this sample."""


def lag_structure(dependents: list[str], terms: list[list[str]]) -> list[list[tuple[int, int]]]:
    """Per equation: (column position, dependent index m) of every regressor `<dependent m>[t-1]`."""
    want = {f"{d}[t-1]": m for m, d in enumerate(dependents)}
    return [[(k, want[t]) for k, t in enumerate(cols) if t in want] for cols in terms]


def h_matrix(a: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """𝓗(A) = Σ_i (1/T_i) Σ_{k=0}^{T_i-2} (T_i-1-k) A^k over the cities' numbers of rows T_i."""
    m = a.shape[0]
    out = np.zeros((m, m))
    tmax = int(lengths.max()) if len(lengths) else 0
    powers = [np.eye(m)]
    for _ in range(max(tmax - 2, 0)):
        powers.append(powers[-1] @ a)
    for t, count in zip(*np.unique(lengths, return_counts=True)):
        t = int(t)
        acc = np.zeros((m, m))
        for k in range(t - 1):
            acc += (t - 1 - k) * powers[k]
        out += count * acc / t
    return out


def correct(z: list[np.ndarray], y: list[np.ndarray], theta_hat: np.ndarray, sigma_w: np.ndarray,
            lags: list[list[tuple[int, int]]], lengths: np.ndarray, k_fe: int, where: str
            ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """θ̃ and (I + J)⁻¹ for the stacked coefficients of the equations (z: each equation's
    regressors after the fixed effects, y: its dependent, theta_hat: the 3SLS estimate)."""
    neq = len(z)
    sizes = [x.shape[1] for x in z]
    edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    w = np.linalg.inv(sigma_w)
    xpx = np.zeros((edges[-1], edges[-1]))
    for i in range(neq):
        for j in range(neq):
            xpx[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = w[i, j] * (z[i].T @ z[j])
    m_inv = np.linalg.inv((xpx + xpx.T) / 2)
    n = len(y[0])
    dof = np.array([n - k_fe - s for s in sizes], float)
    if np.any(dof <= 0):
        raise UserError(f"{where}: nickell correction: too few rows for the parameters")

    def a_of(theta: np.ndarray) -> np.ndarray:
        a = np.zeros((neq, neq))
        for j, pairs in enumerate(lags):
            for k, m in pairs:
                a[j, m] = theta[edges[j] + k]
        return a

    def sigma_of(theta: np.ndarray) -> np.ndarray:
        e = np.column_stack([y[j] - z[j] @ theta[edges[j]:edges[j + 1]] for j in range(neq)])
        return (e.T @ e) / np.sqrt(np.outer(dof, dof))

    def bias(theta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        g = h_matrix(a_of(theta), lengths) @ sigma @ w
        b = np.zeros(edges[-1])
        for j, pairs in enumerate(lags):
            for k, m in pairs:
                b[edges[j] + k] = -g[m, j]
        return m_inv @ b

    theta = theta_hat.copy()
    for it in range(1, MAX_ITER + 1):
        new = theta_hat - bias(theta, sigma_of(theta))
        radius = float(np.max(np.abs(np.linalg.eigvals(a_of(new))))) if np.all(np.isfinite(new)) else np.inf
        if radius >= 1:
            raise NoSolution(f"{where}: no stationary solution of the Nickell bias correction (iteration {it}: "
                            f"spectral radius of the corrected lag matrix {radius:.3g} >= 1): the within variation "
                            "of the lagged dependents is too small relative to the error variance")
        change = float(np.max(np.abs(new - theta)))
        theta = new
        if change < TOL:
            break
    else:
        raise NoSolution(f"{where}: the Nickell bias correction did not converge after {MAX_ITER} iterations "
                        f"(last change {change:.3g})")
    # J = d bias / d theta through A (Σ held at θ̃: its derivative is second order)
    sigma = sigma_of(theta)
    jac = np.zeros((edges[-1], edges[-1]))
    for j, pairs in enumerate(lags):
        for k, _ in pairs:
            idx = edges[j] + k
            h = 1e-6 * max(1.0, abs(theta[idx]))
            tp, tm = theta.copy(), theta.copy()
            tp[idx] += h
            tm[idx] -= h
            jac[:, idx] = (bias(tp, sigma) - bias(tm, sigma)) / (2 * h)
    transform = np.linalg.inv(np.eye(edges[-1]) + jac)
    return theta, transform, {"nickell_iterations": float(it)}


def unit_lengths(units: pd.Series, periods: pd.Series, where: str) -> np.ndarray:
    """Rows per unit, checking that each unit's periods are contiguous (the VAR recursion)."""
    frame = pd.DataFrame({"u": units.values, "t": periods.values})
    g = frame.groupby("u")["t"]
    span = g.max() - g.min() + 1
    count = g.size()
    if (span != count).any():
        raise UserError(f"{where}: nickell correction needs each unit's periods without gaps "
                        f"({int((span != count).sum())} unit(s) have gaps)")
    return count.values
