"""The 338 cities of the synthetic world: size, sample, administrative level, HSR, distances.

`build_cities` orders the cities of `gazetteer.cities()` by a prominence score (level,
province bonus, noise), gives them lognormal rank-size shares, picks the degraded cities that
the panel's sample rule drops, and draws the high-speed-rail opening years; `gravity` is the
distance-decay weight between cities that collaboration, co-applicants and transfers use.
Every number comes from conf/generator.yaml (`cities:`, `controls.hsr_*`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from greenlink.core.config import conf_file, load_yaml
from greenlink.reference import gazetteer
from greenlink.synth.rng import stream

EARTH_RADIUS_KM = 6371.0


def build_cities(seed: int, p: dict[str, Any]) -> pd.DataFrame:
    """Every city with admin_level, cgl, size_rank, size (shares summing to 1), sample and
    hsr_year (-1: no high-speed rail by the last year)."""
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
    c["hsr_year"] = _hsr_years(rng, p["controls"], c["size_rank"] / n)
    return c.reset_index(drop=True)


def _hsr_years(rng: np.random.Generator, cp: dict[str, Any], q: pd.Series) -> np.ndarray:
    """High-speed rail opening years from the size-rank quantile q: big cities early, many
    small cities none (-1) by the end of the span."""
    hp, bands, tb = cp["hsr_open_prob"], cp["hsr_rank_bands"], cp["hsr_timing_beta"]
    prob = np.where(q < bands["top"], hp["top"], np.where(q < bands["mid"], hp["mid"], hp["low"]))
    opened = rng.random(len(q)) < prob
    first, span = cp["hsr_first_year"], cp["hsr_span_years"]
    year = first + np.floor(rng.beta(tb["a"] + tb["a_per_rank"] * q, tb["b"], len(q)) * span).astype(int)
    return np.where(opened, np.minimum(year, first + span - 1), -1)


def distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle distances (haversine) between all pairs of points."""
    lo, la = np.radians(lon), np.radians(lat)
    dlo = lo[:, None] - lo[None, :]
    dla = la[:, None] - la[None, :]
    h = np.sin(dla / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlo / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def gravity(cities: pd.DataFrame, km: float, same_province: float) -> np.ndarray:
    """City × city weight exp(-distance / km), times `same_province` within a province
    (diagonal left as is: callers that exclude a city from itself zero it)."""
    d = distance_km(cities["longitude"].to_numpy(), cities["latitude"].to_numpy())
    prov = cities["province_code"].to_numpy()
    return np.exp(-d / km) * np.where(prov[:, None] == prov[None, :], same_province, 1.0)
