"""Exogenous regressors of the city-year system, drawn before it: the yearbook controls
(SPEC §5, values as printed, ungapped), the province IP statistics behind qrate, the
policy plan and its synergy (SPEC §6), and the environmental range entropy `er`.
Every number comes from conf/generator.yaml (`controls:`, `policies:`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenlink.synth.rng import stream

ENV_COLUMNS = ("so2", "cod", "solid", "sewage", "garbage")
BASE_YEAR = 2010          # the year that `pgdp_2010_log_mean` and `grants_2010` describe
TOOL_TYPES = ("supply", "demand", "environment")


def build_controls(seed: int, p: dict[str, Any], cities: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Yearbook values as printed (rounded like the yearbook), ungapped."""
    cp = p["controls"]
    rng = stream(seed, "controls")
    n, T = len(cities), len(years)
    rel = np.log(cities["size"].to_numpy() / np.median(cities["size"]))
    t = np.array(years) - BASE_YEAR
    city_pg = rng.normal(0, cp["pgdp_sd"], n)
    lpg = cp["pgdp_2010_log_mean"] + cp["pgdp_size_elasticity"] * rel[:, None] + city_pg[:, None] \
        + cp["pgdp_growth"] * t[None, :] + rng.normal(0, cp["pgdp_year_sd"], (n, T))
    pgdp = np.round(np.exp(lpg))
    pop = np.exp(np.log(cp["population_median"]) + cp["population_size_elasticity"] * rel
                 + rng.normal(0, cp["population_sd"], n))                      # residents
    gdp = np.round(pgdp * pop[:, None] / 1e4)                                    # 万元
    fdi = np.round(np.exp(cp["fdi_log_mean"] + cp["fdi_size_elasticity"] * rel[:, None]
                          + rng.normal(0, cp["fdi_sd"], n)[:, None] + cp["fdi_trend"] * t[None, :]
                          + rng.normal(0, cp["fdi_year_sd"], (n, T))), 1)
    fin = np.clip(rng.normal(cp["fin_mean"], cp["fin_sd"], n)[:, None] + cp["fin_trend"] * t[None, :]
                  + rng.normal(0, cp["fin_year_sd"], (n, T)), cp["fin_min"], None)
    dl = np.round(fin * gdp)
    ins_lo, ins_hi = cp["ins_bounds"]
    ins = np.round(np.clip(rng.normal(cp["ins_mean"], cp["ins_sd"], n)[:, None] + cp["ins_trend"] * t[None, :]
                           + rng.normal(0, cp["ins_year_sd"], (n, T)), ins_lo, ins_hi), 2)
    out = {"city_code": np.repeat(cities["city_code"].to_numpy(), T), "year": np.tile(years, n),
           "pgdp": pgdp.ravel(), "fdi": fdi.ravel(), "deposits_loans": dl.ravel(), "gdp": gdp.ravel(),
           "ins": ins.ravel()}
    env_lo, env_hi = cp["env_bounds"]
    for k in ENV_COLUMNS:
        v = np.clip(cp["env_means"][k] + rng.normal(0, cp["env_sd"], n)[:, None] + cp["env_trend"] * t[None, :]
                    + rng.normal(0, cp["env_year_sd"], (n, T)), env_lo, env_hi)
        out[k] = np.round(v, 2).ravel()
    return pd.DataFrame(out)


def env_entropy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def build_province_year(seed: int, p: dict[str, Any], cities: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Provincial IP office statistics: patents granted and infringement disputes handled."""
    cp = p["controls"]
    rng = stream(seed, "province-ip")
    prov = cities.groupby("province_code")["size"].sum()
    rows = []
    for code, share in prov.items():
        for y in years:
            grants = int(round(cp["grants_2010"] * np.exp(cp["grants_growth"] * (y - BASE_YEAR)) * share
                               * np.exp(rng.normal(0, cp["grants_sd"]))))
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
    types = np.array(TOOL_TYPES)
    for code in sorted(cities["province_code"].unique()):
        for y in years:
            k = int(rng.integers(pp["per_province_year"][0], pp["per_province_year"][1] + 1))
            for j in range(k):
                n_ag = int(min(pp["agencies_max"], pp["agencies_min"] + rng.poisson(pp["agencies_extra_poisson"])))
                n_t = 1 + int(rng.choice(len(types), p=np.array(pp["tool_type_counts"]) / sum(pp["tool_type_counts"])))
                tt = sorted(rng.choice(types, size=n_t, replace=False).tolist())
                rows.append((code, y, j + 1, n_ag, tt))
    d = pd.DataFrame(rows, columns=["province_code", "year", "policy_no", "n_agencies", "tool_types"])
    return d


def policy_synergy(plan: pd.DataFrame) -> pd.DataFrame:
    """Per province-year: n_policies, zts (mean agencies), gjs (mean tool types), rps = zts·gjs."""
    g = plan.assign(n_types=plan["tool_types"].map(len)).groupby(["province_code", "year"])
    s = g.agg(n_policies=("policy_no", "size"), zts=("n_agencies", "mean"), gjs=("n_types", "mean")).reset_index()
    s["rps"] = s["zts"] * s["gjs"]
    return s
