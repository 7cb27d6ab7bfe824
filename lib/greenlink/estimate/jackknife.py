"""Split-panel jackknife bias correction of fixed-effect estimators (Dhaene & Jochmans 2015,
"Split-panel jackknife estimation of fixed-effect models", Review of Economic Studies 82).

With city dummies and T periods, a fixed-effect estimator θ̂_T has a bias B/T + O(1/T²): the
incidental-parameter bias of the ML estimators (Tobit, negative binomial: σ, α, λ and the
slopes) and the Nickell bias of lagged dependent or predetermined regressors. Re-estimating
the same model on the first and the second half of the periods (each with its own city and
year dummies; lags still from the whole panel) gives two estimates with bias ≈ B/h, h = ⌈T/2⌉,
and

    θ̃ = w·θ̂_T − (w − 1)·(θ̂_first + θ̂_second)/2,    w = T/(T − h)  (= 2 for even T)

removes the B/T term (for odd T the two halves share the middle period). Nothing else about
the model changes: no assumption on the city effects, the same sample rules in each half. The
NB dispersion α is combined on the √α scale (SQRT_SCALE): its O(1/T²) remainder is smallest
there (measured, see SQRT_SCALE); every other parameter on its reported scale.

Standard errors. Clustered (`cov_type: clustered`): the sandwich of the combined per-row
influence functions w·ψ_T − (w−1)/2·(ψ_first + ψ_second) summed by cluster, with the
all-period fit's small-sample factor (vce.py); it includes the extra variance of the half-panel
estimates. Unadjusted: the all-period fit's standard errors (the jackknife's asymptotic
variance equals the uncorrected estimator's; Dhaene & Jochmans 2015, Theorem 3.2), which
understate its finite-sample variance: the clustered form is the one to use.

A term estimated on all periods but not in a half (e.g. absorbed there) keeps its uncorrected
estimate, with a note. /alpha at the boundary 0 stays 0; a corrected /alpha below 0 is
reported at the boundary 0 with a note. R², N, the log-likelihood and the fit statistics are
those of the all-period fit.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError
from greenlink.estimate import design, vce
from greenlink.estimate.design import ModelData
from greenlink.estimate.results import SystemResults

MIN_PERIODS = 4
# terms combined on the square-root scale: the NB dispersion α, whose √α is the standard deviation
# of the count's gamma heterogeneity; in the mixed Monte Carlo world (50-100 replications) the
# natural scale left a bias of -0.26, -0.37, -0.58 sd (its sd over replications) at α = 0.25,
# 0.5, 1, the log scale +0.49, +0.39, +0.33, the square root +0.09, -0.02, -0.14 (docs/estimation.md)
SQRT_SCALE = {"/alpha"}


def halves(periods: list[int]) -> tuple[tuple[int, int], tuple[int, int], float]:
    """The two half panels (first, last period of each) and the weight w = T/(T - h)."""
    t = len(periods)
    h = math.ceil(t / 2)
    return (periods[0], periods[h - 1]), (periods[t - h], periods[-1]), t / (t - h)


def correct(panel: pd.DataFrame, md: ModelData, full: SystemResults, unit: str | None, time: str, where: str,
            fit: Callable[[ModelData], SystemResults]) -> SystemResults:
    """The split-panel jackknife of `full` (the all-period fit of md.model)."""
    model = md.model
    rows = pd.Index(sorted(set().union(*[set(ed.y.index) for ed in md.equations])))
    periods = sorted(int(p) for p in md.period.loc[rows].unique())
    if len(periods) < MIN_PERIODS:
        raise UserError(f"{where}: bias_correction: jackknife needs at least {MIN_PERIODS} periods in the sample "
                        f"(got {len(periods)})")
    first, second, w = halves(periods)
    base = replace(model, bias_correction="none")
    parts = []
    for lo, hi in (first, second):
        tag = f"{where} (jackknife half panel {lo}-{hi})"
        try:
            parts.append(fit(design.build(panel, base, unit, time, where=tag, periods=(lo, hi))))
        except UserError as exc:
            raise UserError(f"{where}: split-panel jackknife: the half panel {lo}-{hi} could not be estimated: "
                            f"{exc}") from None
    notes = list(full.notes)
    skipped: dict[tuple[str, str], str] = {}
    coef: dict[tuple[str, str], float] = {}
    for name, eq in full.equations.items():
        for term in eq.params.index:
            key = (name, term)
            hv = [p.equations[name].params.get(term, np.nan) if name in p.equations else np.nan for p in parts]
            theta = float(eq.params[term])
            if term == "/alpha" and eq.stats.get("alpha_boundary") == 1.0:
                coef[key] = theta
                continue
            if not all(np.isfinite(hv)):
                coef[key] = theta
                skipped[key] = "not bias-corrected: not estimated in a half panel"
                continue
            if term in SQRT_SCALE:
                # the NB dispersion on the scale of its gamma heterogeneity's standard deviation
                root = w * np.sqrt(theta) - (w - 1) * float(np.mean(np.sqrt(np.maximum(hv, 0.0))))
                value = float(np.sign(root) * root**2)
            else:
                value = w * theta - (w - 1) * float(np.mean(hv))
            if term == "/alpha" and value < 0:
                skipped[key] = f"jackknife-corrected alpha {value:.3g} < 0: reported at the boundary 0"
                value = 0.0
            coef[key] = value
    clustered = model.cov_type == "clustered" and full.influence is not None
    se: dict[tuple[str, str], float] = {}
    influence = None
    if clustered:
        index = full.influence.index
        for p in parts:
            if p.influence is not None:
                index = index.union(p.influence.index)

        def on_scale(res: SystemResults) -> pd.DataFrame:
            """A fit's influence on the combination's scale (√α: ψ/(2√α))."""
            out = res.influence.reindex(index=index, columns=full.influence.columns).fillna(0.0)
            for c in out.columns:
                if c[1] in SQRT_SCALE and c[0] in res.equations and res.equations[c[0]].params.get(c[1], 0) > 0:
                    out[c] = out[c] / (2 * np.sqrt(res.equations[c[0]].params[c[1]]))
            return out

        psi_full = full.influence.reindex(index).fillna(0.0)
        psi = on_scale(full) * w
        for p in parts:
            if p.influence is not None:
                psi -= (w - 1) / 2 * on_scale(p)
        for c in psi.columns:
            if tuple(c) in skipped:           # a term kept uncorrected keeps its all-period influence
                psi[c] = psi_full[c]
            elif c[1] in SQRT_SCALE:          # back to α: dα = 2√α̃ d√α
                psi[c] = psi[c] * 2 * np.sqrt(coef[tuple(c)])
        factors = np.array([full.cluster_dof[eq].factor for eq, _ in psi.columns])
        cov = vce.clustered_cov(psi, md.cluster_values, factors)
        se = dict(zip(map(tuple, psi.columns), np.sqrt(np.diag(cov))))
        influence = psi
    equations = {}
    for name, eq in full.equations.items():
        terms = list(eq.params.index)
        params = pd.Series([coef[(name, t)] for t in terms], index=terms)
        ses = pd.Series([se.get((name, t), eq.std_errors[t]) if clustered else eq.std_errors[t] for t in terms],
                        index=terms)
        if clustered:
            df = full.cluster_dof[name].df
        elif eq.estimator == "ols":
            df = int(eq.stats.get("df_resid", 0)) or None
        else:
            df = None
        boundary = {t for t in terms if t == "/alpha" and eq.stats.get("alpha_boundary") == 1.0}
        for t in boundary:
            ses[t] = np.nan
        pv = pd.Series(vce.pvalues(params.values, ses.values, df), index=terms)
        term_notes = dict(eq.term_notes)
        term_notes.update({t: why for (n, t), why in skipped.items() if n == name})
        stats = {**eq.stats, "jackknife_weight": w}
        equations[name] = replace(eq, params=params, std_errors=ses, pvalues=pv, term_notes=term_notes, stats=stats)
        if skipped:
            notes += [f"{name} {t}: {why}" for (n, t), why in skipped.items() if n == name]
    se_how = ("standard errors: the clustered sandwich of the combined influence functions" if clustered else
              "standard errors of the all-period fit (asymptotic; they understate the jackknife's finite-sample "
              "variance)")
    rule = (f"2·θ({periods[0]}-{periods[-1]}) - mean of θ({first[0]}-{first[1]}), θ({second[0]}-{second[1]})"
            if w == 2 else f"{w:g}·θ({periods[0]}-{periods[-1]}) - {w - 1:g}·mean of θ({first[0]}-{first[1]}), "
                           f"θ({second[0]}-{second[1]})")
    notes.append(f"SPJ: split-panel jackknife bias correction (Dhaene & Jochmans 2015), {rule}; {se_how}; N, R² "
                 "and the log-likelihood of the all-period fit")
    return replace(full, equations=equations, notes=notes, influence=influence)
