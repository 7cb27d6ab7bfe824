"""The city-year world on the driver: the SPEC §7 system, year by year.

`simulate(seed, n_patents)` builds everything the patent records must realise, city by
city and year by year (338 cities × 2010–2020, plus burn-in years), in named steps:

1. `cities.build_cities`: sizes (rank-size curve ordered by a prominence score), the sample
   (all cities but `n_degraded` that get heavy control gaps and are dropped by the sample
   rule), administrative level, HSR years; `regressors`: controls as the yearbook will print
   them, province IP statistics, the policy plan.
2. `allocate_app`: `app` — located, accepted applications per city-year — from the sizes.
3. The fixed parts of the system: `city_arrays` (gravity, local transfer shares),
   `draw_effects` (city and year effects), `scale_shifts`, `regressor_arrays`, `er_arrays`.
4. For each year t, `latent_intensities` of both equations of SPEC §7,

       y_gtr[t] = c_g + s + α·ln_rsi[t-1] + λ·X[t-1] + μ_g,i + τ_g,t + ε
       y_rsi[t] = c_r + s + β·ln_gtr[t-1] + γ·W[t-1] + μ_r,i + τ_r,t + e

   (X, W as in SPEC §7, cgl and HSR not lagged, s = scale shift for smaller worlds), realised
   as integer counts by stochastic rounding in log space (`realised_targets`: E[ln(1+count)]
   = y whenever y ≥ 0); then `realise.year_units`: collaboration city pairs by
   gravity-weighted matching with exactly those strengths (a few pair-units merged into
   3-city patents), transfers by a local share and a gravity multinomial; the realised
   networks (`realise.sample_metrics`) give next year's lagged regressors (`lagged_network`).
5. `settle_app` (room for anchor patents, exact total), `_panel`, `_structural`.

The result carries the panel the pipeline should rebuild (network variables from the
realised units, `app`, controls), the units that become patents and transfers, and the
structural parameters.

Draw order: every step draws from its own named stream (`rng.stream(seed, name)`), except the
year loop, which shares the "errors" and "networks" streams across steps and years: the order
of the calls in `simulate` is part of every generated world (same seed, same bytes).
That is also why the steps stay in this one module, a little over 400 lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenlink.synth import params as gparams, realise
from greenlink.synth.cities import build_cities, gravity
from greenlink.synth.realise import NETWORK_VARS
from greenlink.synth.regressors import (ENV_COLUMNS, build_controls, build_policy_plan, build_province_year,
                                        env_entropy, policy_synergy)
from greenlink.synth.rng import stream

# Defect kinds whose patent a correct pipeline does not count in `app` (rejected, or first
# applicant unlocatable); the others leave every count unchanged.
REMOVES_FROM_APP = ("no_parseable_ipc", "bad_application_date", "bad_grant_date", "unknown_patent_type",
                    "missing_application_no", "no_applicant", "malformed_row", "foreign_address",
                    "noncity_address")
LAGGED = ("ln_rsi", "ln_gtr", "DC", "BC", "dc_out", "dc_in", "bc_gt")   # network regressors of t-1


@dataclass
class World:
    """Everything city-level the generator realises (see module docstring)."""

    seed: int
    n_patents: int
    params: dict[str, Any]
    cities: pd.DataFrame          # 338 cities: sizes, sample flag, level, cgl, hsr_year
    controls: pd.DataFrame        # city × year (2010–2020), values as printed (ungapped)
    province_year: pd.DataFrame   # province_code, year, grants, disputes, qrate
    policy_plan: pd.DataFrame     # province_code, year, policy_no, n_agencies, tool_types
    app: pd.DataFrame             # city_code, year, app (all 338 cities, 2010–2020)
    collab_units: pd.DataFrame    # unit_id, year, c1, c2, c3, first_city, counted
    transfer_units: pd.DataFrame  # unit_id, year, src, dst, app_year, counted
    panel: pd.DataFrame           # sample city × year: SPEC §4–§6 variables, latent targets
    structural: dict[str, Any]
    defect_counts: dict[str, int] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        a, b = self.params["years"]
        return list(range(a, b + 1))


def defect_counts(n_patents: int, rate: float, weights: dict[str, float]) -> dict[str, int]:
    """Number of patents carrying each defect kind (largest-remainder rounding)."""
    total = n_patents * rate
    keys = sorted(weights)
    w = np.array([weights[k] for k in keys], dtype=float)
    return dict(zip(keys, _largest_remainder(total * w / w.sum(), int(round(total)))))


def _largest_remainder(x: np.ndarray, total: int) -> list[int]:
    x = np.asarray(x, dtype=float)
    base = np.floor(x).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        order = np.argsort(-(x - base), kind="stable")
        base[order[:short]] += 1
    return base.tolist()


def log_round(y: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Integer k ≥ 0 with E[ln(1+k)] = y for y ≥ 0 (k = 0 for y ≤ 0): between the two integers
    around e^y − 1, the upper one with the probability that makes the log mean exact."""
    y = np.maximum(np.asarray(y, dtype=float), 0.0)
    lo = np.floor(np.expm1(y))
    a, b = np.log1p(lo), np.log1p(lo + 1)
    p = np.clip((y - a) / (b - a), 0.0, 1.0)
    return (lo + (u < p)).astype(np.int64)


# --- the fixed parts of the system ------------------------------------------------------------
@dataclass(frozen=True)
class CityArrays:
    """Per-city arrays of the year loop (index = row of `cities`)."""

    codes: np.ndarray
    size: np.ndarray
    sample: np.ndarray          # bool: in the panel's sample
    s_idx: np.ndarray           # indices of the sample cities
    cgl: np.ndarray
    hsr_year: np.ndarray        # -1: no high-speed rail
    g_col: np.ndarray           # collaboration gravity, zero diagonal
    g_tr: np.ndarray            # transfer gravity
    local_share: np.ndarray     # share of a city's transfers that stay in the city


def city_arrays(seed: int, cities: pd.DataFrame, net: dict[str, Any]) -> CityArrays:
    """The per-city arrays; draws the local transfer shares (stream "local-share")."""
    sample = cities["sample"].to_numpy()
    g_col = gravity(cities, net["collab_distance_km"], net["collab_same_province"])
    np.fill_diagonal(g_col, 0.0)
    lo, hi = net["transfer_local_share_bounds"]
    noise = stream(seed, "local-share").normal(0, net["transfer_local_share_sd"], len(cities))
    return CityArrays(codes=cities["city_code"].to_numpy(), size=cities["size"].to_numpy(), sample=sample,
                      s_idx=np.flatnonzero(sample), cgl=cities["cgl"].to_numpy(),
                      hsr_year=cities["hsr_year"].to_numpy(), g_col=g_col,
                      g_tr=gravity(cities, net["transfer_distance_km"], net["transfer_same_province"]),
                      local_share=np.clip(net["transfer_local_share"] + noise, lo, hi))


def allocate_app(seed: int, pp: dict[str, Any], size: np.ndarray, sim_years: list[int], y0: int,
                 n_loc: int) -> tuple[np.ndarray, np.ndarray]:
    """Located accepted applications per city × simulated year from sizes, growth and noise
    (stream "app"), the study years summing to exactly `n_loc` (largest remainder); and the
    mask of the study years among the simulated ones."""
    rng = stream(seed, "app")
    n = len(size)
    t_rel = np.array(sim_years) - y0
    raw = size[:, None] * np.exp(pp["year_growth"] * t_rel[None, :] + rng.normal(0, pp["city_year_noise_sd"],
                                                                                    (n, len(sim_years))))
    in_years = np.array([y >= y0 for y in sim_years])
    scale = n_loc / raw[:, in_years].sum()
    app = np.round(raw * scale).astype(np.int64)
    flat = _largest_remainder((raw[:, in_years] * scale).ravel(), n_loc)
    app[:, in_years] = np.array(flat, dtype=np.int64).reshape(n, in_years.sum())
    return app, in_years


@dataclass(frozen=True)
class Effects:
    """City effects μ (per city) and year effects τ (per simulated year) of both equations."""

    mu_g: np.ndarray
    mu_r: np.ndarray
    tau_g: dict[int, float]
    tau_r: dict[int, float]


def draw_effects(seed: int, sp: dict[str, Any], n: int, sim_years: list[int], y0: int) -> Effects:
    """City effects, then year effects (trend · (t − y0) + noise), from stream "effects"."""
    rng = stream(seed, "effects")
    mu_g = rng.normal(0, sp["city_effect_sd"]["gtr"], n)
    mu_r = rng.normal(0, sp["city_effect_sd"]["rsi"], n)
    tau_g = {y: sp["year_trend"]["gtr"] * (y - y0) + rng.normal(0, sp["year_effect_sd"]["gtr"]) for y in sim_years}
    tau_r = {y: sp["year_trend"]["rsi"] * (y - y0) + rng.normal(0, sp["year_effect_sd"]["rsi"]) for y in sim_years}
    return Effects(mu_g, mu_r, tau_g, tau_r)


def scale_shifts(p: dict[str, Any], n_patents: int) -> dict[str, float]:
    """Intercept shifts {gtr, rsi} of a world of `n_patents`: counts scale as
    (N / N_full) ** exponent; ln_app already carries ln N with its coefficient, the shift the
    rest; the feedback terms (lagged intensities, centralities) that vanish in a sparse world
    are compensated by small_world_compensation · |ln k| (tuned so totals stay ∝ N;
    docs/generator.md); intensity_boost multiplies further."""
    net, sp = p["network"], p["system"]
    ln_k = np.log(n_patents / p["full_scale_patents"])
    comp = {k: v * abs(ln_k) + np.log(net["intensity_boost"]) for k, v in net["small_world_compensation"].items()}
    return {"gtr": (net["intensity_exponent"] - sp["lambda"]["ln_app"]) * ln_k + comp["gtr"],
            "rsi": (net["intensity_exponent"] - sp["gamma"]["ln_app"]) * ln_k + comp["rsi"]}


def regressor_arrays(controls_all: pd.DataFrame, prov_year: pd.DataFrame, cities: pd.DataFrame,
                     sim_years: list[int]) -> dict[str, np.ndarray]:
    """ln_pgdp, ln_fdi, fin, ins and qrate per city × simulated year, as the pipeline computes
    them from the files."""
    codes = cities["city_code"].to_numpy()
    ca = controls_all.set_index(["city_code", "year"]).reindex(
        pd.MultiIndex.from_product([codes, sim_years])).reset_index(drop=True)
    shape = (len(codes), len(sim_years))
    qr = prov_year.set_index(["province_code", "year"])["qrate"]
    return {"ln_pgdp": np.log(ca["pgdp"].to_numpy()).reshape(shape),
            "ln_fdi": np.log1p(ca["fdi"].to_numpy()).reshape(shape),
            "fin": (ca["deposits_loans"] / ca["gdp"]).to_numpy().reshape(shape),
            "ins": ca["ins"].to_numpy().reshape(shape),
            "qrate": np.array([[qr[(pc, y)] for y in sim_years] for pc in cities["province_code"].to_numpy()])}


def er_arrays(controls_all: pd.DataFrame, cities: pd.DataFrame, years: list[int],
              sim_years: list[int]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """SPEC §5 er from the ungapped indicators of the sample in the study years: the sample's
    indicator rows with `er`, the entropy weights, and er per city × simulated year (0 where
    there is none), for the panel and the γ_er term."""
    codes = cities["city_code"].to_numpy()
    env = controls_all[controls_all["year"].isin(years) & controls_all["city_code"].isin(codes[cities["sample"].to_numpy()])]
    er, er_w = env_entropy(env[list(ENV_COLUMNS)].to_numpy(dtype=float))
    env = env.assign(er=er)
    er_arr = np.zeros((len(codes), len(sim_years)))
    for y in years:
        er_arr[:, sim_years.index(y)] = env[env["year"] == y].set_index("city_code")["er"].reindex(codes) \
            .fillna(0).to_numpy()
    return env, er_w, er_arr


# --- one year -------------------------------------------------------------------------------------
def latent_intensities(sp: dict[str, Any], shift: dict[str, float], fx: Effects, x: dict[str, np.ndarray],
                       prev: dict[str, np.ndarray], ln_app: np.ndarray, ca: CityArrays, y: int, kl: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Latent y*_gtr, y*_rsi of year y for every city (SPEC §7): the lagged realised network
    variables `prev`, ln_app and the regressors `x` at year index kl (t − 1), cgl and HSR of
    year y; draws the gtr errors, then the rsi errors."""
    n = len(ca.codes)
    hsr = (ca.hsr_year >= 0) & (ca.hsr_year <= y)
    lam, gam = sp["lambda"], sp["gamma"]
    y_g = (sp["intercept"]["gtr"] + shift["gtr"] + sp["alpha"] * prev["ln_rsi"]
           + lam["dc_out"] * prev["dc_out"] + lam["dc_in"] * prev["dc_in"] + lam["bc_gt"] * prev["bc_gt"]
           + lam["ln_app"] * ln_app + lam["ln_pgdp"] * x["ln_pgdp"][:, kl] + lam["qrate"] * x["qrate"][:, kl]
           + lam["cgl"] * ca.cgl + lam["HSR"] * hsr + fx.mu_g + fx.tau_g[y] + rng.normal(0, sp["error_sd"]["gtr"], n))
    y_r = (sp["intercept"]["rsi"] + shift["rsi"] + sp["beta"] * prev["ln_gtr"]
           + gam["DC"] * prev["DC"] + gam["BC"] * prev["BC"] + gam["er"] * x["er"][:, kl]
           + gam["ln_fdi"] * x["ln_fdi"][:, kl] + gam["fin"] * x["fin"][:, kl] + gam["ins"] * x["ins"][:, kl]
           + gam["ln_app"] * ln_app + gam["ln_pgdp"] * x["ln_pgdp"][:, kl] + gam["qrate"] * x["qrate"][:, kl]
           + gam["cgl"] * ca.cgl + gam["HSR"] * hsr + fx.mu_r + fx.tau_r[y] + rng.normal(0, sp["error_sd"]["rsi"], n))
    return y_g, y_r


def realised_targets(y_g: np.ndarray, y_r: np.ndarray, s_idx: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Integer targets of the sample cities by log-space stochastic rounding (`log_round`):
    transfers out (gtr) and collaboration strength (rsi, with an even total: an odd total
    leaves one stub, given to the largest)."""
    u = rng.random((2, len(y_g)))
    gtr_t = log_round(y_g, u[0])[s_idx]
    rsi_t = log_round(y_r, u[1])[s_idx]
    if rsi_t.sum() % 2:
        rsi_t[int(np.argmax(rsi_t))] += 1
    return gtr_t, rsi_t


def lagged_network(m: pd.DataFrame, s_idx: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Next year's lagged network regressors for every city (0 outside the sample) from this
    year's realised sample metrics `m`."""
    vals = {key: np.zeros(n) for key in NETWORK_VARS}
    for key in vals:
        vals[key][s_idx] = m[key].to_numpy()
    return {"ln_rsi": np.log1p(vals["rsi"]), "ln_gtr": np.log1p(vals["gtr"]), "DC": vals["DC"],
            "BC": vals["BC"], "dc_out": vals["dc_out"], "dc_in": vals["dc_in"], "bc_gt": vals["bc_gt"]}


def settle_app(app: np.ndarray, used: np.ndarray, in_years: np.ndarray, k_last: int, n_loc: int) -> np.ndarray:
    """Final app: every city with organisations active in units keeps room for one anchor
    patent; the study-year total stays `n_loc` by taking the excess from the last year (its
    app is no one's regressor)."""
    app = app.copy()
    room_total = (app[:, in_years] - used[:, in_years]).sum(axis=1)
    app[room_total == 0, k_last] += 1
    excess = int(app[:, in_years].sum() - n_loc)
    while excess > 0:
        room = app[:, k_last] - used[:, k_last] - 1
        i = int(np.argmax(room))
        take = min(excess, int(room[i]))
        if take <= 0:
            break
        app[i, k_last] -= take
        excess -= take
    return app


# --- the simulation ----------------------------------------------------------------------------
def simulate(seed: int, n_patents: int = 8_600_000, params: dict[str, Any] | None = None,
             defect_rate: float | None = None) -> World:
    """The city-year world for a patent world of `n_patents` (see module docstring).

    Returns a World whose `panel` holds, per sample city and year 2010–2020, every SPEC §4
    network variable computed from the realised units, `app`, the controls (SPEC §5), the
    policy synergy (SPEC §6), their ln forms, and the latent targets `ystar_rsi`, `ystar_gtr`;
    `structural` holds α, β, λ, γ, intercepts, the scale shift, effects and error scales."""
    p = params if params is not None else gparams.load()
    rate = p["defects"]["rate"] if defect_rate is None else defect_rate
    sp, net = p["system"], p["network"]
    y0, y1 = p["years"]
    years = list(range(y0, y1 + 1))
    sim_years = list(range(y0 - p["burn_in_years"], y1 + 1))
    yidx = {y: k for k, y in enumerate(sim_years)}
    cities = build_cities(seed, p)
    n_all = len(cities)
    controls_all = build_controls(seed, p, cities, sim_years)
    prov_year = build_province_year(seed, p, cities, sim_years)
    policy_plan = build_policy_plan(seed, p, cities, years)
    dc = defect_counts(n_patents, rate, p["defects"]["weights"])
    n_loc = n_patents - sum(dc[k] for k in REMOVES_FROM_APP if k in dc)
    app, in_years = allocate_app(seed, p["patents"], cities["size"].to_numpy(), sim_years, y0, n_loc)
    ca = city_arrays(seed, cities, net)
    fx = draw_effects(seed, sp, n_all, sim_years, y0)
    shift = scale_shifts(p, n_patents)
    x = regressor_arrays(controls_all, prov_year, cities, sim_years)
    env, er_w, x["er"] = er_arrays(controls_all, cities, years, sim_years)
    sample_cities = cities.loc[ca.sample, ["city_code", "province_code"]].reset_index(drop=True)

    rng_e, rng_net = stream(seed, "errors"), stream(seed, "networks")
    used = np.zeros_like(app)           # applications behind units, per city × simulated year
    prev = {key: np.zeros(n_all) for key in LAGGED}
    collab_units, transfer_units, metrics, latent = [], [], [], []
    for y in sim_years:
        k = yidx[y]
        kl = max(k - 1, 0)
        y_g, y_r = latent_intensities(sp, shift, fx, x, prev, np.log1p(app[:, kl].astype(float)), ca, y, kl, rng_e)
        gtr_t, rsi_t = realised_targets(y_g, y_r, ca.s_idx, rng_net)
        cu, tu = realise.year_units(gtr_t, rsi_t, ca.s_idx, ca.size, ca.g_col, ca.g_tr, ca.local_share, net, rng_net)
        m = realise.sample_metrics(cu, tu, ca.codes, ca.sample, sample_cities)
        prev = lagged_network(m, ca.s_idx, n_all)
        if y < y0:
            continue
        # patents behind the units: first applicant city of co-patents, application year of transfers
        first = realise.first_applicant_cities(cu, ca.size, rng_net)
        np.add.at(used[:, k], first, 1)
        collab_units.append(pd.DataFrame({
            "year": y, "c1": ca.codes[cu[:, 0]], "c2": ca.codes[cu[:, 1]],
            "c3": np.where(cu[:, 2] >= 0, ca.codes[np.maximum(cu[:, 2], 0)], None),
            "first_city": ca.codes[first], "counted": cu[:, 3].astype(bool)}))
        app_years, used = realise.transfer_app_years(tu, y, y0, app, used, yidx, net["transfer_lag_weights"], rng_net)
        transfer_units.append(pd.DataFrame({"year": y, "src": ca.codes[tu[:, 0]], "dst": ca.codes[tu[:, 1]],
                                            "app_year": app_years, "counted": tu[:, 2].astype(bool)}))
        app[:, k] = np.maximum(app[:, k], used[:, k])       # bump (rare): this year's app is final now
        mm = m.copy()
        mm.insert(1, "year", y)
        metrics.append(mm)
        latent.append(pd.DataFrame({"city_code": ca.codes[ca.s_idx], "year": y, "ystar_rsi": y_r[ca.s_idx],
                                    "ystar_gtr": y_g[ca.s_idx]}))

    app = settle_app(app, used, in_years, yidx[y1], n_loc)
    app_df = pd.DataFrame({"city_code": np.repeat(ca.codes, len(years)), "year": np.tile(years, n_all),
                           "app": app[:, in_years].ravel()})
    cu_df = pd.concat(collab_units, ignore_index=True)
    cu_df.insert(0, "unit_id", np.arange(len(cu_df), dtype=np.int64))
    tu_df = pd.concat(transfer_units, ignore_index=True)
    tu_df.insert(0, "unit_id", np.arange(len(tu_df), dtype=np.int64))
    panel = _panel(pd.concat(metrics, ignore_index=True), pd.concat(latent, ignore_index=True), app_df,
                   controls_all, env, prov_year, policy_plan, cities)
    return World(seed=seed, n_patents=n_patents, params=p, cities=cities,
                 controls=controls_all[controls_all["year"].isin(years)].reset_index(drop=True),
                 province_year=prov_year[prov_year["year"].isin(years)].reset_index(drop=True),
                 policy_plan=policy_plan, app=app_df, collab_units=cu_df, transfer_units=tu_df, panel=panel,
                 structural=_structural(seed, n_patents, sp, shift, fx, er_w, ca, years), defect_counts=dc)


def _structural(seed: int, n_patents: int, sp: dict[str, Any], shift: dict[str, float], fx: Effects,
                er_w: np.ndarray, ca: CityArrays, years: list[int]) -> dict[str, Any]:
    """The planted parameters and draws (truth/structural.json)."""
    codes = ca.codes
    return {
        "alpha": sp["alpha"], "beta": sp["beta"], "lambda": sp["lambda"], "gamma": sp["gamma"],
        "intercept": sp["intercept"], "scale_shift": {"gtr": float(shift["gtr"]), "rsi": float(shift["rsi"])},
        "error_sd": sp["error_sd"], "city_effect_sd": sp["city_effect_sd"], "year_trend": sp["year_trend"],
        "year_effects": {"gtr": {str(y): float(fx.tau_g[y]) for y in years},
                         "rsi": {str(y): float(fx.tau_r[y]) for y in years}},
        "city_effects": {"gtr": dict(zip(codes.tolist(), map(float, fx.mu_g))),
                         "rsi": dict(zip(codes.tolist(), map(float, fx.mu_r)))},
        "er_weights": dict(zip(ENV_COLUMNS, map(float, er_w))),
        "realisation": "counts = log-space stochastic rounding of exp(y*) - 1 (E[ln(1+count)] = y* for y* >= 0)",
        "degraded_cities": sorted(codes[~ca.sample].tolist()),
        "sample_size": int(len(ca.s_idx)),
        "n_patents": int(n_patents), "seed": int(seed),
    }


def _panel(metrics: pd.DataFrame, latent: pd.DataFrame, app: pd.DataFrame, controls: pd.DataFrame,
           env: pd.DataFrame, prov_year: pd.DataFrame, policy_plan: pd.DataFrame,
           cities: pd.DataFrame) -> pd.DataFrame:
    d = metrics.merge(app, on=["city_code", "year"]).merge(latent, on=["city_code", "year"])
    c = controls.copy()
    c["ln_pgdp"] = np.log(c["pgdp"])
    c["ln_fdi"] = np.log1p(c["fdi"])
    c["fin"] = c["deposits_loans"] / c["gdp"]
    d = d.merge(c[["city_code", "year", "ln_pgdp", "ln_fdi", "fin", "ins"]], on=["city_code", "year"])
    d = d.merge(env[["city_code", "year", "er"]], on=["city_code", "year"])
    attrs = cities[["city_code", "province_code", "cgl", "hsr_year"]]
    d = d.merge(attrs, on="city_code")
    d["HSR"] = ((d["hsr_year"] >= 0) & (d["hsr_year"] <= d["year"])).astype(int)
    d = d.merge(prov_year[["province_code", "year", "qrate"]], on=["province_code", "year"])
    d = d.merge(policy_synergy(policy_plan)[["province_code", "year", "zts", "gjs", "rps"]],
                on=["province_code", "year"], how="left")
    for v in ("rsi", "gtr", "ex", "in", "app", "gtr_local", "gtr_other", "ex_gt", "in_gt", "rsi_ip", "gtr_ip"):
        d[f"ln_{v}"] = np.log1p(d[v])
    return d.drop(columns=["hsr_year"]).sort_values(["city_code", "year"]).reset_index(drop=True)
