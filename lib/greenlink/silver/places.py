"""Place names for locating (silver.locate): the reference data and the pure-Python matchers.

- `load_config`: cpca adcodes -> city units, the place-name table (`build_places`) and the
  lists of conf/place_aliases.yaml, as one picklable `LocateSettings` (built on the driver);
- `parse_address`: an address -> city unit, or the reason it has none (cpca);
- `NameMatcher`: place names inside an organisation name -> city unit, or the reason.

They run on the executors over DISTINCT strings inside `mapInPandas` (`locate`). Rule order,
reasons and limits: docs/locate.md.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import pandas as pd

from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.reference import gazetteer


# --- reference data (built on the driver, shipped to workers inside the closures) ------

@dataclass(frozen=True)
class PlaceEntry:
    """What a place token in an organisation name means.

    kind: province | city (prefecture or municipality) | county (district / county-level
    city, mapped to its prefecture) | noncity (county-level unit directly under a
    province) | ambiguous (several cities). `restricted` tokens (short names of
    county-level cities) count only at the start, in brackets or after a unit word."""

    kind: str
    city_code: str | None
    province_code: str | None
    restricted: bool = False


@dataclass(frozen=True)
class LocateSettings:
    """Everything the worker-side matchers need; plain data, pickled into the closures."""

    city_of_adcode: dict[str, str | None]      # every cpca adcode (6 digits) -> city unit
    places: dict[str, PlaceEntry]              # name token -> meaning
    country_prefixes: tuple[str, ...]
    foreign_regions: tuple[str, ...]
    masked_phrases: tuple[str, ...]
    unit_words: tuple[str, ...]
    fingerprint: str = field(default="")


_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def _str_list(data: dict, key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{path}: `{key}` must be a list of non-empty strings")
    return tuple(value)


def build_places(city_of: dict[str, str | None], aliases: dict[str, str],
                 county_short_exclude: Iterable[str]) -> dict[str, PlaceEntry]:
    """Name tokens of the gazetteer, in precedence order (an earlier meaning of a token wins):
    1. provinces (江苏省, 江苏; 内蒙古自治区, 内蒙古) — so 吉林 and 海南 read as provinces;
    2. municipalities (北京市, 北京) and prefecture-level cities: full name, short name
       (苏州, 恩施) and `<short>州` for autonomous prefectures (恩施州);
    3. full names of districts and county-level units (昆山市, 海淀区, 仙桃市) with at least
       3 characters or ending in 县 (东区/城区/矿区 are words too);
    4. short names of county-level cities (昆山, 江阴), restricted, minus the exclusions;
    aliases from conf (浦东) override. A token meaning several different cities is
    `ambiguous`."""
    ad = gazetteer.adcodes()
    cities = gazetteer.cities()
    places: dict[str, PlaceEntry] = {}

    def put(token: str, entry: PlaceEntry) -> None:
        if len(token) >= 2 and token not in places:
            places[token] = entry

    provinces = ad[(ad["code"].str[2:] == "0000")]
    munis = set(gazetteer.MUNICIPALITY_PROVINCES)
    for code, name in zip(provinces["code"], provinces["name"]):
        if code[:2] in munis:
            continue
        for token in (name, gazetteer.province_short(name)):
            put(token, PlaceEntry("province", None, code))
    for row in cities.itertuples():
        entry = PlaceEntry("city", row.city_code, row.province_code)
        for token in gazetteer.city_keys(row.city_name, row.short_name):
            put(token, entry)

    def group(tokens: pd.Series, codes: pd.Series, restricted: bool) -> dict[str, PlaceEntry]:
        out: dict[str, PlaceEntry] = {}
        for token, cs in pd.DataFrame({"t": tokens, "c": codes}).groupby("t")["c"]:
            units = {city_of.get(c) for c in cs}
            provs = {c[:2] + "0000" for c in cs}
            if len(units) == 1 and None not in units:
                city = units.pop()
                out[token] = PlaceEntry("county", city, city[:2] + "0000", restricted)
            elif units == {None} and len(provs) == 1:
                out[token] = PlaceEntry("noncity", None, provs.pop(), restricted)
            else:
                out[token] = PlaceEntry("ambiguous", None, None, restricted)
        return out

    # County-level units; those directly under a province (429004 仙桃市) sit below a
    # placeholder "city" (省直辖县级行政区划) and become `noncity`.
    counties = ad[(ad["code"].str[4:] != "00") & ~ad["name"].isin(_PLACEHOLDERS)]
    full = counties[(counties["name"].str.len() >= 3) | counties["name"].str.endswith("县")]
    for token, entry in group(full["name"], full["code"], False).items():
        put(token, entry)
    exclude = set(county_short_exclude)
    county_cities = counties[counties["name"].str.endswith("市")]
    short = county_cities["name"].str[:-1]
    keep = (short.str.len() >= 2) & ~short.isin(exclude)
    for token, entry in group(short[keep], county_cities["code"][keep], True).items():
        put(token, entry)
    for token, code in aliases.items():
        code = str(code)
        if code not in set(cities["city_code"]):
            raise UserError(f"place alias {token!r}: {code!r} is not a city_code of the gazetteer")
        places[token] = PlaceEntry("city", code, code[:2] + "0000")
    return places


def load_config(path: str | Path | None = None) -> LocateSettings:
    """Reference data for locating: cpca adcodes -> city units, the place-name table and
    the lists of conf/place_aliases.yaml (validated; errors name the file)."""
    path = Path(path) if path else conf_file("place_aliases.yaml")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping")
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise UserError(f"{path}: `aliases` must map a name to a 6-digit city_code")
    ad = gazetteer.adcodes()
    city_of = {c: gazetteer.city_of_adcode(c) for c in ad["code"]}
    places = build_places(city_of, {str(k): str(v) for k, v in aliases.items()},
                          _str_list(data, "county_short_exclude", path))
    cfg = LocateSettings(
        city_of_adcode=city_of, places=places,
        country_prefixes=tuple(sorted(_str_list(data, "country_prefixes", path), key=len, reverse=True)),
        foreign_regions=_str_list(data, "foreign_regions", path),
        masked_phrases=_str_list(data, "masked_phrases", path),
        unit_words=_str_list(data, "unit_words", path),
    )
    blob = json.dumps([sorted(city_of.items(), key=str), sorted((k, v.__dict__) for k, v in places.items()),
                       cfg.country_prefixes, cfg.foreign_regions, cfg.masked_phrases, cfg.unit_words],
                      ensure_ascii=False, default=str)
    return LocateSettings(**{**cfg.__dict__, "fingerprint": hashlib.sha256(blob.encode()).hexdigest()})


@lru_cache(maxsize=1)
def default_config() -> LocateSettings:
    return load_config()


# --- addresses (pure Python, runs on workers over distinct addresses) ------------------

_LEADING_JUNK = re.compile(r"^[\s\d\-_.,:;#()\[\]<>/\\|*+'\"`~!@$%^&=?]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def parse_address(text: str | None, cfg: LocateSettings) -> tuple[str | None, str | None, str | None]:
    """(city_code, province_code, reason) of one cleaned address; reason is None when
    located. Order: empty -> missing; foreign prefix or no Chinese -> foreign; cpca walk
    (placeholders skipped; a match is kept only inside the previous one; a match whose
    candidates lie in several cities with nothing above it -> ambiguous); then the adcode
    is mapped to its city unit."""
    import cpca  # loads its matcher once per worker process

    if text is None or not text.strip():
        return None, None, "missing_address"
    s = _LEADING_JUNK.sub("", text)
    if not s:  # only a postcode or punctuation
        return None, None, "unparseable_address"
    for prefix in cfg.country_prefixes:
        if s.startswith(prefix):
            s = _LEADING_JUNK.sub("", s[len(prefix):])
            break
    if not s:
        return None, None, "unparseable_address"
    if s.startswith(cfg.foreign_regions):
        return None, None, "foreign_address"
    if not _HAN.search(s):
        return None, None, "foreign_address" if _LATIN.search(s) else "unparseable_address"
    last = None
    ambiguous = False
    for match in cpca.matcher.iter(s):
        if match.origin_value in _PLACEHOLDERS:
            continue
        cands = [a for a in match.attr_infos if last is None or a.belong_to(last)]
        if not cands:
            continue
        units = {_unit_of(a, cfg) for a in cands}
        if len(units) > 1:
            ambiguous = True
            break
        last = cands[0]
        if last.rank == 2:
            break
    if last is None:
        if ambiguous:
            return None, None, "ambiguous_address"
        if any(r in s for r in cfg.foreign_regions):
            return None, None, "foreign_address"
        return None, None, "unparseable_address"
    code = last.adcode[:6]
    province = code[:2] + "0000"
    if code[:2] in gazetteer.EXCLUDED_PROVINCES:
        return None, None, "foreign_address"
    if last.rank == 0 and code[:2] not in gazetteer.MUNICIPALITY_PROVINCES:
        return None, province, "ambiguous_address" if ambiguous else "province_only_address"
    city = cfg.city_of_adcode.get(code)
    if city is None:
        return None, province, "not_a_city_unit"
    return city, city[:2] + "0000", None


def _unit_of(addr_info, cfg: LocateSettings) -> str:
    """The city unit a cpca match stands for (provinces stand for themselves)."""
    code = addr_info.adcode[:6]
    if addr_info.rank == 0 and code[:2] not in gazetteer.MUNICIPALITY_PROVINCES:
        return "P" + code
    return cfg.city_of_adcode.get(code) or "N" + code


# --- organisation names (pure Python, over distinct names) -----------------------------

_LEADING, _MIDDLE, _AFTER_UNIT, _IN_BRACKETS = 2, 1, 3, 4   # position ranks: higher wins


@dataclass
class _Hit:
    start: int
    end: int
    entry: PlaceEntry
    rank: int = _MIDDLE


class NameMatcher:
    """Place names inside an organisation name -> (city_code, province_code, reason).

    Tokens are found leftmost-longest (Aho-Corasick over the place table) after masking
    the phrases of conf (中山大学). Each hit gets a position rank:
      in brackets (哈尔滨工业大学(深圳))           4
      right after a unit word (…大学|苏州研究院)  3
      leading chain: the hit at position 0 and hits directly following it, each inside
      the previous one (江苏|苏州|昆山…)            2
      anywhere else (中石化|南京|化工研究院)         1
    Restricted tokens (county-level city short names) count only with rank >= 2; a rank-1
    hit in another province than a leading province is dropped (江苏长治XX公司: 长治 is a
    trade name). The city of the best hit (highest rank, then rightmost = most specific)
    wins; without a city hit the reason says what was found."""

    def __init__(self, cfg: LocateSettings) -> None:
        import ahocorasick  # cpca's own dependency

        self.cfg = cfg
        self.automaton = ahocorasick.Automaton()
        for token in cfg.places:
            self.automaton.add_word(token, token)
        self.automaton.make_automaton()
        self.unit_words = tuple(sorted(cfg.unit_words, key=len, reverse=True))

    def _hits(self, text: str) -> list[_Hit]:
        found = sorted(((end - len(tok) + 1, end + 1, tok) for end, tok in self.automaton.iter(text)),
                       key=lambda h: (h[0], h[0] - h[1]))
        hits, pos = [], 0
        for start, end, tok in found:
            if start >= pos:
                hits.append(_Hit(start, end, self.cfg.places[tok]))
                pos = end
        return hits

    def locate(self, name: str) -> tuple[str | None, str | None, str]:
        text = name
        for phrase in self.cfg.masked_phrases:
            text = text.replace(phrase, "\0" * len(phrase))
        hits = self._hits(text)
        depth = [0] * (len(text) + 1)
        for i, ch in enumerate(text):
            depth[i + 1] = depth[i] + (ch == "(") - (ch == ")")
        chain_end, prev = 0, None
        for h in hits:
            if h.start == chain_end and h.entry.kind != "ambiguous" and (prev is None or _inside(h.entry, prev)):
                h.rank, chain_end, prev = _LEADING, h.end, h.entry
            else:
                break
        lead_province = hits[0].entry.province_code if hits and hits[0].rank == _LEADING else None
        for h in hits:
            if depth[h.start] > 0:
                h.rank = _IN_BRACKETS
            elif h.rank != _LEADING and text[:h.start].rstrip(" )").endswith(self.unit_words):
                h.rank = _AFTER_UNIT
        valid = [h for h in hits
                 if not (h.entry.restricted and h.rank < _LEADING)
                 and not (h.rank == _MIDDLE and lead_province and h.entry.province_code != lead_province)]
        best = lambda hs: max(hs, key=lambda h: (h.rank, h.start))  # noqa: E731
        located = [h for h in valid if h.entry.city_code]
        if located:
            h = best(located)
            return h.entry.city_code, h.entry.province_code, None
        for kind, reason in (("noncity", "not_a_city_unit"), ("province", "province_only_in_name")):
            found = [h for h in valid if h.entry.kind == kind]
            if found:
                return None, best(found).entry.province_code, reason
        if any(h.entry.kind == "ambiguous" for h in valid):
            return None, None, "ambiguous_place_in_name"
        if name.startswith(self.cfg.foreign_regions):
            return None, None, "foreign_name"
        if not _HAN.search(name):
            return None, None, "non_chinese_name"
        return None, None, "no_place_in_name"


def _inside(child: PlaceEntry, parent: PlaceEntry) -> bool:
    if parent.city_code:
        return child.city_code == parent.city_code
    return parent.province_code is not None and child.province_code == parent.province_code


_MATCHERS: dict[str, NameMatcher] = {}


def name_matcher(cfg: LocateSettings) -> NameMatcher:
    """One matcher per configuration per (worker) process."""
    key = cfg.fingerprint or str(id(cfg))
    if key not in _MATCHERS:
        _MATCHERS[key] = NameMatcher(cfg)
    return _MATCHERS[key]
