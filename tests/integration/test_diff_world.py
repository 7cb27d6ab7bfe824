"""The catalog and the natural keys `greenlink diff` compares by, on the warehouse a clean run
writes (`reference_warehouse`; hand-made tables: tests/unit/ops/test_diff.py)."""
from __future__ import annotations

from greenlink.core import catalog
from greenlink.core.errors import UserError
from greenlink.ops import diff


def test_catalog_lists_every_table_a_run_writes(reference_warehouse):
    from greenlink.ops.analyst import table_names

    assert set(table_names(reference_warehouse.path)) <= set(catalog.declared())


def test_natural_keys_are_unique_in_a_real_warehouse(reference_warehouse):
    """The declared keys hold on the tables a clean run writes (every table with a key)."""
    from greenlink.ops.analyst import read_table, table_names

    registry = catalog.specs()
    checked = []
    for name in table_names(reference_warehouse.path):
        try:
            keys = list(diff.natural_keys(name, registry))
        except UserError:
            continue
        frame = read_table(reference_warehouse.path, name, columns=keys)
        assert not frame.duplicated().any(), f"{name}: key {keys} is not unique"
        checked.append(name)
    assert {"bronze.patents_raw", "bronze.transfers_raw", "bronze.rejects", "_meta.runs"} <= set(checked)
