"""The estimation tests' panel simulator (`greenlink.synth.estimation_panel`): shapes, the
exact system without noise, consistent count columns."""
from __future__ import annotations

import numpy as np

from greenlink.synth.estimation_panel import UNLAGGED, simulate_panel


def test_simulator_shapes_and_exact_system():
    panel, truth = simulate_panel(n_cities=20, seed=3, noise_sd=0.0)
    assert len(panel) == 20 * 11 and panel["year"].min() == 2010 and panel["year"].max() == 2020
    assert not panel.duplicated(["city_code", "year"]).any()
    # without noise the first equation holds exactly up to city and year effects
    p = panel.sort_values(["city_code", "year"]).copy()
    lag = p.groupby("city_code")[["ln_rsi"] + [k for k in truth["X"] if k not in UNLAGGED]].shift(1)
    fitted = truth["alpha"] * lag["ln_rsi"] + sum(b * (p[k] if k in UNLAGGED else lag[k]) for k, b in truth["X"].items())
    resid = (p["ln_gtr"] - fitted).dropna()
    city = p.loc[resid.index, "city_code"]
    year = p.loc[resid.index, "year"]
    # resid = c1 + a_i + v_t: removing city means leaves a pure year pattern common to all cities
    within = resid - resid.groupby(city.values).transform("mean")
    by_year = within.groupby(year.values).transform("mean")
    assert np.allclose(within, by_year, atol=1e-9)


def test_simulator_discrete_columns_consistent():
    panel, _ = simulate_panel(n_cities=15, seed=5, discrete=True)
    assert (panel["gtr_local"] + panel["gtr_other"] == panel["gtr"]).all()
    assert ((panel["ex"] > 0) == (panel["rsi"] > 0)).all()
    assert np.allclose(panel["ln_rsi"], np.log1p(panel["rsi"]))
    assert (panel["gtr_ip"] <= panel["gtr"]).all() and (panel["rsi_ip"] <= panel["rsi"]).all()
