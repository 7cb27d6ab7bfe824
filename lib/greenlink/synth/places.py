"""Place names and addresses: what makes an organisation locatable, and only where intended.

Two guarantees the truth relies on (docs/generator.md, "Locatability"):

1. Screening. Every free word of a generated name (brand, industry, street, given name…) is
   checked against all place names of cpca's gazetteer — full names and names without their
   administrative suffix (苏州市 -> 苏州, 吴中区 -> 吴中, 恩施土家族苗族自治州 -> 恩施) — with an
   Aho–Corasick scan, so a name contains a place only where the generator put one.
2. Verified address forms. Each way an address is written (with/without province, short
   names, postcode, district only, county-level city, development zones…) is rendered for
   every (city, district) and parsed by cpca; a form is used for a district only if cpca
   returns that district's prefecture city (`gazetteer.city_of_adcode`). Streets are
   screened words, and cpca stops at the first county-level match or ignores later places
   that do not belong to the matched city, so the street part cannot change the result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick
import numpy as np
import pandas as pd

from greenlink.core.config import conf_file, load_yaml
from greenlink.reference import gazetteer

# Address forms (ids are stable: they are stored per record). {P} province full name
# (empty for municipalities), {Ps} province short name, {C}/{Cs} city full/short name,
# {D} county-level unit, {Z} development zone, {S} street, {N} number, {B} building,
# {PC} postcode.
FORMS: dict[int, str] = {
    0: "{P}{C}{D}{S}{N}号",
    1: "{C}{D}{S}{N}号{B}",
    2: "{Ps}{Cs}{D}{S}{N}号",
    3: "{PC} {P}{C}{D}{S}{N}号",
    4: "{C}{Z}{S}{N}号",
    5: "{P}{C}{S}{N}号{B}",
    6: "{D}{S}{N}号",
    7: "中国{P}{C}{D}{S}{N}号",
    8: "{P}{C}{D}{S}{N}号 {PC}",
    9: "{P}{D}{Z}{S}{N}号",
}
# Forms used only where they make sense: 6 needs a district name unique in the country,
# 9 a county-level city (…市) as the district.
DISTRICT_ONLY, COUNTY_CITY = 6, 9
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县",
             "自治旗", "新区", "林区", "特区", "地区", "省", "市", "区", "县", "旗", "盟")


def names_conf() -> dict:
    return load_yaml(conf_file("generator_names.yaml"))


@lru_cache(maxsize=1)
def units() -> pd.DataFrame:
    """Every unit of cpca's gazetteer: code, name, rank (0 province, 1 city, 2 county),
    province_code and city_code (the study's city unit, None when in none)."""
    d = gazetteer.adcodes()[["code", "name"]].copy()
    d = d[~d["name"].str.match(r"^(市辖区|县|省直辖县级行政区划|自治区直辖县级行政区划)$")]
    d["rank"] = np.where(d["code"].str[2:] == "0000", 0, np.where(d["code"].str[4:] == "00", 1, 2))
    d["province_code"] = d["code"].str[:2] + "0000"
    d["city_code"] = [gazetteer.city_of_adcode(c) if r > 0 or c[:2] in gazetteer.MUNICIPALITY_PROVINCES else None
                      for c, r in zip(d["code"], d["rank"])]
    return d.drop_duplicates("code").sort_values("code").reset_index(drop=True)


def strip_suffix(name: str) -> str:
    for suf in _SUFFIXES:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            return name[: -len(suf)]
    return name


@lru_cache(maxsize=1)
def place_tokens() -> frozenset[str]:
    """All place names (≥ 2 characters) a name scan could recognise."""
    toks: set[str] = set()
    for name in units()["name"]:
        toks.add(name)
        toks.add(strip_suffix(name))
        toks.add(gazetteer.short_name(name))
    for prov in units().query("rank == 0")["name"]:
        toks.add(gazetteer.province_short(prov))
    return frozenset(t for t in toks if len(t) >= 2)


class PlaceScanner:
    """Aho–Corasick scan for place tokens inside a string."""

    def __init__(self, tokens: frozenset[str] | None = None) -> None:
        self.ac = ahocorasick.Automaton()
        for t in tokens if tokens is not None else place_tokens():
            self.ac.add_word(t, t)
        self.ac.make_automaton()

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end exclusive, token) of every occurrence."""
        return [(end - len(tok) + 1, end + 1, tok) for end, tok in self.ac.iter(text)]

    def clean(self, text: str) -> bool:
        return not any(True for _ in self.ac.iter(text))

    def only_within(self, text: str, spans: list[tuple[int, int]]) -> bool:
        """True when every place occurrence lies inside one of `spans`."""
        return all(any(s <= a and b <= e for s, e in spans) for a, b, _ in self.find(text))


@lru_cache(maxsize=1)
def scanner() -> PlaceScanner:
    return PlaceScanner()


def screen(words: list[str]) -> list[str]:
    """The words that contain no place name (order kept, duplicates dropped)."""
    sc = scanner()
    seen: dict[str, None] = {}
    for w in words:
        if w not in seen and sc.clean(w):
            seen[w] = None
    return list(seen)


@lru_cache(maxsize=1)
def streets() -> tuple[str, ...]:
    c = names_conf()
    roots = screen(c["street_roots"])
    # screen the whole street too: a root and a suffix can form a place across the seam
    return tuple(screen([r + s for r in roots for s in c["street_suffixes"]]))


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    return tuple(screen(names_conf()["zones"]))


@dataclass(frozen=True)
class AddressParts:
    P: str = ""
    Ps: str = ""
    C: str = ""
    Cs: str = ""
    D: str = ""
    Z: str = ""
    S: str = ""
    N: str = ""
    B: str = ""
    PC: str = ""

    def render(self, form: int) -> str:
        return FORMS[form].format(**self.__dict__)


def city_frame() -> pd.DataFrame:
    """gazetteer.cities() plus the name parts addresses use and a postcode per city."""
    return _city_frame().copy()


@lru_cache(maxsize=1)
def _city_frame() -> pd.DataFrame:
    c = gazetteer.cities().copy()
    pref = names_conf()["postcode_prefix"]
    c["prov_full"] = np.where(c["is_municipality"], "", c["province_name"])
    c["prov_short"] = np.where(c["is_municipality"], "", c["province_name"].map(gazetteer.province_short))
    c["city_short_addr"] = c["city_name"].map(lambda n: re.sub(r"市$", "", n))
    pcs = []
    for prov, grp in c.groupby("province_code", sort=True):
        prefixes = pref[prov[:2]]
        for i, code in enumerate(grp["city_code"]):
            pcs.append((code, f"{prefixes[i % len(prefixes)]}{(11 + 7 * i) % 100:02d}00"))
    c = c.merge(pd.DataFrame(pcs, columns=["city_code", "postcode"]), on="city_code")
    return c


@lru_cache(maxsize=1)
def districts() -> pd.DataFrame:
    """Verified address forms per (city, district): city_code, district, form_mask (bit f set
    when cpca parses form f of this district to the city). A row with district '' holds the
    district-free forms (4, 5)."""
    import cpca  # local: importing cpca loads its address matcher

    cities = city_frame().set_index("city_code")
    u = units()
    counties = u[(u["rank"] == 2) & u["city_code"].notna()]
    name_count = u[u["rank"] == 2]["name"].value_counts()
    probe_street, probe_zone = streets()[0], zones()[0]
    rows, texts = [], []
    for code, city in cities.iterrows():
        base = dict(P=city["prov_full"], Ps=city["prov_short"], C=city["city_name"],
                    Cs=city["city_short_addr"], S=probe_street, N="8", B="", Z=probe_zone, PC=city["postcode"])
        cands = [("", f) for f in (4, 5)]
        for d in counties[counties["city_code"] == code]["name"]:
            forms = [0, 1, 2, 3, 7, 8]
            if name_count.get(d, 0) == 1:
                forms.append(DISTRICT_ONLY)
            if d.endswith("市"):
                forms.append(COUNTY_CITY)
            cands += [(d, f) for f in forms]
        for d, f in cands:
            rows.append((code, d, f))
            texts.append(AddressParts(**{**base, "D": d}).render(f))
    parsed = cpca.transform(texts)
    ok = [gazetteer.city_of_adcode(a) == code if isinstance(a, str) else False
          for a, (code, _, _) in zip(parsed["adcode"], rows)]
    df = pd.DataFrame(rows, columns=["city_code", "district", "form"])[ok]
    df["bit"] = np.left_shift(1, df["form"].to_numpy())
    out = df.groupby(["city_code", "district"], as_index=False)["bit"].sum().rename(columns={"bit": "form_mask"})
    # a district is usable only with at least one district form that parses right
    out = out[(out["district"] == "") | (out["form_mask"] > 0)]
    return out.sort_values(["city_code", "district"]).reset_index(drop=True)


def non_city_places() -> pd.DataFrame:
    """County-level units directly under a province used for unlocatable applicants:
    unit, code, prov_full, address prefix (verified to parse to no city unit)."""
    import cpca  # local: importing cpca loads its address matcher

    u = units()
    wanted = names_conf()["non_city_units"]
    rows = []
    for name in wanted:
        hit = u[(u["name"] == name) & (u["rank"] == 2) & u["city_code"].isna()]
        if hit.empty:
            continue
        code = hit["code"].iloc[0]
        prov = u[(u["code"] == code[:2] + "0000")]["name"].iloc[0]
        rows.append((name, code, prov))
    df = pd.DataFrame(rows, columns=["unit", "code", "prov_full"])
    probe = [f"{p}{n}{streets()[0]}8号" for n, p in zip(df["unit"], df["prov_full"])]
    parsed = cpca.transform(probe)
    good = [isinstance(a, str) and a[:6] == c and gazetteer.city_of_adcode(a) is None
            for a, c in zip(parsed["adcode"], df["code"])]
    return df[good].reset_index(drop=True)
