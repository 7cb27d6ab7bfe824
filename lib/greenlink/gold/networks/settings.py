"""conf/networks.yaml as `NetworksSettings`: the networks stage's settings file, validated (the file
documents each key); `NetworksConfig` (networks.stage) names the file and the command line's overrides."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from greenlink.core.config import conf_file, load_yaml, study_years
from greenlink.core.errors import UserError
from greenlink.core.text import PLAUSIBLE_YEARS
from greenlink.gold.networks.centrality import CC_ALGORITHMS
from greenlink.gold.networks.inputs import PATENT_YEARS
from greenlink.silver.applicants import ORG_TYPES


@dataclass(frozen=True)
class NetworksSettings:
    """conf/networks.yaml, validated (the file documents each key)."""

    years: tuple[int, int]
    patent_year: str
    org_types: tuple[str, ...]
    sources_per_task: int
    top_k: int
    figures: bool
    components_algorithm: str
    pagerank_tol: float

    @property
    def year_list(self) -> list[int]:
        return list(range(self.years[0], self.years[1] + 1))

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "NetworksSettings":
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping of settings")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UserError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        missing = [k for k in known if k not in data]
        if missing:
            raise UserError(f"{source}: missing setting(s) {', '.join(missing)}")
        years = data["years"]
        if (not isinstance(years, (list, tuple)) or len(years) != 2
                or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
                or not PLAUSIBLE_YEARS[0] <= years[0] <= years[1] <= PLAUSIBLE_YEARS[1]):
            raise UserError(f"{source}: years must be [first, last] with {PLAUSIBLE_YEARS[0]} <= first <= last "
                            f"<= {PLAUSIBLE_YEARS[1]}, got {years!r}")
        if data["patent_year"] not in PATENT_YEARS:
            raise UserError(f"{source}: patent_year must be one of {', '.join(PATENT_YEARS)}, "
                            f"got {data['patent_year']!r}")
        org_types = data["org_types"]
        allowed = [t for t in ORG_TYPES if t != "individual"]
        if not isinstance(org_types, (list, tuple)) or not org_types or any(t not in allowed for t in org_types):
            raise UserError(f"{source}: org_types must be a non-empty list of {', '.join(allowed)} "
                            f"(individuals are never network actors, SPEC §4), got {org_types!r}")
        for key in ("sources_per_task", "top_k"):
            v = data[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UserError(f"{source}: {key} must be a positive integer, got {v!r}")
        if not isinstance(data["figures"], bool):
            raise UserError(f"{source}: figures must be true or false, got {data['figures']!r}")
        if data["components_algorithm"] not in CC_ALGORITHMS:
            raise UserError(f"{source}: components_algorithm must be one of {', '.join(CC_ALGORITHMS)}, "
                            f"got {data['components_algorithm']!r}")
        tol = data["pagerank_tol"]
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not 0 < tol < 1:
            raise UserError(f"{source}: pagerank_tol must be a number between 0 and 1, got {tol!r}")
        return cls(years=(int(years[0]), int(years[1])), patent_year=str(data["patent_year"]),
                   org_types=tuple(dict.fromkeys(org_types)), sources_per_task=int(data["sources_per_task"]),
                   top_k=int(data["top_k"]), figures=bool(data["figures"]),
                   components_algorithm=str(data["components_algorithm"]), pagerank_tol=float(tol))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "NetworksSettings":
        """The file's settings; `years` defaults to the study years (conf/panel.yaml)."""
        path = Path(path) if path else conf_file("networks.yaml")
        data = load_yaml(path)
        if isinstance(data, dict) and "years" not in data:
            data = {**data, "years": list(study_years())}
        return cls.from_dict(data, str(path))

    def with_overrides(self, source: str, **changes: Any) -> "NetworksSettings":
        """A copy with the given settings replaced (None = keep), validated again."""
        data = {**asdict(self), **{k: v for k, v in changes.items() if v is not None}}
        return NetworksSettings.from_dict(data, source)
