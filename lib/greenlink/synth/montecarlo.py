"""Monte Carlo of the estimators: "pseudo-true" values on generated worlds (issue 13) and the
study-shape worlds of every Table 3 column and Table 2's 3SLS (issue 24).

On the default generator world the article's estimator has no probability limit equal to the
planted alpha, beta (ln(1 + count) is censored at 0 and both lagged outcomes feed back with
T = 10), so a single run is compared with the estimator's own expectation in that world: its
mean over seeds. Each seed is a driver-side simulation (`synth.system.simulate`, the panel
the pipeline rebuilds exactly; seconds per world) followed by the estimation.

    pseudo_true(n_patents, seeds, profile=None, overrides=None)
        -> DataFrame (seed, equation, term, coef, se, planted, censored_share)
    summarize(frame) -> DataFrame (equation, term, planted, mean, sd over seeds, mean se, seeds,
        censored_share, mc_se)

Study-shape worlds (278 cities x 2010-2020, city and year effects, 10 estimation years after the
lag; `simulate_world`), each the model one column group estimates, with the study's regressors
(the Table 2/3 controls: city levels correlated with the city effects, city trends, province-year
qrate, cgl constant within a city, HSR switching on; the planted coefficients X_TRUE, W_TRUE
of `synth.estimation_panel`) and the cross-lagged feedback α, β:

    tobit     (1)(2): ln_gtr = max(0, α ln_rsi[t-1] + X'λ + a_i + v_t + σ ε1), ln_rsi likewise
    twopart   (3)(4): ln_gtr = d1·(α ln_rsi[t-1] + X'λ + a_i + v_t + σ ε1), participation
              d1 (gtr > 0) independent of ε1 given the regressors and a city propensity: the
              model under which OLS on the nonzero rows is consistent
    mixed     (5)(6): ln_gtr linear as above; rsi ~ NB2(exp(β ln_gtr[t-1] + W'γ + m_i + n_t
              + λ ε1), α_nb), estimated on rsi > 0 (zero-truncated); ln_rsi = ln(1 + rsi)
    dynamic   (7)(8): the linear system with own lags ρ_g ln_gtr[t-1], ρ_r ln_rsi[t-1]
    base      Table 2 (2)(4): the linear system (SPEC §7)

`replicate(kind, seed, variants)` estimates a world's models (as configured in conf/estimation,
and the variants asked for) and returns one row per parameter; `coverage_table(frame)` gives
bias, RMSE and the share of 95 % intervals covering the truth (bench/bench_montecarlo.py).
"""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenlink.core.config import conf_file
from greenlink.estimate.fitting import estimate
from greenlink.estimate.spec import load_table
from greenlink.synth import params as gparams
from greenlink.synth.estimation_panel import UNLAGGED, W_TRUE, X_TRUE
from greenlink.synth.system import simulate

CROSS_TERMS = {"ln_gtr": ("ln_rsi[t-1]", "alpha"), "ln_rsi": ("ln_gtr[t-1]", "beta")}


def _table2_fe():
    table = load_table(Path(conf_file("estimation")) / "table2.yaml")
    return table, next(m for m in table.models if m.name == "fe")


def pseudo_true(n_patents: int, seeds: list[int], profile: str | None = None,
                overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Table 2 (2)(4) alpha-hat and beta-hat on the generator's panel of each seed."""
    p = gparams.load(overrides, profile=profile)
    table, model = _table2_fe()
    rows = []
    for seed in seeds:
        world = simulate(seed, n_patents, p)
        res = estimate(world.panel, model, table.unit, table.time)
        for eq, (term, name) in CROSS_TERMS.items():
            r = res.equations[eq]
            rows.append((seed, eq, term, float(r.params[term]), float(r.std_errors[term]),
                         float(world.structural[name]), float((world.panel[f"ystar_{eq[3:]}"] < 0).mean())))
    return pd.DataFrame(rows, columns=["seed", "equation", "term", "coef", "se", "planted", "censored_share"])


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds (the pseudo-true value), its Monte Carlo standard error sd/sqrt(seeds),
    the spread over seeds and the mean reported SE."""
    g = frame.groupby(["equation", "term"], sort=False)
    out = g.agg(planted=("planted", "first"), mean=("coef", "mean"), sd=("coef", "std"), mean_se=("se", "mean"),
                seeds=("seed", "nunique"), censored_share=("censored_share", "mean")).reset_index()
    out["mc_se"] = out["sd"] / np.sqrt(out["seeds"])
    return out


# ----------------------------------------------------------------------------- study-shape worlds

WORLD_DEFAULTS = {"alpha": 0.10, "beta": 0.15, "rho_g": 0.3, "rho_r": 0.3, "sigma": 0.5, "rho": 0.3, "city_sd": 0.5,
                  "nb_alpha": 0.5, "lam": 0.5, "tobit_sigma": 0.8, "city_trends": 1.0}
# world -> the (table, model) it is the model of
WORLD_MODELS = {"tobit": ("table3", "tobit"), "twopart": ("table3", "nonzero"), "mixed": ("table3", "mixed"),
                "dynamic": ("table3", "dynamic"), "base": ("table2", "fe")}
KINDS = tuple(WORLD_MODELS)


def _controls(rng: np.random.Generator, n: int, years: np.ndarray, y0: int, n_prov: int = 30,
              city_trends: float = 1.0):
    """The Table 2/3 controls per city and year (the distributions of
    `synth.estimation_panel.simulate_panel`, drawn in their own order so that the published
    Monte Carlo results, docs/benchmarks.md, stay reproducible) and a city score (the city
    level of ln_app) the city effects are correlated with."""
    t = len(years)
    prov = rng.integers(0, n_prov, n)
    out, levels = {}, {}
    spec = {"dc_out": (0.04, 0.03, 0.01, 0, 0, 0, None), "dc_in": (0.04, 0.03, 0.01, 0, 0, 0, None),
            "bc_gt": (0.003, 0.004, 0.002, 0, 0, 0, None), "DC": (0.016, 0.02, 0.006, 0, 0, 0, None),
            "BC": (0.005, 0.01, 0.004, 0, 0, 0, None), "ln_app": (6.0, 1.4, 0.25, 0.12, 0.06, None, None),
            "ln_pgdp": (4.4, 0.3, 0.15, 0.03, 0.02, None, None), "er": (0.77, 0.1, 0.07, 0, 0, 0.02, 1.05),
            "ln_fdi": (4.3, 0.7, 0.3, 0, 0, 0.4, None), "fin": (2.7, 1.2, 0.4, 0, 0, 0.1, None),
            "ins": (37.0, 10.0, 3.0, 0, 0, 5, 84)}
    for k, (mean, sd_city, sd_noise, trend, sd_trend, lo, hi) in spec.items():
        level = mean + sd_city * rng.standard_normal(n)
        slope = trend + city_trends * sd_trend * rng.standard_normal(n)
        vals = level[:, None] + slope[:, None] * (years - y0)[None, :] + sd_noise * rng.standard_normal((n, t))
        out[k], levels[k] = np.clip(vals, lo, hi), level
    out["qrate"] = (0.995 + 0.003 * rng.standard_normal((n_prov, t)))[prov]
    out["cgl"] = np.repeat((rng.random(n) < 0.13).astype(float)[:, None], t, axis=1)
    out["HSR"] = (years[None, :] >= rng.integers(y0 - 4, years[-1] + 6, n)[:, None]).astype(float)
    return out, (levels["ln_app"] - 6.0) / 1.4


def _index(ctrl: dict, coefs: dict, t: int) -> np.ndarray:
    return sum(b * ctrl[k][:, t - (0 if k in UNLAGGED else 1)] for k, b in coefs.items())


def _term(k: str) -> str:
    return k if k in UNLAGGED else f"{k}[t-1]"


def truth_of(kind: str, p: dict) -> dict[tuple[str, str], float]:
    """(equation, term) -> the planted value of every parameter a world's model estimates."""
    g = {("ln_gtr", _term(k)): v for k, v in X_TRUE.items()}
    g[("ln_gtr", "ln_rsi[t-1]")] = p["alpha"]
    count = "rsi" if kind == "mixed" else "ln_rsi"
    r = {(count, _term(k)): v for k, v in W_TRUE.items()}
    r[(count, "ln_gtr[t-1]")] = p["beta"]
    if kind == "dynamic":
        g[("ln_gtr", "ln_gtr[t-1]")], r[(count, "ln_rsi[t-1]")] = p["rho_g"], p["rho_r"]
    if kind == "tobit":
        g[("ln_gtr", "/sigma")] = r[(count, "/sigma")] = p["tobit_sigma"]
    if kind == "mixed":
        g[("ln_gtr", "/sigma")] = p["sigma"]
        r[(count, "/alpha")], r[(count, "/lambda")] = p["nb_alpha"], p["lam"]
    return {**g, **r}


def simulate_world(kind: str, seed: int, n_cities: int = 278, years: tuple[int, int] = (2010, 2020),
                   burn_in: int = 5, **overrides: float) -> tuple[pd.DataFrame, dict[tuple[str, str], float]]:
    """A study-shape panel from the model of one column group (module docstring) and the
    planted value of every parameter its model estimates."""
    if kind not in WORLD_MODELS:
        raise ValueError(f"unknown world {kind!r}; one of {', '.join(KINDS)}")
    p = {**WORLD_DEFAULTS, **overrides}
    rng = np.random.default_rng(seed)
    y0, y1 = years
    all_years = np.arange(y0 - burn_in, y1 + 1)
    n, t_all = n_cities, len(all_years)
    ctrl, score = _controls(rng, n, all_years, y0, city_trends=p["city_trends"])
    a_i = p["city_sd"] * (0.6 * score + 0.8 * rng.standard_normal(n))       # correlated with the regressors
    m_i = p["city_sd"] * (0.6 * score + 0.8 * rng.standard_normal(n))
    v_t = 0.05 * (all_years - y0) + 0.05 * rng.standard_normal(t_all)
    n_t = 0.04 * (all_years - y0) + 0.05 * rng.standard_normal(t_all)
    xb = np.mean([_index(ctrl, X_TRUE, t) for t in range(1, t_all)])
    wb = np.mean([_index(ctrl, W_TRUE, t) for t in range(1, t_all)])
    level = 0.9 if kind == "tobit" else 1.5                                   # mean of the latent outcomes
    own_g, own_r = (p["rho_g"], p["rho_r"]) if kind == "dynamic" else (0.0, 0.0)
    c1 = level * (1 - own_g) - xb - p["alpha"] * level
    c2 = level * (1 - own_r) - wb - p["beta"] * level
    lg, lr = np.zeros((n, t_all)), np.zeros((n, t_all))
    lg[:, 0] = level + 0.5 * rng.standard_normal(n)
    lr[:, 0] = level + 0.5 * rng.standard_normal(n)
    d1, d2 = np.ones((n, t_all), bool), np.ones((n, t_all), bool)
    rsi = np.zeros((n, t_all))
    prop1, prop2 = 1.2 + 0.6 * rng.standard_normal(n), 1.2 + 0.6 * rng.standard_normal(n)
    chol = np.linalg.cholesky(np.array([[1.0, p["rho"]], [p["rho"], 1.0]]))
    for t in range(1, t_all):
        e = rng.standard_normal((n, 2)) @ chol.T
        r1 = c1 + a_i + v_t[t] + _index(ctrl, X_TRUE, t) + p["alpha"] * lr[:, t - 1] + own_g * lg[:, t - 1]
        r2 = c2 + m_i + n_t[t] + _index(ctrl, W_TRUE, t) + p["beta"] * lg[:, t - 1] + own_r * lr[:, t - 1]
        if kind == "tobit":
            lg[:, t] = np.maximum(0.0, r1 + p["tobit_sigma"] * e[:, 0])
            lr[:, t] = np.maximum(0.0, r2 + p["tobit_sigma"] * e[:, 1])
        elif kind == "mixed":
            eps = p["sigma"] * e[:, 0]
            lg[:, t] = r1 + eps
            mu = np.exp(r2 + p["lam"] * eps / p["sigma"])
            a = 1.0 / p["nb_alpha"]
            rsi[:, t] = rng.negative_binomial(a, a / (a + mu))
            lr[:, t] = np.log1p(rsi[:, t])
        else:
            lg[:, t], lr[:, t] = r1 + p["sigma"] * e[:, 0], r2 + p["sigma"] * e[:, 1]
            if kind == "twopart":
                shift = 0.3 * (ctrl["ln_app"][:, t - 1] - 6.0)
                d1[:, t] = prop1 + shift + rng.standard_normal(n) > 0
                d2[:, t] = prop2 + shift + rng.standard_normal(n) > 0
                lg[:, t], lr[:, t] = np.where(d1[:, t], lg[:, t], 0.0), np.where(d2[:, t], lr[:, t], 0.0)
    keep = all_years >= y0
    k = int(keep.sum())
    frame = {"city_code": np.repeat(np.array([f"{100000 + 100 * i:06d}" for i in range(n)]), k),
             "year": np.tile(all_years[keep], n)}
    for name, v in ctrl.items():
        frame[name] = v[:, keep].ravel()
    frame["ln_gtr"], frame["ln_rsi"] = lg[:, keep].ravel(), lr[:, keep].ravel()
    if kind == "twopart":
        frame["gtr"], frame["rsi"] = d1[:, keep].ravel().astype(int), d2[:, keep].ravel().astype(int)
    elif kind == "tobit":
        frame["gtr"], frame["rsi"] = (frame["ln_gtr"] > 0).astype(int), (frame["ln_rsi"] > 0).astype(int)
    elif kind == "mixed":
        frame["gtr"], frame["rsi"] = np.ones(n * k, int), rsi[:, keep].ravel().astype(int)
    else:
        frame["gtr"] = frame["rsi"] = np.ones(n * k, int)
    return pd.DataFrame(frame), truth_of(kind, p)


@functools.lru_cache(maxsize=None)
def world_model(kind: str, variant: str = "as configured"):
    """(table, model) a world's estimates come from: the conf/estimation spec (`as configured`),
    `uncorrected` (bias_correction none, conventional standard errors: Table 3 before issue 24),
    or `clustered` (as configured with cov_type clustered by city)."""
    from greenlink.estimate.stage import article_tables

    name, model_name = WORLD_MODELS[kind]
    table = article_tables(name)[0]
    model = next(m for m in table.models if m.name == model_name)
    if variant == "uncorrected":
        model = replace(model, bias_correction="none", cov_type="unadjusted", cluster=None)
    elif variant == "clustered":
        model = replace(model, cov_type="clustered", cluster="city")
    elif variant != "as configured":
        raise ValueError(f"unknown variant {variant!r}")
    return table, model


def replicate(kind: str, seed: int, variants: tuple[str, ...] = ("as configured",), n_cities: int = 278,
              models: dict | None = None, **overrides: float) -> pd.DataFrame:
    """One world, its model's estimates under each variant: one row per parameter (seed, world,
    variant, column, equation, term, true, coef, se). `models`: extra {label: (table, model)}
    estimated on the same world (e.g. the nonzero-sample OLS on the Tobit world)."""
    panel, truth = simulate_world(kind, seed, n_cities=n_cities, **overrides)
    todo = {v: world_model(kind, v) for v in variants}
    todo.update(models or {})
    rows = []
    for variant, (table, model) in todo.items():
        res = estimate(panel, model, table.unit, table.time)
        for eq_name, r in res.equations.items():
            for term in r.params.index:
                true = truth.get((eq_name, term))
                if true is None:
                    continue
                rows.append((seed, kind, variant, r.column, eq_name, term, true, float(r.params[term]),
                             float(r.std_errors[term])))
    return pd.DataFrame(rows, columns=["seed", "world", "variant", "column", "equation", "term", "true", "coef", "se"])


def coverage_table(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per world, variant and parameter: truth, mean estimate, bias, RMSE, sd over replications,
    mean reported SE and the share of the `level` intervals (coef ± z·se) covering the truth."""
    from scipy import stats as sstats

    z = float(sstats.norm.ppf(0.5 + level / 2))
    f = frame.assign(err=frame["coef"] - frame["true"],
                     covers=(frame["coef"] - frame["true"]).abs() <= z * frame["se"])
    g = f.groupby(["world", "variant", "column", "equation", "term"], sort=False)
    out = g.agg(true=("true", "first"), mean=("coef", "mean"), sd=("coef", "std"), mean_se=("se", "mean"),
                reps=("seed", "nunique"), coverage=("covers", "mean")).reset_index()
    out["bias"] = out["mean"] - out["true"]
    out["rmse"] = g["err"].apply(lambda e: float(np.sqrt(np.mean(e**2)))).values
    return out[["world", "variant", "column", "equation", "term", "true", "mean", "bias", "rmse", "sd", "mean_se",
                "coverage", "reps"]]
