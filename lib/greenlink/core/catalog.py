"""The table catalog: every Delta table of the warehouse, by name.

Each layer declares its tables in one module, `greenlink.<layer>.tables`, as TableSpecs with the
vocabulary their constraints name, listed in its `TABLES` tuple (core's one table, `_meta.runs`,
is `core.runs.RUNS`). This module reads those tuples, so `greenlink diff`, the docs and the tests
find a table's spec by name without knowing which module declares it. The layers' modules are
imported by name on first use: core sits below the layers and may not import them (a tables
module may also import Spark and its stage's vocabulary). `tests/integration/test_diff_world.py`
checks that every table a pipeline run writes is here. A table outside the pipeline (a test's, an
ad-hoc tool's) joins the catalog explicitly with `register(spec)`.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from greenlink.core.errors import UserError
from greenlink.core.runs import RUNS
from greenlink.core.tables import TableSpec

# The layers with a `tables` module, in the data's flow.
LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "estimate")

# Tables outside the pipeline, added with `register`: name -> spec
_REGISTERED: dict[str, TableSpec] = {}


@lru_cache(maxsize=None)
def declared() -> dict[str, TableSpec]:
    """The pipeline's tables by name: `_meta.runs`, then each layer's `TABLES` in LAYERS order."""
    out = {RUNS.name: RUNS}
    for layer in LAYERS:
        module = f"greenlink.{layer}.tables"
        for spec in importlib.import_module(module).TABLES:
            if not isinstance(spec, TableSpec):
                raise RuntimeError(f"{module}.TABLES holds {spec!r}, not a TableSpec")
            if spec.name in out:
                raise RuntimeError(f"{spec.name} is declared twice ({module})")
            out[spec.name] = spec
    return out


def register(spec: TableSpec) -> TableSpec:
    """Add a table that is not one of the pipeline's (`declared()`) to the catalog; returns it."""
    if spec.name in declared():
        raise ValueError(f"{spec.name} is a pipeline table, declared in a greenlink.<layer>.tables module")
    _REGISTERED[spec.name] = spec
    return spec


def spec(name: str) -> TableSpec:
    """The TableSpec of table `name` (`layer.table`); a UserError for a table not in the catalog."""
    found = _REGISTERED.get(name) or declared().get(name)
    if found is None:
        raise UserError(f"{name} is not a table of the catalog (greenlink.core.catalog): "
                        f"known: {', '.join(sorted([*declared(), *_REGISTERED]))}")
    return found


def specs() -> dict[str, TableSpec]:
    """Every table's spec, by name: the pipeline's (`declared()`), then the registered ones."""
    return {**declared(), **_REGISTERED}
