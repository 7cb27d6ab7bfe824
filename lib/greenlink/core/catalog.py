"""The table catalog: every Delta table of the warehouse, by name, in pipeline order.

Each `TableSpec` is declared next to the code that writes it, with the vocabulary its
constraints name (reason codes, allowed values); this module is the one list of all of them,
so `greenlink diff`, the panel stage, the docs and the tests find a table's spec by name
without knowing which module declares it. Modules are imported on first use (a spec module
may import Spark, GraphFrames or the estimators); `tests/integration/test_diff_world.py` checks that every table
a pipeline run writes is listed here. A table outside the pipeline (a test's, an ad-hoc tool's)
joins the catalog explicitly with `register(spec)`.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from greenlink.core.errors import UserError
from greenlink.core.tables import TableSpec

# table name -> "module:attribute" of its TableSpec
DECLARED: dict[str, str] = {
    "_meta.runs": "greenlink.core.runs:RUNS",
    # ingest
    "bronze.patents_raw": "greenlink.bronze.tables:PATENTS_RAW",
    "bronze.transfers_raw": "greenlink.bronze.tables:TRANSFERS_RAW",
    "bronze.rejects": "greenlink.bronze.tables:REJECTS",
    "bronze.file_rejects": "greenlink.bronze.tables:FILE_REJECTS",
    # classify
    "silver.patents": "greenlink.silver.tables:PATENTS",
    "silver.transfers": "greenlink.silver.tables:TRANSFERS",
    "silver.applicants": "greenlink.silver.tables:APPLICANTS",
    "silver.org_locations": "greenlink.silver.tables:ORG_LOCATIONS",
    # policy
    "gold.policy_tools": "greenlink.gold.policy:POLICY_TOOLS",
    "gold.policy_synergy": "greenlink.gold.policy:POLICY_SYNERGY",
    "bronze.policy_rejects": "greenlink.gold.policy:POLICY_REJECTS",
    # controls
    "silver.city_controls": "greenlink.gold.controls:CITY_CONTROLS",
    "silver.province_ip": "greenlink.gold.controls:PROVINCE_IP",
    "silver.city_attributes": "greenlink.gold.controls:CITY_ATTRIBUTES",
    "bronze.control_rejects": "greenlink.gold.controls:CONTROL_REJECTS",
    "gold.sample_log": "greenlink.gold.sample:SAMPLE_LOG",
    "gold.er_index": "greenlink.gold.entropy:ER_INDEX",
    "gold.er_weights": "greenlink.gold.entropy:ER_WEIGHTS",
    # networks
    "gold.collab_edges": "greenlink.gold.networks:COLLAB_EDGES",
    "gold.transfer_edges": "greenlink.gold.networks:TRANSFER_EDGES",
    "gold.city_network_metrics": "greenlink.gold.networks:CITY_NETWORK_METRICS",
    "gold.network_summary": "greenlink.gold.networks:NETWORK_SUMMARY",
    # panel, estimate
    "gold.city_year_panel": "greenlink.gold.panel:PANEL",
    "gold.estimates": "greenlink.estimate.stage:ESTIMATES",
}


# Tables outside the pipeline, added with `register`: name -> spec
_REGISTERED: dict[str, TableSpec] = {}


def register(spec: TableSpec) -> TableSpec:
    """Add a table that is not one of the pipeline's (`DECLARED`) to the catalog; returns it."""
    if spec.name in DECLARED:
        raise ValueError(f"{spec.name} is a pipeline table: declared in {DECLARED[spec.name]}")
    _REGISTERED[spec.name] = spec
    return spec


def spec(name: str) -> TableSpec:
    """The TableSpec of table `name` (`layer.table`); a UserError for a table not in the catalog."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    return _declared(name)


@lru_cache(maxsize=None)
def _declared(name: str) -> TableSpec:
    where = DECLARED.get(name)
    if where is None:
        raise UserError(f"{name} is not a table of the catalog (greenlink.core.catalog): "
                        f"known: {', '.join(sorted([*DECLARED, *_REGISTERED]))}")
    module, _, attr = where.partition(":")
    found = getattr(importlib.import_module(module), attr)
    if not isinstance(found, TableSpec) or found.name != name:
        raise RuntimeError(f"catalog entry {name} -> {where} is not that table's TableSpec")
    return found


def specs() -> dict[str, TableSpec]:
    """Every table's spec, by name: the pipeline's in pipeline order, then the registered ones."""
    return {**{name: _declared(name) for name in DECLARED}, **_REGISTERED}
