"""conf/panel.yaml as `PanelSettings`, validated: study years, the SPEC §3 sample rule and the
value spellings of the panel inputs (docs/panel.md); read by the controls and panel stages."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from greenlink.core.config import conf_file, load_yaml, read_years
from greenlink.core.errors import UserError
from greenlink.core.text import text_key
from greenlink.reference.gazetteer import cities

# The er indicators (SPEC §5, gold.controls.entropy): yearbook columns like CONTROL_VALUES, declared here
# (no Spark) so that gold.tables builds silver.city_controls and gold.er_index from them.
ER_INDICATORS: tuple[str, ...] = (
    "so2_removal_rate",             # industrial SO2 removal rate, %
    "cod_removal_rate",             # industrial COD removal rate, %
    "solid_waste_utilisation_rate", # general industrial solid-waste comprehensive utilisation rate, %
    "sewage_treatment_rate",        # urban sewage treatment rate, %
    "garbage_harmless_rate",        # harmless treatment rate of household garbage, %
)
CONTROL_VALUES: tuple[str, ...] = ("pgdp", "fdi", "deposits_loans", "gdp", "ins")
# Every value column of silver.city_controls, in order: the SPEC §5 controls, then er's indicators.
CITY_CONTROL_VALUES: tuple[str, ...] = CONTROL_VALUES + ER_INDICATORS


@dataclass(frozen=True)
class PanelSettings:
    years: tuple[int, int]
    sample_columns: tuple[str, ...]
    max_missing_share: float
    min_observed_years: int
    missing_markers: tuple[str, ...]          # as written (trimmed); matched exactly after trimming
    admin_levels: Mapping[str, str]           # text_key(spelling) -> canonical level
    cgl_levels: frozenset[str]                # canonical levels with cgl = 1
    city_aliases: Mapping[str, str]           # name as written -> city_code
    source: str = ""

    @property
    def year_list(self) -> list[int]:
        return list(range(self.years[0], self.years[1] + 1))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PanelSettings":
        path = Path(path) if path else conf_file("panel.yaml")
        data = load_yaml(path)
        where = str(path)
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a mapping")
        known = {"years", "sample", "missing_markers", "admin_levels", "city_aliases"}
        unknown = sorted(set(map(str, data)) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        years = read_years(data.get("years"), f"{where}: years")
        sample = _mapping(data.get("sample"), f"{where}: sample")
        columns = tuple(str(c) for c in (sample.get("columns") or ()))
        bad = [c for c in columns if c not in CITY_CONTROL_VALUES]
        if not columns or bad or len(set(columns)) != len(columns):
            raise UserError(f"{where}: sample.columns must list distinct columns of {', '.join(CITY_CONTROL_VALUES)}"
                            + (f" (unknown: {', '.join(bad)})" if bad else ""))
        try:
            share = float(sample.get("max_missing_share"))
            min_obs = int(sample.get("min_observed_years", 1))
        except (TypeError, ValueError):
            raise UserError(f"{where}: sample.max_missing_share must be a number and "
                            "sample.min_observed_years an integer") from None
        if not 0.0 <= share <= 1.0:
            raise UserError(f"{where}: sample.max_missing_share must lie in [0, 1], got {share}")
        n_years = years[1] - years[0] + 1
        if not 0 <= min_obs <= n_years:
            raise UserError(f"{where}: sample.min_observed_years must lie in 0..{n_years}, got {min_obs}")
        markers = tuple(str(m).strip() for m in (data.get("missing_markers") or [""]))
        levels: dict[str, str] = {}
        for canonical, spellings in _mapping(data.get("admin_levels"), f"{where}: admin_levels").items():
            for s in [canonical, *(spellings or [])]:
                if levels.setdefault(text_key(s), str(canonical)) != str(canonical):
                    raise UserError(f"{where}: admin level spelling {s!r} listed under two levels")
        cities_yaml = load_yaml(conf_file("cities.yaml"))
        cgl = frozenset(str(x) for x in (cities_yaml.get("cgl_levels") or ()))
        missing_levels = sorted(cgl - set(levels.values()))
        if missing_levels:
            raise UserError(f"{where}: admin_levels lacks the cgl level(s) {', '.join(missing_levels)} "
                            "of conf/cities.yaml")
        aliases = {str(k): str(v) for k, v in _mapping(data.get("city_aliases") or {},
                                                       f"{where}: city_aliases").items()}

        codes = set(cities()["city_code"])
        wrong = sorted(f"{k} -> {v}" for k, v in aliases.items() if v not in codes)
        if wrong:
            raise UserError(f"{where}: city_aliases name codes that are not city units: {', '.join(wrong)}")
        return cls(years=years, sample_columns=columns, max_missing_share=share, min_observed_years=min_obs,
                   missing_markers=markers, admin_levels=levels, cgl_levels=cgl, city_aliases=aliases,
                   source=where)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping")
    return value
