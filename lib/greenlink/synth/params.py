"""Generator parameters: conf/generator.yaml as data, with validated overrides."""
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
    return merge(base, overrides or {})


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


def fingerprint(params: dict[str, Any]) -> str:
    """Stable hash of the parameters (and the name/phrase banks they pair with)."""
    banks = [load_yaml(conf_file(n)) for n in ("generator_names.yaml", "generator_policy.yaml")]
    blob = json.dumps([params, banks], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
