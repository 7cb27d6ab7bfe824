"""Estimators recover known parameters from simulated worlds (SPEC §7).

The base system is simulated at the article's size (278 cities, 2010-2020, 2,780 estimation
rows) by `greenlink.synth.estimation_panel` with alpha = 0.10, beta = 0.15. Its noise is small
relative to the exogenous within-city variation of the controls (noise_sd = 0.1): the
fixed-effects (LSDV) estimator of a system with cross-lagged feedback has a Nickell-type
bias of order 1/T, which is then a small fraction of a standard error, so the check measures
the estimation layer rather than that known small-T property.

Criteria: alpha and beta within two standard errors of the truth, positive and significant at
1 % (as designed); every other coefficient within three standard errors (about 18 controls are
checked at once: a Bonferroni-style bound) and at least 80 % of them within two.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from greenlink.estimate import estimate, load_table, table_from_dict
from greenlink.synth.estimation_panel import UNLAGGED, simulate_panel

import paths

CONF = paths.CONF / "estimation"


def _term(k: str, lag: int = 1) -> str:
    return k if k in UNLAGGED else f"{k}[t-{lag}]"


def _check_system(res, truth, cross_gtr: str, cross_rsi: str):
    g, r = res.equations["ln_gtr"], res.equations["ln_rsi"]
    for eq, term, true in ((g, cross_gtr, truth["alpha"]), (r, cross_rsi, truth["beta"])):
        z = (eq.params[term] - true) / eq.std_errors[term]
        assert abs(z) < 2, (term, eq.params[term], eq.std_errors[term])
        assert eq.params[term] > 0 and eq.pvalues[term] < 0.01
    zs = []
    for eq, coefs in ((g, truth["X"]), (r, truth["W"])):
        for k, true in coefs.items():
            t = _term(k)
            if t in eq.omitted:
                continue
            zs.append((eq.params[t] - true) / eq.std_errors[t])
    zs = np.abs(np.array(zs))
    assert zs.max() < 3, zs
    assert (zs < 2).mean() >= 0.8, zs
    return zs


def test_base_system_recovers_alpha_beta():
    panel, truth = simulate_panel(seed=11, noise_sd=0.1)
    table = load_table(CONF / "table2.yaml")
    fe = next(m for m in table.models if m.name == "fe")
    res = estimate(panel, fe, table.unit, table.time)
    assert res.converged and res.iterations >= 2
    assert list(res.nobs) == [2780, 2780]
    # cgl does not vary within a city: omitted with the reason, not silently dropped
    assert "city" in res.equations["ln_gtr"].omitted["cgl"]
    counts = res.equations["ln_gtr"].counts.as_dict()
    assert counts == {"rows": 3058, "excluded: no t-1 row of the same unit (first period)": 278, "used": 2780}
    _check_system(res, truth, "ln_rsi[t-1]", "ln_gtr[t-1]")


def test_contemporaneous_option_recovers_simultaneous_system():
    """Data from y1 = a*y2[t] + ..., y2 = b*y1[t] + ... : the contemporaneous option makes the
    cross terms ln_rsi[t], ln_gtr[t] endogenous, instrumented by the system's exogenous terms."""
    panel, truth = simulate_panel(seed=5, noise_sd=0.1, contemporaneous=True)
    table = load_table(CONF / "table2.yaml")
    fe = next(m for m in table.models if m.name == "fe")
    res = estimate(panel, fe, table.unit, table.time, contemporaneous=True)
    assert "ln_rsi" in res.equations["ln_gtr"].params.index
    assert "ln_gtr" in res.equations["ln_rsi"].params.index
    assert res.equations["ln_gtr"].stats["instruments"] > len(res.equations["ln_gtr"].params)
    # every exogenous regressor has the 2010 lag, so the instruments cost no extra rows
    assert res.equations["ln_gtr"].nobs == 2780
    _check_system(res, truth, "ln_rsi", "ln_gtr")
    # the lagged specification on the same data misses the simultaneity entirely
    lagged = estimate(panel, fe, table.unit, table.time)
    assert abs(lagged.equations["ln_gtr"].params["ln_rsi[t-1]"] - truth["alpha"]) > 0.02


def _mixed_world(n: int, seed: int, lam: float = 0.5, alpha: float = 0.4, s: float = 0.6):
    rng = np.random.default_rng(seed)
    x1, z1 = rng.normal(size=(2, n))
    e = rng.normal(0, s, n)
    y = 1.0 + 0.5 * x1 + e
    mu = np.exp(1.2 + 0.3 * z1 + lam * e / s)
    a = 1 / alpha
    c = rng.negative_binomial(a, a / (a + mu))
    return pd.DataFrame({"year": np.arange(n), "y": y, "c": c, "x1": x1, "z1": z1})


MIXED = {"table": "mixed", "panel": {"unit": None, "time": "year"}, "models": [{
    "name": "m", "estimator": "mixed_ml", "sample": "c > 0", "zero_truncated": True,
    "equations": [{"dependent": "y", "regressors": ["x1"]},
                  {"dependent": "c", "family": "negbin", "regressors": ["z1"]}]}]}


def test_mixed_count_linear_system_recovers_parameters():
    data = _mixed_world(1500, seed=21)
    spec = table_from_dict(MIXED)
    res = estimate(data, spec.models[0], spec.unit, spec.time)
    y, c = res.equations["y"], res.equations["c"]
    assert y.nobs == c.nobs == int((data["c"] > 0).sum())
    assert c.counts.as_dict()["excluded: sample filter c > 0"] == int((data["c"] == 0).sum())
    truth = [(y, "const", 1.0), (y, "x1", 0.5), (y, "/sigma", 0.6),
             (c, "const", 1.2), (c, "z1", 0.3), (c, "/alpha", 0.4), (c, "/lambda", 0.5)]
    for eq, term, true in truth:
        z = (eq.params[term] - true) / eq.std_errors[term]
        assert abs(z) < 2, (term, eq.params[term], eq.std_errors[term])
    # the quadrature is converged: twice the nodes moves nothing at the reported precision
    fine = estimate(data, replace(spec.models[0], quadrature_points=64), spec.unit, spec.time)
    assert fine.loglik == pytest.approx(res.loglik, abs=1e-6)
    assert np.allclose(fine.params.values, res.params.values, rtol=1e-6, atol=1e-8)
    # ignoring the truncation (zero_truncated: false) biases the count intercept
    naive = estimate(data, replace(spec.models[0], zero_truncated=False), spec.unit, spec.time)
    assert naive.equations["c"].params["const"] > res.equations["c"].params["const"] + 0.05


def test_tobit_with_city_dummies_and_all_censored_cities():
    """Tobit with fixed-effect dummies recovers the slope; cities whose outcomes are all
    censored are excluded (counted), which equals the fit without those cities."""
    rng = np.random.default_rng(8)
    n_c, years = 120, np.arange(2011, 2021)
    d = pd.DataFrame([(f"c{c:03d}", t) for c in range(n_c) for t in years], columns=["city_code", "year"])
    ce = rng.normal(0, 0.5, n_c)
    ce[:6] = -20.0                                   # six cities never above the censoring point
    d["x"] = rng.normal(size=len(d))
    ystar = 0.3 + 0.8 * d["x"] + ce[d.index // len(years)] + 0.02 * (d["year"] - 2011) + rng.normal(0, 1, len(d))
    d["y"] = np.maximum(ystar, 0.0)
    spec = table_from_dict({"table": "t", "models": [{"name": "tobit", "estimator": "tobit",
                                                      "fixed_effects": ["city", "year"],
                                                      "equations": [{"dependent": "y", "regressors": ["x"]}]}]})
    res = estimate(d, spec.models[0])
    r = res.equations["y"]
    assert abs(r.params["x"] - 0.8) < 2 * r.std_errors["x"]
    # N as Stata's tobit: every row of the likelihood; the 60 rows of the six all-censored
    # cities are counted as uninformative in the stats and a note
    assert r.counts.reconciles() and r.nobs == r.counts.used == len(d)
    assert r.stats["informative"] == len(d) - 60
    assert any("N = 1,200 rows" in n and "1,140 informative rows" in n and "6 city" in n for n in res.notes)
    kept = estimate(d[~d["city_code"].isin([f"c{c:03d}" for c in range(6)])], spec.models[0])
    assert kept.equations["y"].params["x"] == pytest.approx(r.params["x"], rel=1e-9)
    assert kept.equations["y"].std_errors["x"] == pytest.approx(r.std_errors["x"], rel=1e-9)


def test_mixed_with_fixed_effects_excludes_groups_at_the_count_bound():
    """Zero-truncated counts equal to 1 in every row of a city make that city's count dummy
    diverge: those rows are excluded and counted; the rest converges to the truth."""
    rng = np.random.default_rng(3)
    n_c, years = 80, np.arange(2011, 2019)
    d = pd.DataFrame([(c, t) for c in range(n_c) for t in years], columns=["city_code", "year"])
    n = len(d)
    d["x1"], d["z1"] = rng.normal(size=(2, n))
    ce = rng.normal(0, 0.3, n_c)[d["city_code"]]
    e = rng.normal(0, 0.6, n)
    d["y"] = 1.0 + 0.5 * d["x1"] + ce + e
    mu = np.exp(1.2 + 0.3 * d["z1"] + ce + 0.5 * e / 0.6)
    d["c"] = rng.negative_binomial(2.5, 2.5 / (2.5 + mu))
    d.loc[d["city_code"] < 3, "c"] = 1
    spec = table_from_dict({**MIXED, "panel": {"unit": "city_code", "time": "year"},
                            "models": [{**MIXED["models"][0], "fixed_effects": ["city", "year"]}]})
    res = estimate(d, spec.models[0], spec.unit, spec.time)
    y, c = res.equations["y"], res.equations["c"]
    counts = c.counts.as_dict()
    assert counts["excluded: c = 1 in every row of a city/year group"] == 24
    assert c.counts.reconciles() and y.counts.as_dict() == counts
    assert res.iterations < 30
    for eq, term, true in ((y, "x1", 0.5), (c, "z1", 0.3)):
        assert abs(eq.params[term] - true) < 2 * eq.std_errors[term], (term, eq.params[term])


def test_pseudo_true_values_over_seeds():
    """synth.montecarlo: per-seed Table 2 (2)(4) estimates on the generator's panel and their
    mean over seeds; in the alpha recovery world the planted values are within the spread."""
    from greenlink.synth.montecarlo import pseudo_true, summarize

    frame = pseudo_true(8_000, [8, 9], profile="recovery_alpha")
    assert list(frame["seed"]) == [8, 8, 9, 9]
    assert set(frame["planted"]) == {0.10, 0.0}
    assert frame["censored_share"].max() < 0.01
    s = summarize(frame).set_index("term")
    a = frame[frame["term"] == "ln_rsi[t-1]"]["coef"]
    assert s.loc["ln_rsi[t-1]", "mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert s.loc["ln_rsi[t-1]", "mc_se"] == pytest.approx(a.std(ddof=1) / np.sqrt(2), rel=1e-12)
    for term in ("ln_rsi[t-1]", "ln_gtr[t-1]"):
        row = frame[frame["term"] == term]
        assert (abs(row["coef"] - row["planted"]) < 2 * row["se"]).all(), row
