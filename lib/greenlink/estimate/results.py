"""Results objects shaped like linearmodels': params, std_errors, pvalues, nobs, rsquared, summary.

Fixed-effect dummies (and the constant when there are fixed effects) are nuisance parameters:
they are not part of `params`. Auxiliary ML parameters (Tobit /sigma, negative-binomial
/lnalpha, ...) are, with names starting with "/".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from greenlink.estimate.design import SampleCounts

LONG_COLUMNS = ["equation", "term", "coef", "se", "p", "nobs", "r2", "loglik", "n_censored", "n_uncensored",
                "n_informative", "sigma", "se_sigma", "alpha", "se_alpha", "note"]
# per-equation statistics repeated on every term row of the equation (empty where they do not exist)
STAT_COLUMNS = LONG_COLUMNS[7:-1]


@dataclass
class EquationResult:
    """Estimates of one equation.

    params, std_errors, pvalues  Series indexed by term name (coefficient, standard error, two-sided p)
    nobs      observations used; rsquared: 1 - SSR/SST (centred) of the structural residuals, with
              the fixed effects counted as fitted (LSDV R²); NaN where not defined (Tobit)
    rsquared_within  1 - SSR / (SS of y after the fixed effects): what the regressors explain of
              the within variation (Stata xtreg's within R²); NaN without fixed effects
    omitted   term -> reason (regressors absorbed by the constant/fixed effects)
    term_notes  term -> note on an estimated term (e.g. the NB alpha at its boundary 0)
    counts    row accounting of the estimation sample
    """

    name: str
    dependent: str
    column: str
    label: str
    estimator: str
    params: pd.Series
    std_errors: pd.Series
    pvalues: pd.Series
    nobs: int
    rsquared: float
    fixed_effects: tuple[str, ...] = ()
    omitted: dict[str, str] = field(default_factory=dict)
    counts: SampleCounts | None = None
    stats: dict[str, float] = field(default_factory=dict)
    rsquared_within: float = float("nan")                        # R² of the variation within the fixed effects
    regressor_sd: dict[str, float] = field(default_factory=dict)  # term -> sd in the estimation sample
    term_notes: dict[str, str] = field(default_factory=dict)    # term -> why its estimate is special

    @property
    def tstats(self) -> pd.Series:
        return self.params / self.std_errors

    def equation_stats(self) -> tuple[float, ...]:
        """loglik, n_censored, n_uncensored, n_informative, sigma, se_sigma, alpha, se_alpha where
        they exist (NaN otherwise): the log-likelihood of the ML fit (the model's, for a system),
        the Tobit's censored / uncensored rows of N and its informative rows (outside all-censored
        groups), sigma (the ML /sigma, or the residual standard deviation of a linear estimator)
        and the NB dispersion /alpha, with their standard errors (ML only)."""
        nan = float("nan")
        st = self.stats
        cens = st.get("censored", nan)
        unc = self.nobs - cens if np.isfinite(cens) else nan

        def aux(term: str) -> tuple[float, float]:
            if term in self.params.index:
                return float(self.params[term]), float(self.std_errors[term])
            return nan, nan

        sigma, se_sigma = aux("/sigma")
        if not np.isfinite(sigma):
            sigma = st.get("sigma", nan)
        alpha, se_alpha = aux("/alpha")
        return (st.get("loglik", nan), cens, unc, st.get("informative", nan), sigma, se_sigma, alpha, se_alpha)

    def to_frame(self) -> pd.DataFrame:
        """One row per term (omitted terms with NaN estimates and the reason in `note`)."""
        eq = self.equation_stats()
        rows = [(self.name, t, float(self.params[t]), float(self.std_errors[t]), float(self.pvalues[t]),
                 self.nobs, self.rsquared, *eq, self.term_notes.get(t, "")) for t in self.params.index]
        rows += [(self.name, t, np.nan, np.nan, np.nan, self.nobs, self.rsquared, *eq, reason)
                 for t, reason in self.omitted.items()]
        return pd.DataFrame(rows, columns=LONG_COLUMNS)


@dataclass
class SystemResults:
    """Results of one model (a system, or equations fitted one by one)."""

    model: str
    estimator: str
    equations: dict[str, EquationResult]
    iterations: int = 0
    converged: bool = True
    sigma: pd.DataFrame | None = None
    loglik: float | None = None
    notes: list[str] = field(default_factory=list)
    # cov_type clustered: per-row influence functions of the reported parameters (index = panel
    # row labels, columns = (equation, term)) and each equation's small-sample terms (vce.py)
    influence: pd.DataFrame | None = None
    cluster_dof: dict = field(default_factory=dict)

    def _stack(self, attr: str) -> pd.Series:
        parts = [getattr(e, attr).rename(lambda t, n=n: f"{n}_{t}") for n, e in self.equations.items()]
        return pd.concat(parts) if parts else pd.Series(dtype=float)

    @property
    def params(self) -> pd.Series:
        """All coefficients, indexed `<equation>_<term>` as in linearmodels."""
        return self._stack("params")

    @property
    def std_errors(self) -> pd.Series:
        return self._stack("std_errors")

    @property
    def pvalues(self) -> pd.Series:
        return self._stack("pvalues")

    @property
    def nobs(self) -> pd.Series:
        return pd.Series({n: e.nobs for n, e in self.equations.items()}, name="nobs")

    @property
    def rsquared(self) -> pd.Series:
        return pd.Series({n: e.rsquared for n, e in self.equations.items()}, name="rsquared")

    def to_frame(self) -> pd.DataFrame:
        frames = [e.to_frame() for e in self.equations.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG_COLUMNS)

    @property
    def summary(self) -> str:
        lines = [f"Model {self.model}: {self.estimator}"
                 + (f", {self.iterations} GLS iteration(s){'' if self.converged else ' (NOT converged)'}"
                    if self.estimator == "3sls" else "")
                 + (f", log-likelihood {self.loglik:.4f}" if self.loglik is not None else "")]
        for e in self.equations.values():
            fe = f", fixed effects: {', '.join(e.fixed_effects)}" if e.fixed_effects else ""
            r2 = "" if np.isnan(e.rsquared) else f", R² {e.rsquared:.4f}"
            r2 += "" if np.isnan(e.rsquared_within) else f", within R² {e.rsquared_within:.4f}"
            lines.append(f"\nEquation {e.name} [{e.column}]: N {e.nobs}{r2}{fe}")
            lines.append(f"{'term':<28}{'coef':>14}{'std.err':>14}{'z/t':>10}{'p':>10}")
            for t in e.params.index:
                se = e.std_errors[t]
                lines.append(f"{t:<28}{e.params[t]:>14.6g}{se:>14.6g}{e.params[t] / se:>10.3f}{e.pvalues[t]:>10.4f}")
            for t, why in e.omitted.items():
                lines.append(f"{t:<28}{'(omitted: ' + why + ')':>48}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary
