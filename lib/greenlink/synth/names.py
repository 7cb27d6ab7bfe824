"""Applicants and owners: organisations and individuals with names, types, home cities
and addresses (driver side; one row per entity, never per patent).

Entities live in per-city pools (docs/generator.md, "Entities"):

- `app`    organisations that apply for patents; each has one *anchor* patent on which it is
           the first applicant with a valid address, so a correct pipeline can always locate
           it from other records (SPEC §1) — ordered by prominence (universities, institutes,
           other organisations, enterprises), patents pick low indices more often;
- `recip`  organisations that only ever receive patents (transfer assignees), located by
           the transfer's current-owner address;
- `lead`   individuals filing as first applicant (located by their own address);
- `co`     individuals appearing only as later applicants (unlocatable by SPEC §1);
- `foreign`, `noncity` organisations whose address is abroad or in a county-level unit
           directly under a province (no city unit): never locatable.

Names contain a place only on purpose: the home city's short name (苏州瑞能新能源科技有限公司,
中国科学院大连…研究所), its province only (江苏…: not enough for a city), or none; every
name is scanned (places.PlaceScanner) and redrawn until places occur only where intended,
and names are unique, so a name identifies one entity.
"""
from __future__ import annotations

import bisect
import random

import numpy as np
import pandas as pd

from greenlink.reference import gazetteer
from greenlink.synth import places
from greenlink.synth.rng import stream

POOLS = ("app", "recip", "lead", "co")
ORG_TYPES = ("university", "institute", "enterprise", "other", "individual")

ENTITY_COLUMNS = ["entity_id", "name", "org_type", "kind", "city_code", "pool", "pool_idx",
                  "name_place", "anchored", "prov_full", "prov_short", "city_name", "city_short_addr",
                  "district", "zone", "street", "number", "building", "postcode", "form_mask", "fixed_address"]


def _ambiguous_city_shorts() -> set[str]:
    """City short names that also name another unit (吉林 province, 朝阳区 of Beijing, 中山区
    of Dalian, 西安区 of Liaoyuan…): organisations there get no place in their names."""
    u = places.units()
    owners: dict[str, set[str]] = {}
    for code, name, rank, city in zip(u["code"], u["name"], u["rank"], u["city_code"]):
        key = city if city else f"P{code}"
        toks = {name, places.strip_suffix(name), gazetteer.short_name(name)}
        if rank == 0:
            toks.add(gazetteer.province_short(name))
        for tok in toks:
            owners.setdefault(tok, set()).add(key)
    cities = places.city_frame()
    return {s for s, code in zip(cities["short_name"], cities["city_code"]) if owners.get(s, set()) - {code}}


class _Namer:
    """Draws unique, screened names (Python's Mersenne Twister: cheap single draws)."""

    def __init__(self, seed: int, three_char_share: float) -> None:
        c = places.names_conf()
        self.three_char_share = three_char_share
        self.c = c
        self.r = random.Random(f"{seed}/names")
        self.ac = places.scanner().ac
        chars = places.screen(c["brand_chars"])
        self.brands = places.screen([a + b for a in chars for b in chars if a != b])
        self.industries = places.screen(c["industries"])
        self.suffixes = c["enterprise_suffixes"]
        self.used: set[str] = set()
        self.ambiguous = _ambiguous_city_shorts()

    def _ok(self, name: str, allowed: str | None) -> bool:
        if name in self.used:
            return False
        if allowed is None:
            for _ in self.ac.iter(name):
                return False
        else:
            at = name.find(allowed)
            if at < 0 or name.find(allowed, at + 1) >= 0:
                return False
            lo, hi = at, at + len(allowed)
            for end, tok in self.ac.iter(name):
                if end - len(tok) + 1 < lo or end + 1 > hi:
                    return False
        self.used.add(name)
        return True

    def draw(self, make, allowed: str | None, tries: int = 60) -> str | None:
        for _ in range(tries):
            name = make()
            if self._ok(name, allowed):
                return name
        return None

    def ch(self, seq):
        return seq[int(self.r.random() * len(seq))]

    # --- organisations -------------------------------------------------------------------
    def enterprise(self, city_short: str, city_full: str, prov_short: str, style: str) -> tuple[str, str] | None:
        ch, b, i, s = self.ch, self.brands, self.industries, self.suffixes
        if style == "city":
            n = self.draw(lambda: f"{city_short}{ch(b)}{ch(i)}{ch(s)}", city_short)
        elif style == "city_shi":
            n = self.draw(lambda: f"{city_full}{ch(b)}{ch(i)}{ch(s)}", city_full)
        elif style == "bracket":
            n = self.draw(lambda: f"{ch(b)}{ch(i)}({city_short}){ch(s)}", city_short)
        elif style == "province":
            n = self.draw(lambda: f"{prov_short}{ch(b)}{ch(i)}{ch(s)}", prov_short)
        else:
            n = self.draw(lambda: f"{ch(b)}{ch(i)}{ch(s)}", None)
        return (n, "province" if style == "province" else "none" if style == "none" else "city") if n else None

    def university(self, city_short: str, prov_short: str, style: str) -> tuple[str, str] | None:
        c, ch = self.c, self.ch

        def body() -> str:
            kind = ch(c["university_kinds"])
            return (ch(c["university_subjects"]) + kind) if kind == "大学" else (ch(c["college_subjects"]) + kind)
        if style == "city":
            n = self.draw(lambda: f"{city_short}{body()}", city_short, tries=25) or \
                self.draw(lambda: f"{city_short}大学", city_short, tries=1)
            return (n, "city") if n else None
        if style == "province":
            n = self.draw(lambda: f"{prov_short}{body()}", prov_short, tries=25)
            return (n, "province") if n else None
        n = self.draw(lambda: f"{ch(c['regions'])}{ch(c['university_subjects'])}大学", None, tries=25)
        return (n, "none") if n else None

    def institute(self, city_short: str, city_full: str, prov_short: str, style: str) -> tuple[str, str] | None:
        c, ch = self.c, self.ch
        f, k = c["institute_fields"], c["institute_kinds"]
        if style == "city":
            n = None
            for _ in range(30):
                form = int(self.r.random() * 3)
                if form == 0:
                    n = self.draw(lambda: f"{city_full}{ch(f)}{ch(k)}", city_full, tries=1)
                elif form == 1:
                    n = self.draw(lambda: f"{city_short}{ch(f)}{ch(k)}", city_short, tries=1)
                else:
                    n = self.draw(lambda: f"中国科学院{city_short}{ch(f)}研究所", city_short, tries=1)
                if n:
                    break
            return (n, "city") if n else None
        if style == "province":
            n = self.draw(lambda: ch([f"{prov_short}省{ch(f)}{ch(k)}", f"{prov_short}{ch(f).removesuffix('科学')}科学院"]), prov_short, tries=30)
            return (n, "province") if n else None
        n = self.draw(lambda: f"中国科学院{ch(f)}研究所", None, tries=30)
        return (n, "none") if n else None

    def other(self, city_full: str) -> tuple[str, str] | None:
        n = self.draw(lambda: f"{city_full}{self.ch(self.c['other_kinds'])}", city_full, tries=10)
        if n is None:   # a city may run out of kinds: number them
            n = self.draw(lambda: f"{city_full}第{int(self.r.random() * 97) + 2}{self.ch(['人民医院', '中医院'])}",
                          city_full, tries=40)
        return (n, "city") if n else None

    # --- individuals ---------------------------------------------------------------------
    def person(self) -> str | None:
        sur, giv, r, three = self.c["surnames"], self.c["given_chars"], self.r, self.three_char_share
        return self.draw(lambda: self.ch(sur) + self.ch(giv) + (self.ch(giv) if r.random() < three else ""),
                         None, tries=200)


def _style_table(styles: dict, kind: str, short: str, pshort: str, ambiguous: set[str],
                 city_shorts: set[str]) -> tuple[list[str], list[float]]:
    opts = dict(styles[kind])
    if short in ambiguous:
        for k in ("city", "city_shi", "bracket"):
            opts.pop(k, None)
    # a province short name that is also a city's short name (吉林) would locate to that city
    if not pshort or pshort in ambiguous or pshort in city_shorts:
        opts.pop("province", None)
    keys = list(opts)
    cum = np.cumsum([opts[k] for k in keys], dtype=float)
    return keys, list(cum / cum[-1])


def generate_entities(seed: int, counts: pd.DataFrame, nconf: dict) -> pd.DataFrame:
    """Entities for per-city pool sizes.

    counts: city_code, n_univ, n_inst, n_other, n_ent (together the `app` pool, in this order),
            n_recip, n_lead, n_co.
    nconf: conf/generator.yaml `names:`; its `styles` are the name-place style probabilities
            {enterprise: {city, city_shi, bracket, province, none}, university: {city, province, none},
            institute: {city, province, none}}.
    Returns ENTITY_COLUMNS sorted by (city, pool, pool_idx); entity_id is the row number, so
    entities of one (city, pool) are contiguous; foreign and non-city organisations last."""
    styles = nconf["styles"]
    namer = _Namer(seed, nconf["three_char_name_share"])
    rng = stream(seed, "entities")
    cities = places.city_frame().set_index("city_code")
    city_shorts = set(cities["short_name"])
    dist = places.districts()
    streets = np.array(places.streets(), dtype=object)
    zones = np.array(places.zones(), dtype=object)
    bld = places.names_conf()["buildings"]
    frames: list[pd.DataFrame] = []
    by_city = {code: g for code, g in dist.groupby("city_code")}

    for rec in counts.sort_values("city_code").itertuples(index=False):
        city = cities.loc[rec.city_code]
        short, full = city["short_name"], city["city_name"]
        pshort = city["prov_short"] or short
        tables = {k: _style_table(styles, k, short, pshort, namer.ambiguous, city_shorts)
                  for k in ("enterprise", "university", "institute")}

        def style(kind: str) -> str:
            keys, cum = tables[kind]
            return keys[min(bisect.bisect_right(cum, namer.r.random()), len(keys) - 1)]

        made: list[tuple[str, str, str, str]] = []     # name, org_type, pool, name_place
        for _ in range(rec.n_univ):
            m = namer.university(short, pshort, style("university"))
            if m:
                made.append((m[0], "university", "app", m[1]))
        for _ in range(rec.n_inst):
            m = namer.institute(short, full, pshort, style("institute"))
            if m:
                made.append((m[0], "institute", "app", m[1]))
        for _ in range(rec.n_other):
            m = namer.other(full) if short not in namer.ambiguous else None
            if m:
                made.append((m[0], "other", "app", m[1]))
        for pool, n in (("app", rec.n_ent), ("recip", rec.n_recip)):
            for _ in range(n):
                m = None
                while m is None:
                    m = namer.enterprise(short, full, pshort, style("enterprise"))
                made.append((m[0], "enterprise", pool, m[1]))
        for pool, n in (("lead", rec.n_lead), ("co", rec.n_co)):
            for _ in range(n):
                p = namer.person()
                if p is not None:
                    made.append((p, "individual", pool, "none"))
        if not made:
            continue
        k = len(made)
        df = pd.DataFrame(made, columns=["name", "org_type", "pool", "name_place"])
        df["kind"], df["city_code"] = "domestic", rec.city_code
        df["anchored"] = df["pool"] == "app"
        dd = by_city[rec.city_code]
        city_mask = int(dd.loc[dd["district"] == "", "form_mask"].sum())
        dl = dd[dd["district"] != ""]
        if len(dl):
            pick = rng.integers(len(dl), size=k)
            df["district"] = dl["district"].to_numpy()[pick]
            df["form_mask"] = dl["form_mask"].to_numpy()[pick] | city_mask
        else:
            df["district"], df["form_mask"] = "", city_mask
        for col, src in (("prov_full", "prov_full"), ("prov_short", "prov_short"), ("city_name", "city_name"),
                         ("city_short_addr", "city_short_addr"), ("postcode", "postcode")):
            df[col] = city[src]
        df["zone"] = zones[rng.integers(len(zones), size=k)]
        df["street"] = streets[rng.integers(len(streets), size=k)]
        df["number"] = rng.integers(1, nconf["street_number_max"] + 1, size=k).astype(str)
        has_b = rng.random(k) < nconf["building_share"]
        bi, bn = rng.integers(len(bld), size=k), rng.integers(1, nconf["building_number_max"] + 1, size=k)
        df["building"] = [bld[i].format(n=n) if h else "" for h, i, n in zip(has_b, bi, bn)]
        df["fixed_address"] = None
        frames.append(df)

    conf = places.names_conf()
    extra: list[dict] = []
    for name, addr in conf["foreign"]:
        if name not in namer.used:
            namer.used.add(name)
            extra.append(_fixed(name, "university" if "大学" in name else "enterprise", "foreign", addr))
    streets_l = list(streets)
    noncity_max = nconf["noncity_street_number_max"]
    for unit, code, prov in places.non_city_places().itertuples(index=False):
        ushort = places.strip_suffix(unit)
        for _ in range(nconf["noncity_orgs_per_unit"]):
            n = namer.draw(lambda: f"{ushort}{namer.ch(namer.brands)}{namer.ch(namer.industries)}有限公司", ushort)
            if n:
                addr = f"{prov}{unit}{namer.ch(streets_l)}{int(namer.r.random() * noncity_max) + 1}号"
                extra.append(_fixed(n, "enterprise", "noncity", addr))
    frames.append(pd.DataFrame(extra))
    df = pd.concat(frames, ignore_index=True)
    pool_order = {p: i for i, p in enumerate(POOLS + ("foreign", "noncity"))}
    df["_po"] = df["pool"].map(pool_order)
    df["_city"] = df["city_code"].fillna("~")
    df = df.sort_values(["_city", "_po"], kind="stable").drop(columns=["_po", "_city"]).reset_index(drop=True)
    df["pool_idx"] = df.groupby([df["city_code"].fillna("~"), "pool"]).cumcount()
    df["entity_id"] = np.arange(len(df), dtype=np.int64)
    df["form_mask"] = df["form_mask"].astype(np.int64)
    return df[ENTITY_COLUMNS]


def _fixed(name: str, org_type: str, kind: str, address: str) -> dict:
    pool = "foreign" if kind == "foreign" else "noncity"
    return dict(name=name, org_type=org_type, kind=kind, city_code=None, pool=pool, name_place="none",
                anchored=False, prov_full="", prov_short="", city_name="", city_short_addr="", district="",
                zone="", street="", number="", building="", postcode="", form_mask=0, fixed_address=address)


def pool_offsets(entities: pd.DataFrame) -> pd.DataFrame:
    """city_code, pool -> first entity_id and size (for picking entity = offset + index)."""
    g = entities.groupby([entities["city_code"].fillna(""), "pool"])["entity_id"].agg(["min", "count"]).reset_index()
    return g.rename(columns={"min": "offset", "count": "size"})
