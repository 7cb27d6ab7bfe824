"""Generator parameters: conf/generator.yaml as data, with validated overrides."""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from greenlink.config import conf_file, load_yaml
from greenlink.errors import UserError


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameters, with `overrides` (nested dict) merged in; an override naming a key
    that conf/generator.yaml does not have is a UserError (catches typos)."""
    base = load_yaml(conf_file("generator.yaml"))
    if not isinstance(base, dict):
        raise UserError("conf/generator.yaml: expected a mapping")
    return merge(base, overrides or {})


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
