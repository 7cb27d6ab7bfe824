"""A small driver-side simulator of the SPEC §7 system for the estimation tests and bench.

simulate_panel(...) -> (panel, truth): a city-year panel with every column the article's
tables use. Controls are exogenous draws (city level + noise, province-year policy indices);
the outcomes follow

    ln_gtr*[t] = alpha * ln_rsi[t-k] + lam'X[t-1] + a_i + v_t + e1
    ln_rsi*[t] = beta  * ln_gtr[t-k] + gam'W[t-1] + m_i + n_t + e2,   corr(e1, e2) = rho

with k = 1 (base system) or k = 0 (contemporaneous, solved jointly). `discrete=False` keeps
the continuous outcomes (ln_gtr = ln_gtr*, so the system holds exactly: recovery tests);
`discrete=True` draws negative-binomial counts gtr, rsi with means exp(y*) and derives the
count columns and their ln(1+x) forms (bench/bench_estimate.py, Table rendering). Years
before `years[0]` are burn-in, dropped from the panel.

Not `synth.montecarlo.simulate_world`: that one draws one world per Table 2/3 column
group (Tobit, two-part, mixed, dynamic) with city effects correlated with the regressors and
no count columns; it shares the planted coefficients below. `synth.system.simulate` is the
generator's world, which the pipeline rebuilds from raw files.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

X_TRUE = {"dc_out": 2.0, "dc_in": 3.0, "bc_gt": -4.0, "ln_app": 0.4, "ln_pgdp": 0.8, "qrate": 10.0,
          "cgl": 0.5, "HSR": 0.06}
W_TRUE = {"DC": 5.0, "BC": -2.5, "er": 0.2, "ln_fdi": 0.1, "fin": -0.01, "ins": 0.006, "ln_app": 0.3,
          "ln_pgdp": 0.6, "qrate": 4.0, "cgl": 0.4, "HSR": 0.05}
UNLAGGED = ("cgl", "HSR")


def _nb(rng, mean, alpha):
    a = 1.0 / alpha
    return rng.negative_binomial(a, a / (a + np.maximum(mean, 1e-12)))


def simulate_panel(n_cities: int = 278, years: tuple[int, int] = (2010, 2020), seed: int = 7,
                   alpha: float = 0.10, beta: float = 0.15, rho: float = 0.3, noise_sd: float = 0.5,
                   contemporaneous: bool = False, discrete: bool = False, burn_in: int = 5,
                   n_provinces: int = 30) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    y0, y1 = years
    all_years = np.arange(y0 - burn_in, y1 + 1)
    T, N = len(all_years), n_cities
    codes = np.array([f"{100000 + 100 * i:06d}" for i in range(N)])
    prov = rng.integers(0, n_provinces, N)
    province_code = np.array([f"{11 + p:02d}0000" for p in prov])
    cgl = (rng.random(N) < 0.13).astype(float)
    hsr_open = rng.integers(y0 - 4, y1 + 6, N)

    def city_series(mean, sd_city, sd_noise, trend=0.0, sd_trend=0.0, lo=None, hi=None):
        base = mean + sd_city * rng.standard_normal(N)
        slope = trend + sd_trend * rng.standard_normal(N)          # city-specific growth
        vals = base[:, None] + slope[:, None] * (all_years - y0)[None, :] + sd_noise * rng.standard_normal((N, T))
        return np.clip(vals, lo, hi)

    ctrl = {
        "dc_out": city_series(0.04, 0.03, 0.01, lo=0), "dc_in": city_series(0.04, 0.03, 0.01, lo=0),
        "bc_gt": city_series(0.003, 0.004, 0.002, lo=0), "DC": city_series(0.016, 0.02, 0.006, lo=0),
        "BC": city_series(0.005, 0.01, 0.004, lo=0), "ln_app": city_series(6.0, 1.4, 0.25, trend=0.12, sd_trend=0.06),
        "ln_pgdp": city_series(4.4, 0.3, 0.15, trend=0.03, sd_trend=0.02), "er": city_series(0.77, 0.1, 0.07, lo=0.02, hi=1.05),
        "ln_fdi": city_series(4.3, 0.7, 0.3, lo=0.4), "fin": city_series(2.7, 1.2, 0.4, lo=0.1),
        "ins": city_series(37.0, 10.0, 3.0, lo=5, hi=84),
    }
    q_prov = 0.995 + 0.003 * rng.standard_normal((n_provinces, T))
    ctrl["qrate"] = q_prov[prov]
    zts_p = np.clip(2.6 + 0.9 * rng.standard_normal((n_provinces, T)), 2.0, 6.0)
    gjs_p = np.clip(2.45 + 0.38 * rng.standard_normal((n_provinces, T)), 1.667, 3.0)
    ctrl["zts"], ctrl["gjs"] = zts_p[prov], gjs_p[prov]
    ctrl["rps"] = ctrl["zts"] * ctrl["gjs"]
    ctrl["cgl"] = np.repeat(cgl[:, None], T, axis=1)
    ctrl["HSR"] = (all_years[None, :] >= hsr_open[:, None]).astype(float)

    a_i, m_i = 0.5 * rng.standard_normal(N), 0.5 * rng.standard_normal(N)
    v_t, n_t = 0.05 * (all_years - y0), 0.04 * (all_years - y0)
    cov = noise_sd**2 * np.array([[1.0, rho], [rho, 1.0]])
    lg, lr = np.zeros((N, T)), np.zeros((N, T))          # observed ln_gtr, ln_rsi
    gtr, rsi = np.zeros((N, T)), np.zeros((N, T))
    x_idx = {k: (0 if k in UNLAGGED else 1) for k in X_TRUE}
    w_idx = {k: (0 if k in UNLAGGED else 1) for k in W_TRUE}
    # intercepts put ln_gtr* and ln_rsi* near the article's scale (means of 1-2)
    c1, c2 = -15.4, -9.0
    lg[:, 0] = 1.0 + 0.5 * rng.standard_normal(N)
    lr[:, 0] = 1.5 + 0.5 * rng.standard_normal(N)
    for t in range(1, T):
        e = rng.multivariate_normal([0, 0], cov, N)
        r1 = c1 + a_i + v_t[t] + e[:, 0] + sum(b * ctrl[k][:, t - x_idx[k]] for k, b in X_TRUE.items())
        r2 = c2 + m_i + n_t[t] + e[:, 1] + sum(b * ctrl[k][:, t - w_idx[k]] for k, b in W_TRUE.items())
        if contemporaneous:
            det = 1 - alpha * beta
            ys1 = (r1 + alpha * r2) / det
            ys2 = (r2 + beta * r1) / det
        else:
            ys1 = r1 + alpha * lr[:, t - 1]
            ys2 = r2 + beta * lg[:, t - 1]
        if discrete:
            gtr[:, t] = _nb(rng, np.exp(ys1), 0.3)
            rsi[:, t] = _nb(rng, np.exp(ys2), 0.3)
            lg[:, t], lr[:, t] = np.log1p(gtr[:, t]), np.log1p(rsi[:, t])
        else:
            lg[:, t], lr[:, t] = ys1, ys2
    keep = all_years >= y0
    yrs = all_years[keep]
    frame = {"city_code": np.repeat(codes, keep.sum()), "year": np.tile(yrs, N),
             "province_code": np.repeat(province_code, keep.sum())}
    for k, v in ctrl.items():
        frame[k] = v[:, keep].ravel()
    frame["ln_gtr"], frame["ln_rsi"] = lg[:, keep].ravel(), lr[:, keep].ravel()
    panel = pd.DataFrame(frame)
    if discrete:
        g, r = gtr[:, keep].ravel().astype(int), rsi[:, keep].ravel().astype(int)
        ex = np.where(r > 0, np.minimum(1 + rng.binomial(np.maximum(r - 1, 0), 0.35), N - 1), 0)
        local = rng.binomial(g, 0.6)
        ex_gt = np.where(g > 0, 1 + rng.binomial(np.maximum(g - 1, 0), 0.3), 0)
        panel = panel.assign(
            gtr=g, rsi=r, ex=ex, **{"in": np.where(ex > 0, r / np.maximum(ex, 1), 0.0)},
            gtr_local=local, gtr_other=g - local, ex_gt=ex_gt, in_gt=np.where(ex_gt > 0, g / np.maximum(ex_gt, 1), 0.0),
            rsi_ip=rng.binomial(r, 0.45), gtr_ip=local + rng.binomial(g - local, 0.4),
            app=np.round(np.expm1(panel["ln_app"])).astype(int))
        for col in ("ex", "in", "gtr_local", "gtr_other", "ex_gt", "in_gt", "rsi_ip", "gtr_ip"):
            panel[f"ln_{col}"] = np.log1p(panel[col])
        panel["ln_app"] = np.log1p(panel["app"])
    truth = {"alpha": alpha, "beta": beta, "X": dict(X_TRUE), "W": dict(W_TRUE), "rho": rho, "noise_sd": noise_sd}
    return panel, truth
