"""The table catalog: each layer's `tables` module lists its specs, the catalog finds them by
name, and lib/ names a pipeline table only through its spec (docs/architecture.md, "Tables")."""
from __future__ import annotations

import ast
import importlib

import pytest

from greenlink.core import catalog, runs, tables
from greenlink.core.errors import UserError

import paths

LIB = paths.ROOT / "lib" / "greenlink"


def test_declared_is_runs_then_every_layers_tables():
    declared = catalog.declared()
    assert next(iter(declared)) == "_meta.runs"
    for layer in catalog.LAYERS:
        for spec in importlib.import_module(f"greenlink.{layer}.tables").TABLES:
            assert declared[spec.name] is spec
    assert len(declared) == 1 + sum(len(importlib.import_module(f"greenlink.{layer}.tables").TABLES)
                                    for layer in catalog.LAYERS)


def test_spec_register_and_unknown_names():
    assert catalog.spec("gold.city_year_panel").keys == ("city_code", "year")
    with pytest.raises(UserError, match="gold.nope is not a table of the catalog"):
        catalog.spec("gold.nope")
    with pytest.raises(ValueError, match="is a pipeline table"):
        catalog.register(tables.TableSpec(name="silver.patents", schema=catalog.spec("silver.patents").schema))


def test_core_spells_the_one_bronze_name_it_needs_as_bronze_declares_it():
    from greenlink.bronze.tables import FILE_REJECTS

    assert runs.FILE_REJECTS_TABLE == FILE_REJECTS.name


def test_lib_names_pipeline_tables_only_through_their_specs():
    """A string that is exactly a table name appears only where the table is declared (the
    `tables` modules, core/runs.py for _meta.runs and the name core may not import)."""
    names = set(catalog.declared())
    allowed = {f"{layer}/tables.py" for layer in catalog.LAYERS} | {"core/runs.py"}
    found = [f"{path.relative_to(LIB)}:{node.lineno}: {node.value}"
             for path in sorted(LIB.rglob("*.py")) if str(path.relative_to(LIB)) not in allowed
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Constant) and node.value in names]
    assert found == []
