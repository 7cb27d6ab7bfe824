"""City units of SPEC §3 from cpca's adcode gazetteer (names, provinces, coordinates).

A city is a prefecture-level unit (地级市, 自治州, 地区, 盟) or one of the four
municipalities; its key `city_code` is the 6-digit adcode of the prefecture
(`320500` 苏州市) or of the municipality's province (`110000` 北京市). Districts and
county-level cities map to their prefecture; county-level units directly under a
province (仙桃市, 石河子市) belong to no city. Hong Kong, Macao and Taiwan are not units.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from greenlink.core.config import conf_file, load_yaml
from greenlink.core.text import nfkc

MUNICIPALITY_PROVINCES = ("11", "12", "31", "50")
EXCLUDED_PROVINCES = ("71", "81", "82")          # Taiwan, Hong Kong, Macao
# Name endings of province-level units: 江苏省 -> 江苏, 广西壮族自治区 -> 广西.
_PROVINCE_SUFFIX = re.compile(r"(壮族自治区|回族自治区|维吾尔自治区|自治区|省|市)$")
_PLACEHOLDER = re.compile(r"^(市辖区|县|省直辖县级行政区划|自治区直辖县级行政区划)$")


def _adcodes_csv() -> Path:
    import cpca  # local: importing cpca loads its address matcher; only its file is read here

    return Path(cpca.__file__).parent / "resources" / "adcodes.csv"


@lru_cache(maxsize=1)
def adcodes() -> pd.DataFrame:
    """Every cpca adcode row outside Taiwan, Hong Kong and Macao, `code` = its first 6 digits."""
    d = pd.read_csv(_adcodes_csv(), dtype=str)
    d["code"] = d["adcode"].str[:6]
    d["longitude"] = pd.to_numeric(d["longitude"], errors="coerce")
    d["latitude"] = pd.to_numeric(d["latitude"], errors="coerce")
    return d[~d["code"].str[:2].isin(EXCLUDED_PROVINCES)]


@lru_cache(maxsize=1)
def _ethnic_suffix() -> re.Pattern:
    # compiled once: cities() calls short_name 338 times and the YAML read dominated it
    ethnic = load_yaml(conf_file("cities.yaml"))["ethnic_words"]
    return re.compile("(" + "|".join(sorted(ethnic, key=len, reverse=True)) + ")族?$")


def short_name(name: str) -> str:
    """Name as used inside organisation names: 苏州市 -> 苏州, 恩施土家族苗族自治州 -> 恩施."""
    s = re.sub(r"(自治州|地区|盟|市)$", "", name)
    pattern = _ethnic_suffix()
    while len(s) > 2 and pattern.search(s):
        s = pattern.sub("", s)
    return s


@lru_cache(maxsize=1)
def cities() -> pd.DataFrame:
    """One row per city unit: city_code, city_name, short_name, province_code,
    province_name, longitude, latitude, is_municipality (sorted by city_code)."""
    d = adcodes()
    provinces = d[d["code"].str[2:] == "0000"]
    provinces = provinces.set_index(provinces["code"].str[:2])
    prefectures = d[(d["code"].str[2:] != "0000") & (d["code"].str[4:] == "00")
                    & ~d["name"].str.match(_PLACEHOLDER)
                    & ~d["code"].str[:2].isin(MUNICIPALITY_PROVINCES)]
    munis = provinces.loc[list(MUNICIPALITY_PROVINCES)]
    rows = pd.concat([
        pd.DataFrame({"city_code": munis["code"].values, "city_name": munis["name"].values,
                      "province_code": munis["code"].values, "longitude": munis["longitude"].values,
                      "latitude": munis["latitude"].values, "is_municipality": True}),
        pd.DataFrame({"city_code": prefectures["code"].values, "city_name": prefectures["name"].values,
                      "province_code": prefectures["code"].str[:2].values + "0000",
                      "longitude": prefectures["longitude"].values, "latitude": prefectures["latitude"].values,
                      "is_municipality": False}),
    ])
    names = provinces.set_index("code")["name"]
    rows = rows.dropna(subset=["longitude", "latitude"])
    rows["province_name"] = rows["province_code"].map(names)
    rows["short_name"] = rows["city_name"].map(short_name)
    cols = ["city_code", "city_name", "short_name", "province_code", "province_name",
            "longitude", "latitude", "is_municipality"]
    return rows[cols].sort_values("city_code").reset_index(drop=True)


def city_of_adcode(adcode: str | None) -> str | None:
    """Prefecture city_code of any adcode (district, county, city), None if in no city unit."""
    if not adcode or len(adcode) < 6:
        return None
    code = adcode[:6]
    if code[:2] in EXCLUDED_PROVINCES:
        return None
    if code[:2] in MUNICIPALITY_PROVINCES:
        return code[:2] + "0000"
    candidate = code[:4] + "00"
    return candidate if candidate in _city_codes() else None


@lru_cache(maxsize=1)
def _city_codes() -> frozenset[str]:
    return frozenset(cities()["city_code"])


def city_keys(city_name: str, short: str) -> Iterator[str]:
    """Spellings of a city unit inside names: full name (苏州市), short name (苏州) and
    `<short>州` of autonomous prefectures (恩施州)."""
    yield city_name
    yield short
    if city_name.endswith("自治州"):
        yield short + "州"


def province_short(name: str) -> str:
    """江苏省 -> 江苏, 广西壮族自治区 -> 广西, 北京市 -> 北京."""
    return _PROVINCE_SUFFIX.sub("", name)


def provinces() -> pd.DataFrame:
    """The 31 province-level units: province_code, province_name, short_name (江苏, 广西)."""
    p = cities()[["province_code", "province_name"]].drop_duplicates().sort_values("province_code")
    p["short_name"] = p["province_name"].map(province_short)
    return p.reset_index(drop=True)


def province_lookup(prov: pd.DataFrame | None = None) -> dict[str, tuple[str, str]]:
    """Spelling -> (province_code, province_name): full name, short name, 6-digit code."""
    prov = provinces() if prov is None else prov
    out: dict[str, tuple[str, str]] = {}
    for r in prov.itertuples(index=False):
        for key in (r.province_name, r.short_name, r.province_code):
            out[key] = (r.province_code, r.province_name)
    return out


def resolve_province(raw: Any, lookup: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    """江苏 / 江苏省 / 320000 / 广西壮族自治区 / 广西自治区 -> (code, name); None if unknown."""
    if raw is None:
        return None
    s = re.sub(r"\s+", "", nfkc(str(raw)))
    if s in lookup:
        return lookup[s]
    return lookup.get(province_short(s))
