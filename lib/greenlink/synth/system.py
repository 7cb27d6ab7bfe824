"""The city-year world on the driver: sizes, controls and the SPEC §7 system.

`simulate(seed, n_patents)` builds everything the patent records must realise, city by
city and year by year (338 cities × 2010–2020, plus burn-in years):

1. City sizes (rank-size curve ordered by a prominence score), the sample (all cities but
   `n_degraded` that get heavy control gaps and are dropped by the sample rule), controls
   as the yearbook will print them, province IP statistics, HSR years, administrative level.
2. `app` — located, accepted applications per city-year — allocated from the sizes.
3. For each year t, latent intensities of both equations of SPEC §7,

       y_gtr[t] = c_g + s + α·ln_rsi[t-1] + λ·X[t-1] + μ_g,i + τ_g,t + ε
       y_rsi[t] = c_r + s + β·ln_gtr[t-1] + γ·W[t-1] + μ_r,i + τ_r,t + e

   (X, W as in SPEC §7, cgl and HSR not lagged, s = scale shift for smaller worlds), realised
   as integer counts by stochastic rounding in log space (so E[ln(1+count)] = y whenever
   y ≥ 0); then collaboration city pairs by gravity-weighted matching with exactly those
   strengths (a few pair-units merged into 3-city patents), transfers by a local share and
   a gravity multinomial; the realised networks give next year's lagged regressors.

The result carries the panel the pipeline should rebuild (network variables from the
realised units, `app`, controls), the units that become patents and transfers, and the
structural parameters.

Over 400 lines on purpose: `simulate` draws every city-year quantity from one seeded stream in
a fixed order; moving steps apart would make the draw order (and so every generated world)
harder to keep stable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from greenlink.core.config import conf_file, load_yaml
from greenlink.reference import gazetteer
from greenlink.synth import netmetrics, params as gparams
from greenlink.synth.rng import stream

# Defect kinds whose patent a correct pipeline does not count in `app` (rejected, or first
# applicant unlocatable); the others leave every count unchanged.
REMOVES_FROM_APP = ("no_parseable_ipc", "bad_application_date", "bad_grant_date", "unknown_patent_type",
                    "missing_application_no", "no_applicant", "malformed_row", "foreign_address",
                    "noncity_address")
ENV_COLUMNS = ("so2", "cod", "solid", "sewage", "garbage")


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


def _distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    dlo = lo[:, None] - lo[None, :]
    dla = la[:, None] - la[None, :]
    h = np.sin(dla / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlo / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


# --- cities ---------------------------------------------------------------------------------
def build_cities(seed: int, p: dict[str, Any]) -> pd.DataFrame:
    cc = p["cities"]
    c = gazetteer.cities().copy()
    lists = load_yaml(conf_file("cities.yaml"))
    rng = stream(seed, "cities")
    sub, cap = set(lists["sub_provincial"]), set(lists["provincial_capitals"])
    level = np.where(c["is_municipality"], "直辖市",
                     np.where(c["city_name"].isin(sub), "副省级城市",
                              np.where(c["city_name"].isin(cap), "省会城市",
                                       np.where(c["city_name"].str.endswith("自治州"), "自治州",
                                                np.where(c["city_name"].str.endswith("地区"), "地区",
                                                         np.where(c["city_name"].str.endswith("盟"), "盟", "地级市"))))))
    c["admin_level"] = level
    c["cgl"] = np.isin(level, lists["cgl_levels"]).astype(int)
    pr = cc["prominence"]
    score = np.select([level == "直辖市", level == "副省级城市", level == "省会城市"],
                      [pr["municipality"], pr["sub_provincial"], pr["provincial_capital"]], 0.0)
    score = score + c["province_code"].str[:2].map(lambda k: cc["province_bonus"].get(k, 0.0)).to_numpy()
    score = score + rng.normal(0, pr["noise_sd"], len(c))
    n = len(c)
    rank = np.empty(n, dtype=int)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, n + 1)
    size = np.exp(cc["size_sigma"] * ndtri(1 - (rank - 0.5) / n))
    c["size_rank"] = rank
    c["size"] = size / size.sum()
    # degraded cities (heavy control gaps): autonomous prefectures, 地区, 盟 first, then the smallest
    pattern = c["city_name"].str.contains(cc["degraded_name_pattern"].replace("(", "(?:"))
    order = c.assign(_p=~pattern).sort_values(["_p", "size"], ascending=[True, True], kind="stable")
    degraded = set(order["city_code"].head(cc["n_degraded"]))
    c["sample"] = ~c["city_code"].isin(degraded)
    # high-speed rail: big cities early, many small cities none by 2020
    hp = p["controls"]["hsr_open_prob"]
    q = c["size_rank"] / n
    prob = np.where(q < 0.25, hp["top"], np.where(q < 0.6, hp["mid"], hp["low"]))
    opened = rng.random(n) < prob
    year = 2008 + np.floor(rng.beta(1.4 + 3 * q, 1.8, n) * 13).astype(int)
    c["hsr_year"] = np.where(opened, np.minimum(year, 2020), -1)
    return c.reset_index(drop=True)


def _env_entropy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SPEC §5 range entropy over all rows: (er per row, weights)."""
    mn, mx = x.min(axis=0), x.max(axis=0)
    xs = (x - mn) / np.where(mx > mn, mx - mn, 1.0)
    n = x.shape[0]
    pj = xs / np.where(xs.sum(axis=0) > 0, xs.sum(axis=0), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(pj > 0, pj * np.log(pj), 0.0)
    e = -plogp.sum(axis=0) / np.log(n)
    d = 1 - e
    w = d / d.sum()
    return xs @ w, w


def build_controls(seed: int, p: dict[str, Any], cities: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Yearbook values as printed (rounded like the yearbook), ungapped."""
    cp = p["controls"]
    rng = stream(seed, "controls")
    n, T = len(cities), len(years)
    rel = np.log(cities["size"].to_numpy() / np.median(cities["size"]))
    t = np.array(years) - 2010
    city_pg = rng.normal(0, cp["pgdp_sd"], n)
    lpg = cp["pgdp_2010_log_mean"] + cp["pgdp_size_elasticity"] * rel[:, None] + city_pg[:, None] \
        + cp["pgdp_growth"] * t[None, :] + rng.normal(0, 0.03, (n, T))
    pgdp = np.round(np.exp(lpg))
    pop = np.exp(np.log(3.5e6) + 0.35 * rel + rng.normal(0, 0.3, n))          # residents
    gdp = np.round(pgdp * pop[:, None] / 1e4)                                    # 万元
    fdi = np.round(np.exp(cp["fdi_log_mean"] + cp["fdi_size_elasticity"] * rel[:, None]
                          + rng.normal(0, cp["fdi_sd"], n)[:, None] + 0.04 * t[None, :]
                          + rng.normal(0, 0.25, (n, T))), 1)
    fin = np.clip(rng.normal(cp["fin_mean"], cp["fin_sd"], n)[:, None] + 0.04 * t[None, :]
                  + rng.normal(0, 0.12, (n, T)), 0.6, None)
    dl = np.round(fin * gdp)
    ins = np.round(np.clip(rng.normal(cp["ins_mean"], cp["ins_sd"], n)[:, None] + cp["ins_trend"] * t[None, :]
                           + rng.normal(0, 1.0, (n, T)), 12, 85), 2)
    out = {"city_code": np.repeat(cities["city_code"].to_numpy(), T), "year": np.tile(years, n),
           "pgdp": pgdp.ravel(), "fdi": fdi.ravel(), "deposits_loans": dl.ravel(), "gdp": gdp.ravel(),
           "ins": ins.ravel()}
    for k in ENV_COLUMNS:
        v = np.clip(cp["env_means"][k] + rng.normal(0, cp["env_sd"], n)[:, None] + cp["env_trend"] * t[None, :]
                    + rng.normal(0, 2.5, (n, T)), 5, 100)
        out[k] = np.round(v, 2).ravel()
    return pd.DataFrame(out)


def build_province_year(seed: int, p: dict[str, Any], cities: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Provincial IP office statistics: patents granted and infringement disputes handled."""
    cp = p["controls"]
    rng = stream(seed, "province-ip")
    prov = cities.groupby("province_code")["size"].sum()
    rows = []
    for code, share in prov.items():
        for y in years:
            grants = int(round(800_000 * np.exp(0.16 * (y - 2010)) * share * np.exp(rng.normal(0, 0.08))))
            ratio = abs(rng.normal(cp["qrate_ratio_mean"], cp["qrate_ratio_sd"]))
            disputes = int(round(ratio * grants))
            rows.append((code, y, max(grants, 1), disputes))
    d = pd.DataFrame(rows, columns=["province_code", "year", "grants", "disputes"])
    d["qrate"] = 1 - d["disputes"] / d["grants"]
    return d


def build_policy_plan(seed: int, p: dict[str, Any], cities: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Per province-year its policies: number of issuing agencies and tool types (SPEC §6)."""
    pp = p["policies"]
    rng = stream(seed, "policy-plan")
    rows = []
    types = np.array(["supply", "demand", "environment"])
    for code in sorted(cities["province_code"].unique()):
        for y in years:
            k = int(rng.integers(pp["per_province_year"][0], pp["per_province_year"][1] + 1))
            for j in range(k):
                n_ag = int(min(6, 2 + rng.poisson(pp["agencies_extra_poisson"])))
                n_t = 1 + int(rng.choice(3, p=np.array(pp["tool_type_counts"]) / sum(pp["tool_type_counts"])))
                tt = sorted(rng.choice(types, size=n_t, replace=False).tolist())
                rows.append((code, y, j + 1, n_ag, tt))
    d = pd.DataFrame(rows, columns=["province_code", "year", "policy_no", "n_agencies", "tool_types"])
    return d


def policy_synergy(plan: pd.DataFrame) -> pd.DataFrame:
    g = plan.assign(n_types=plan["tool_types"].map(len)).groupby(["province_code", "year"])
    s = g.agg(n_policies=("policy_no", "size"), zts=("n_agencies", "mean"), gjs=("n_types", "mean")).reset_index()
    s["rps"] = s["zts"] * s["gjs"]
    return s


# --- network realisation ------------------------------------------------------------------------
def _fitness(targets: np.ndarray, g: np.ndarray, iters: int = 300) -> np.ndarray:
    """Expected symmetric weights E = x xᵀ ∘ g with row sums ≈ targets (diag 0)."""
    x = np.sqrt(targets.astype(float)) + 0.0
    for _ in range(iters):
        s = g @ x
        x = np.where(targets > 0, np.sqrt(x * targets / np.where(s > 0, s, 1.0)), 0.0)
    e = np.outer(x, x) * g
    np.fill_diagonal(e, 0.0)
    return e


def collab_weights(targets: np.ndarray, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Symmetric integer weights, zero diagonal, row sums = targets (up to a stub or two that
    cannot be paired): expected weights from a gravity fitness model, floored, and the
    remaining stubs matched city by city preferring partners with large expected weight."""
    e = _fitness(targets, g)
    w = np.floor(e).astype(np.int64)
    w = np.minimum(w, w.T)
    rem = targets - w.sum(axis=1)
    n = len(targets)
    for i in np.flatnonzero(rem < 0):          # the fitness fit is approximate: trim overfull rows
        while rem[i] < 0:
            j = int(np.argmax(w[i]))
            w[i, j] -= 1
            w[j, i] -= 1
            rem[i] += 1
            rem[j] += 1
    while rem.sum() > 1:
        i = int(np.argmax(rem))
        cand = np.flatnonzero(rem > 0)
        cand = cand[cand != i]
        if len(cand) == 0:
            break
        pw = e[i, cand] - np.floor(e[i, cand]) + 1e-6 * g[i, cand] + 1e-12
        j = int(cand[rng.choice(len(cand), p=pw / pw.sum())])
        w[i, j] += 1
        w[j, i] += 1
        rem[i] -= 1
        rem[j] -= 1
    assert (rem >= 0).all() and n == w.shape[0]
    return w


def split_triangles(w: np.ndarray, share: float, rng: np.random.Generator) -> tuple[list[tuple[int, int, int]],
                                                                                   np.ndarray]:
    """Take pair-units of `w` three at a time into 3-city units (each adds 1 to its three pairs);
    returns (triangles, remaining pair units)."""
    rest = w.copy()
    want = int(share * np.triu(w, 1).sum() / 3)
    tris: list[tuple[int, int, int]] = []
    if want == 0:
        return tris, rest
    ii, jj = np.nonzero(np.triu(rest, 1))
    for k in rng.permutation(len(ii)):
        if len(tris) >= want:
            break
        i, j = int(ii[k]), int(jj[k])
        if rest[i, j] < 1:
            continue
        common = np.flatnonzero((rest[i] > 0) & (rest[j] > 0))
        common = common[(common != i) & (common != j)]
        if len(common) == 0:
            continue
        m = int(common[rng.integers(len(common))])
        for a, b in ((i, j), (i, m), (j, m)):
            rest[a, b] -= 1
            rest[b, a] -= 1
        tris.append(tuple(sorted((i, j, m))))
    return tris, rest


def transfer_flows(targets: np.ndarray, g: np.ndarray, size: np.ndarray, local_share: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Directed integer flows with row sums = targets: local part binomial, the rest multinomial
    over other cities ∝ gravity × size^0.7."""
    n = len(targets)
    f = np.zeros((n, n), dtype=np.int64)
    attract = size ** 0.7
    for i in np.flatnonzero(targets > 0):
        loc = rng.binomial(int(targets[i]), local_share[i])
        f[i, i] = loc
        rest = int(targets[i]) - loc
        if rest:
            pw = g[i] * attract
            pw[i] = 0.0
            f[i] += rng.multinomial(rest, pw / pw.sum())
    return f


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
    y0, y1 = p["years"]
    years = list(range(y0, y1 + 1))
    sim_years = list(range(y0 - p["burn_in_years"], y1 + 1))
    cities = build_cities(seed, p)
    n_all = len(cities)
    sample = cities["sample"].to_numpy()
    s_idx = np.flatnonzero(sample)
    ns = len(s_idx)
    codes = cities["city_code"].to_numpy()
    size = cities["size"].to_numpy()
    prov = cities["province_code"].to_numpy()
    dist = _distance_km(cities["longitude"].to_numpy(), cities["latitude"].to_numpy())
    same_prov = prov[:, None] == prov[None, :]
    net = p["network"]
    g_col = np.exp(-dist / net["collab_distance_km"]) * np.where(same_prov, net["collab_same_province"], 1.0)
    g_tr = np.exp(-dist / net["transfer_distance_km"]) * np.where(same_prov, net["transfer_same_province"], 1.0)
    np.fill_diagonal(g_col, 0.0)

    controls_all = build_controls(seed, p, cities, sim_years)
    prov_year = build_province_year(seed, p, cities, sim_years)
    policy_plan = build_policy_plan(seed, p, cities, years)
    dc = defect_counts(n_patents, rate, p["defects"]["weights"])
    n_loc = n_patents - sum(dc[k] for k in REMOVES_FROM_APP if k in dc)

    # app: located accepted applications, allocated over (city, year) from sizes and growth
    rng_app = stream(seed, "app")
    pp = p["patents"]
    t_rel = np.array(sim_years) - y0
    raw = size[:, None] * np.exp(pp["year_growth"] * t_rel[None, :] + rng_app.normal(0, pp["city_year_noise_sd"],
                                                                                        (n_all, len(sim_years))))
    in_years = np.array([y >= y0 for y in sim_years])
    scale = n_loc / raw[:, in_years].sum()
    app = np.round(raw * scale).astype(np.int64)
    flat = _largest_remainder((raw[:, in_years] * scale).ravel(), n_loc)
    app[:, in_years] = np.array(flat, dtype=np.int64).reshape(n_all, in_years.sum())
    used = np.zeros_like(app)
    yidx = {y: k for k, y in enumerate(sim_years)}

    # structural effects
    sp = p["system"]
    rng_fx = stream(seed, "effects")
    mu_g = rng_fx.normal(0, sp["city_effect_sd"]["gtr"], n_all)
    mu_r = rng_fx.normal(0, sp["city_effect_sd"]["rsi"], n_all)
    tau_g = {y: sp["year_trend"]["gtr"] * (y - y0) + rng_fx.normal(0, sp["year_effect_sd"]["gtr"]) for y in sim_years}
    tau_r = {y: sp["year_trend"]["rsi"] * (y - y0) + rng_fx.normal(0, sp["year_effect_sd"]["rsi"]) for y in sim_years}
    # counts scale as (N / N_full) ** exponent: ln_app already carries ln N with its coefficient,
    # the intercept shift carries the rest
    ln_k = np.log(n_patents / p["full_scale_patents"])
    # and the feedback terms (lagged intensities, centralities) that vanish in a sparse world are
    # compensated by small_world_compensation · |ln k| (tuned so totals stay ∝ N; docs/generator.md)
    comp = {k: v * abs(ln_k) + np.log(net["intensity_boost"]) for k, v in net["small_world_compensation"].items()}
    shift_g = (net["intensity_exponent"] - sp["lambda"]["ln_app"]) * ln_k + comp["gtr"]
    shift_r = (net["intensity_exponent"] - sp["gamma"]["ln_app"]) * ln_k + comp["rsi"]
    rng_e = stream(seed, "errors")
    rng_net = stream(seed, "networks")
    local_share = np.clip(net["transfer_local_share"] + stream(seed, "local-share").normal(0, 0.12, n_all), 0.05, 0.9)

    hsr_year = cities["hsr_year"].to_numpy()
    cgl = cities["cgl"].to_numpy()
    sample_cities = cities.loc[sample, ["city_code", "province_code"]].reset_index(drop=True)

    # regressor arrays (city × simulated year), as the pipeline computes them from the files
    ca = controls_all.set_index(["city_code", "year"]).reindex(
        pd.MultiIndex.from_product([codes, sim_years])).reset_index(drop=True)
    shape = (n_all, len(sim_years))
    ln_pgdp = np.log(ca["pgdp"].to_numpy()).reshape(shape)
    ln_fdi = np.log1p(ca["fdi"].to_numpy()).reshape(shape)
    fin = (ca["deposits_loans"] / ca["gdp"]).to_numpy().reshape(shape)
    ins = ca["ins"].to_numpy().reshape(shape)
    qr = prov_year.set_index(["province_code", "year"])["qrate"]
    qrate = np.array([[qr[(pc, y)] for y in sim_years] for pc in prov])

    # er from the ungapped indicators of the sample (SPEC §5), for the panel and the γ_er term
    env = controls_all[controls_all["year"].isin(years) & controls_all["city_code"].isin(codes[sample])]
    er, er_w = _env_entropy(env[list(ENV_COLUMNS)].to_numpy(dtype=float))
    env = env.assign(er=er)
    er_arr = np.zeros(shape)
    for y in years:
        er_arr[:, yidx[y]] = env[env["year"] == y].set_index("city_code")["er"].reindex(codes).fillna(0).to_numpy()

    zeros = np.zeros(n_all)
    prev = {"ln_rsi": zeros, "ln_gtr": zeros, "DC": zeros, "BC": zeros, "dc_out": zeros, "dc_in": zeros,
            "bc_gt": zeros}
    collab_units, transfer_units, metrics, latent = [], [], [], []
    size_s = size[s_idx]
    deg = np.flatnonzero(~sample)
    lagw = np.array(net["transfer_lag_weights"], dtype=float)
    lam, gam = sp["lambda"], sp["gamma"]
    for y in sim_years:
        k = yidx[y]
        kl = max(k - 1, 0)
        ln_app = np.log1p(app[:, kl].astype(float))
        hsr = (hsr_year >= 0) & (hsr_year <= y)
        y_g = (sp["intercept"]["gtr"] + shift_g + sp["alpha"] * prev["ln_rsi"]
               + lam["dc_out"] * prev["dc_out"] + lam["dc_in"] * prev["dc_in"] + lam["bc_gt"] * prev["bc_gt"]
               + lam["ln_app"] * ln_app + lam["ln_pgdp"] * ln_pgdp[:, kl] + lam["qrate"] * qrate[:, kl]
               + lam["cgl"] * cgl + lam["HSR"] * hsr + mu_g + tau_g[y] + rng_e.normal(0, sp["error_sd"]["gtr"], n_all))
        y_r = (sp["intercept"]["rsi"] + shift_r + sp["beta"] * prev["ln_gtr"]
               + gam["DC"] * prev["DC"] + gam["BC"] * prev["BC"] + gam["er"] * er_arr[:, kl]
               + gam["ln_fdi"] * ln_fdi[:, kl] + gam["fin"] * fin[:, kl] + gam["ins"] * ins[:, kl]
               + gam["ln_app"] * ln_app + gam["ln_pgdp"] * ln_pgdp[:, kl] + gam["qrate"] * qrate[:, kl]
               + gam["cgl"] * cgl + gam["HSR"] * hsr + mu_r + tau_r[y] + rng_e.normal(0, sp["error_sd"]["rsi"], n_all))
        u = rng_net.random((2, n_all))
        gtr_t = log_round(y_g, u[0])[s_idx]
        rsi_t = log_round(y_r, u[1])[s_idx]
        if rsi_t.sum() % 2:                       # an odd total leaves one stub: give it to the largest
            rsi_t[int(np.argmax(rsi_t))] += 1
        w = collab_weights(rsi_t, g_col[np.ix_(s_idx, s_idx)], rng_net)
        tris, pairs = split_triangles(w, net["triangle_share"], rng_net)
        f = transfer_flows(gtr_t, g_tr[np.ix_(s_idx, s_idx)], size_s, local_share[s_idx], rng_net)

        # units: (c1, c2, c3 or -1, counted) and (src, dst, counted) as city indices
        ia, ib = np.nonzero(np.triu(pairs, 1))
        reps = pairs[ia, ib]
        cu = np.column_stack([np.repeat(s_idx[ia], reps), np.repeat(s_idx[ib], reps),
                              np.full(reps.sum(), -1), np.ones(reps.sum(), dtype=np.int64)])
        if tris:
            t3 = s_idx[np.array(tris)]
            cu = np.vstack([cu, np.column_stack([t3, np.ones(len(t3), dtype=np.int64)])])
        fa, fb = np.nonzero(f)
        reps = f[fa, fb]
        tu = np.column_stack([np.repeat(s_idx[fa], reps), np.repeat(s_idx[fb], reps), np.ones(reps.sum(), dtype=np.int64)])
        # a layer touching degraded cities: realistic, dropped by the pipeline (not counted)
        n_dc = int(round(net["degraded_layer_share"] * len(cu)))
        n_dt = int(round(net["degraded_layer_share"] * len(tu)))
        if len(deg) and (n_dc or n_dt):
            pd_ = size[deg] / size[deg].sum()
            extra_c = _gravity_partners(deg[rng_net.choice(len(deg), size=n_dc, p=pd_)], g_col, size, rng_net)
            cu = np.vstack([cu, np.column_stack([extra_c, np.full(n_dc, -1), np.zeros(n_dc, dtype=np.int64)])])
            extra_t = _gravity_partners(deg[rng_net.choice(len(deg), size=n_dt, p=pd_)], g_tr, size, rng_net)
            flip = rng_net.random(n_dt) < 0.5
            extra_t[flip] = extra_t[flip][:, ::-1]
            tu = np.vstack([tu, np.column_stack([extra_t, np.zeros(n_dt, dtype=np.int64)])])

        # realised metrics of the sample networks: exactly what the units add up to
        ce = _collab_edges(cu, codes, sample)
        te = _transfer_edges(tu, codes, sample)
        m = netmetrics.collab_metrics(ce, sample_cities).merge(netmetrics.transfer_metrics(te, sample_cities),
                                                                on="city_code")
        vals = {key: np.zeros(n_all) for key in ("rsi", "gtr", "DC", "BC", "dc_out", "dc_in", "bc_gt")}
        for key in vals:
            vals[key][s_idx] = m[key].to_numpy()
        prev = {"ln_rsi": np.log1p(vals["rsi"]), "ln_gtr": np.log1p(vals["gtr"]), "DC": vals["DC"],
                "BC": vals["BC"], "dc_out": vals["dc_out"], "dc_in": vals["dc_in"], "bc_gt": vals["bc_gt"]}
        if y < y0:
            continue
        # patents behind the units: first applicant city of co-patents (∝ size among members) …
        members = cu[:, :3]
        msize = np.where(members >= 0, size[np.maximum(members, 0)], 0.0)
        cum = np.cumsum(msize, axis=1) / msize.sum(axis=1, keepdims=True)
        pick = (rng_net.random(len(cu))[:, None] > cum).sum(axis=1)
        first = members[np.arange(len(cu)), np.minimum(pick, 2)]
        np.add.at(used[:, k], first, 1)
        collab_units.append(pd.DataFrame({
            "year": y, "c1": codes[cu[:, 0]], "c2": codes[cu[:, 1]],
            "c3": np.where(cu[:, 2] >= 0, codes[np.maximum(cu[:, 2], 0)], None),
            "first_city": codes[first], "counted": cu[:, 3].astype(bool)}))
        # … and application year of transferred patents: a lag, moved later while the year is full
        want = y - rng_net.choice(len(lagw), size=len(tu), p=lagw / lagw.sum())
        app_years = np.empty(len(tu), dtype=np.int64)
        for r, (a, want_y) in enumerate(zip(tu[:, 0].tolist(), want.tolist())):
            ay = y
            for yy in range(max(want_y, y0), y + 1):
                if app[a, yidx[yy]] - used[a, yidx[yy]] > 0:
                    ay = yy
                    break
            used[a, yidx[ay]] += 1
            app_years[r] = ay
        transfer_units.append(pd.DataFrame({"year": y, "src": codes[tu[:, 0]], "dst": codes[tu[:, 1]],
                                            "app_year": app_years, "counted": tu[:, 2].astype(bool)}))
        app[:, k] = np.maximum(app[:, k], used[:, k])       # bump (rare): this year's app is final now
        mm = m.copy()
        mm.insert(1, "year", y)
        metrics.append(mm)
        latent.append(pd.DataFrame({"city_code": codes[s_idx], "year": y, "ystar_rsi": y_r[s_idx],
                                    "ystar_gtr": y_g[s_idx]}))

    # every city with organisations active in units keeps room for one anchor patent; the
    # total stays n_loc by taking the excess from the last year (its app is no one's regressor)
    k_last = yidx[y1]
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

    app_df = pd.DataFrame({"city_code": np.repeat(codes, len(years)), "year": np.tile(years, n_all),
                           "app": app[:, in_years].ravel()})
    cu_df = pd.concat(collab_units, ignore_index=True)
    cu_df.insert(0, "unit_id", np.arange(len(cu_df), dtype=np.int64))
    tu_df = pd.concat(transfer_units, ignore_index=True)
    tu_df.insert(0, "unit_id", np.arange(len(tu_df), dtype=np.int64))
    panel = _panel(pd.concat(metrics, ignore_index=True), pd.concat(latent, ignore_index=True), app_df,
                   controls_all, env, prov_year, policy_plan, cities)
    controls = controls_all[controls_all["year"].isin(years)].reset_index(drop=True)
    structural = {
        "alpha": sp["alpha"], "beta": sp["beta"], "lambda": sp["lambda"], "gamma": sp["gamma"],
        "intercept": sp["intercept"], "scale_shift": {"gtr": float(shift_g), "rsi": float(shift_r)}, "error_sd": sp["error_sd"],
        "city_effect_sd": sp["city_effect_sd"], "year_trend": sp["year_trend"],
        "year_effects": {"gtr": {str(y): float(tau_g[y]) for y in years}, "rsi": {str(y): float(tau_r[y]) for y in years}},
        "city_effects": {"gtr": dict(zip(codes.tolist(), map(float, mu_g))),
                         "rsi": dict(zip(codes.tolist(), map(float, mu_r)))},
        "er_weights": dict(zip(ENV_COLUMNS, map(float, er_w))),
        "realisation": "counts = log-space stochastic rounding of exp(y*) - 1 (E[ln(1+count)] = y* for y* >= 0)",
        "degraded_cities": sorted(codes[~sample].tolist()),
        "sample_size": int(ns),
        "n_patents": int(n_patents), "seed": int(seed),
    }
    return World(seed=seed, n_patents=n_patents, params=p, cities=cities, controls=controls,
                 province_year=prov_year[prov_year["year"].isin(years)].reset_index(drop=True),
                 policy_plan=policy_plan, app=app_df, collab_units=cu_df, transfer_units=tu_df, panel=panel,
                 structural=structural, defect_counts=dc)


def _gravity_partners(src: np.ndarray, g: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(src, partner) rows: each partner drawn ∝ gravity × size, never src itself."""
    out = np.column_stack([src, np.zeros(len(src), dtype=np.int64)])
    for d in np.unique(src):
        rows = np.flatnonzero(src == d)
        pw = g[d] * size
        pw[d] = 0.0
        out[rows, 1] = rng.choice(len(size), size=len(rows), p=pw / pw.sum())
    return out


def _collab_edges(units: np.ndarray, codes: np.ndarray, sample: np.ndarray) -> pd.DataFrame:
    """Pair weights of the sample network from units (c1, c2, c3|-1, counted)."""
    pairs = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        a, b = units[:, i], units[:, j]
        ok = (a >= 0) & (b >= 0)
        ok[ok] = sample[a[ok]] & sample[b[ok]]
        lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
        pairs.append(pd.DataFrame({"city_a": codes[lo], "city_b": codes[hi]}))
    e = pd.concat(pairs, ignore_index=True)
    return e.groupby(["city_a", "city_b"]).size().rename("weight").reset_index()


def _transfer_edges(units: np.ndarray, codes: np.ndarray, sample: np.ndarray) -> pd.DataFrame:
    ok = sample[units[:, 0]] & sample[units[:, 1]]
    e = pd.DataFrame({"src": codes[units[ok, 0]], "dst": codes[units[ok, 1]]})
    return e.groupby(["src", "dst"]).size().rename("weight").reset_index()


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
