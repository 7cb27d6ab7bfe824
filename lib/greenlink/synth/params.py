"""Generator parameters: conf/generator.yaml as data, validated against `SCHEMA`.

Every parameter the generator reads is declared in `SCHEMA` with its type; `load` checks
the file, the named profile and the overrides against it, so a missing, misspelt or
mistyped parameter is a UserError naming it (not a KeyError deep inside a Spark job)."""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError


def _conf() -> dict[str, Any]:
    base = load_yaml(conf_file("generator.yaml"))
    if not isinstance(base, dict):
        raise UserError("conf/generator.yaml: expected a mapping")
    return base


def load(overrides: dict[str, Any] | None = None, profile: str | None = None) -> dict[str, Any]:
    """The parameters, with the named `profile` (conf/generator.yaml `profiles:`) and then
    `overrides` (nested dict) merged in; an override naming a key that conf/generator.yaml
    does not have is a UserError (catches typos)."""
    base = _conf()
    base.pop("profiles", None)          # named override sets, not parameters
    if profile:
        base = merge(base, profile_overrides(profile))
    out = merge(base, overrides or {})
    validate(out)
    return out


def profile_overrides(name: str) -> dict[str, Any]:
    """The overrides of a named profile (`extends: other` first applies that profile's),
    e.g. to pass to `generate(..., overrides=...)`."""
    profiles = _conf().get("profiles") or {}
    if name not in profiles:
        raise UserError(f"unknown generator profile {name!r} (conf/generator.yaml profiles: {', '.join(profiles)})")
    prof = copy.deepcopy(profiles[name])
    parent = prof.pop("extends", None)
    return _deep_update(profile_overrides(parent), prof) if parent else prof


def _deep_update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_update(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else copy.deepcopy(v)
    return out


def merge(base: dict[str, Any], over: dict[str, Any], path: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        where = f"{path}{k}"
        if k not in out:
            raise UserError(f"unknown generator parameter {where!r}")
        if isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = merge(out[k], v, where + ".")
        else:
            out[k] = copy.deepcopy(v)
    return out


# --- the schema --------------------------------------------------------------------------------
# A leaf is a type name: "num" (int or float), "int", "str", "nums" / "ints" (lists of them),
# "pair" (two numbers lo <= hi), "num_map" (a mapping of anything to numbers), "map", "list"
# (free-form: banks and file layouts, checked by their users); a dict declares its keys.
_SHARES = {"invention": "num", "utility": "num", "design": "num"}
SCHEMA: dict[str, Any] = {
    "years": "pair", "burn_in_years": "int", "full_scale_patents": "int",
    "cities": {
        "n_degraded": "int", "size_sigma": "num",
        "prominence": {"municipality": "num", "sub_provincial": "num", "provincial_capital": "num", "noise_sd": "num"},
        "province_bonus": "num_map", "degraded_name_pattern": "str",
    },
    "patents": {
        "year_growth": "num", "city_year_noise_sd": "num", "type_shares": _SHARES,
        "invention_grant_rate": "num_map", "green_share": "num", "applicant_count_weights": "nums",
        "cross_city_coapplicant_share": "num", "coapplicant_distance_km": "num", "foreign_coapplicant_share": "num",
        "coapplicant_same_province": "num", "collab_extra_applicant_share": "num",
        "source_extra_applicant_share": "num", "symbol_count_weights": "nums", "green_main_share": "num",
        "later_green_share": "num", "individual_first_share": _SHARES, "individual_coapplicant_share": "num",
        "patents_per_org": "num", "patents_per_individual": "num", "org_popularity_power": "num",
        "org_type_shares": {"university": "num", "institute": "num", "other": "num"}, "max_univ_per_city": "int",
        "recipient_orgs_per_city": "num", "grant_lag_days": "pair", "export_date": "str",
    },
    "names": {"styles": "map", "address_form_weights": "nums", "three_char_name_share": "num",
              "street_number_max": "int", "building_share": "num", "building_number_max": "int",
              "noncity_orgs_per_unit": "int", "noncity_street_number_max": "int"},
    "ipc": {"near_neighbour_share": "num", "generic_per_subclass": "int", "generic_subclasses": "list",
            "dirty_forms": "num_map", "version_dates": "list", "garbage": "list"},
    "network": {
        "intensity_exponent": "num", "small_world_compensation": {"gtr": "num", "rsi": "num"},
        "intensity_boost": "num", "collab_distance_km": "num", "collab_same_province": "num",
        "triangle_share": "num", "transfer_distance_km": "num", "transfer_same_province": "num",
        "transfer_local_share": "num", "transfer_local_share_sd": "num", "transfer_local_share_bounds": "pair",
        "transfer_size_power": "num", "second_owner_share": "num", "transfer_lag_weights": "nums",
        "degraded_layer_share": "num", "nongreen_transfer_share": "num", "pre2010_transfer_share": "num",
    },
    "system": {
        "alpha": "num", "beta": "num",
        "lambda": dict.fromkeys(("dc_out", "dc_in", "bc_gt", "ln_app", "ln_pgdp", "qrate", "cgl", "HSR"), "num"),
        "gamma": dict.fromkeys(("DC", "BC", "er", "ln_fdi", "fin", "ins", "ln_app", "ln_pgdp", "qrate", "cgl", "HSR"),
                               "num"),
        **{k: {"gtr": "num", "rsi": "num"}
           for k in ("intercept", "year_trend", "year_effect_sd", "city_effect_sd", "error_sd")},
    },
    "controls": {
        **dict.fromkeys(("pgdp_2010_log_mean", "pgdp_size_elasticity", "pgdp_sd", "pgdp_growth", "pgdp_year_sd",
                         "population_median", "population_size_elasticity", "population_sd",
                         "fdi_log_mean", "fdi_size_elasticity", "fdi_sd", "fdi_trend", "fdi_year_sd",
                         "fin_mean", "fin_sd", "fin_trend", "fin_year_sd", "fin_min",
                         "ins_mean", "ins_sd", "ins_trend", "ins_year_sd", "env_sd", "env_trend", "env_year_sd",
                         "qrate_ratio_mean", "qrate_ratio_sd", "grants_2010", "grants_growth", "grants_sd",
                         "sample_env_gap_rate", "degraded_gap_rate", "yearbook_short_name_share"), "num"),
        "ins_bounds": "pair", "env_bounds": "pair", "degraded_gap_run_years": "pair",
        "env_means": dict.fromkeys(("so2", "cod", "solid", "sewage", "garbage"), "num"),
        "hsr_open_prob": {"top": "num", "mid": "num", "low": "num"},
        "hsr_rank_bands": {"top": "num", "mid": "num"},
        "hsr_first_year": "int", "hsr_span_years": "int",
        "hsr_timing_beta": {"a": "num", "a_per_rank": "num", "b": "num"},
    },
    "policies": {"per_province_year": "pair", "agencies_min": "int", "agencies_max": "int",
                 "agencies_extra_poisson": "num", "tool_type_counts": "nums"},
    "defects": {"rate": "num", "weights": "num_map", "transfer_weights": "num_map"},
    "files": {"patents": "list", "transfers": "list", "date_mix": "num", "appno_mix": "num", "ipc_spaced_share": "num",
              "garbage_only_single_share": "num", "bad_grant_garbage_share": "num", "bad_grant_days_before": "pair",
              "missing_owners_before_share": "num", "headers": "map", "bad_dates": "list", "unknown_types": "list"},
}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_CHECKS: dict[str, tuple[str, Any]] = {
    "num": ("a number", _is_num),
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "nums": ("a list of numbers", lambda v: isinstance(v, list) and bool(v) and all(map(_is_num, v))),
    "pair": ("two numbers [lo, hi] with lo <= hi",
             lambda v: isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and v[0] <= v[1]),
    "num_map": ("a mapping to numbers", lambda v: isinstance(v, dict) and all(map(_is_num, v.values()))),
    "map": ("a mapping", lambda v: isinstance(v, dict)),
    "list": ("a list", lambda v: isinstance(v, list)),
}


def validate(params: dict[str, Any], schema: dict[str, Any] | None = None, path: str = "") -> None:
    """UserError naming the first parameter that `SCHEMA` does not declare, that is missing,
    or whose value has the wrong type (conf/generator.yaml, a profile or an override)."""
    schema = SCHEMA if schema is None else schema
    for k in params:
        if k not in schema:
            raise UserError(f"conf/generator.yaml: {path}{k!s}: not a generator parameter (synth/params.py SCHEMA)")
    for k, kind in schema.items():
        where = f"{path}{k}"
        if k not in params:
            raise UserError(f"conf/generator.yaml: missing generator parameter {where!r}")
        v = params[k]
        if isinstance(kind, dict):
            if not isinstance(v, dict):
                raise UserError(f"generator parameter {where!r} must be a mapping, got {v!r}")
            validate(v, kind, where + ".")
            continue
        what, ok = _CHECKS[kind]
        if not ok(v):
            raise UserError(f"generator parameter {where!r} must be {what}, got {v!r}")


def fingerprint(params: dict[str, Any]) -> str:
    """Stable hash of the parameters (and the name/phrase banks they pair with)."""
    banks = [load_yaml(conf_file(n)) for n in ("generator_names.yaml", "generator_policy.yaml")]
    blob = json.dumps([params, banks], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
