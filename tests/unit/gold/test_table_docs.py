"""The column listings of docs/networks.md and docs/panel.md against the TableSpecs they
describe (a renamed, added or dropped column fails here until the page says so)."""
from __future__ import annotations

import re

from greenlink.core import catalog
from greenlink.gold import tables as GT

import paths

DOCS = paths.ROOT / "docs"


def _columns(text: str) -> list[str]:
    """`a, b (note), c` -> [a, b, c]: parentheticals and a `prefix:` dropped."""
    text = re.sub(r"\([^)]*\)", "", text).split(":")[-1]
    return [c.strip(" `") for c in text.split(",") if c.strip(" `")]


def _fields(name: str) -> list[str]:
    return catalog.spec(name).schema.fieldNames()


def _table_after(page: str, header: str) -> list[list[str]]:
    """The cells of the markdown table whose header line starts with `header`."""
    lines = page[page.index(header):].splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[:next(
        (i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))]]


def test_networks_page_lists_the_specs_columns():
    page = (DOCS / "networks.md").read_text(encoding="utf-8")
    metrics = _fields("gold.city_network_metrics")
    block = page[page.index("Columns exactly"):].split("\n\n")[1]
    assert _columns(" ".join(block.split())) == metrics
    assert [c for row in _table_after(page, "| column | as implemented |") for c in _columns(row[0])] == metrics[2:]
    summary = [c for row in _table_after(page, "| column | definition") for c in _columns(row[0])]
    assert ["network", "year", *summary] == _fields("gold.network_summary")
    for fn, name in (("collab_edges", "gold.collab_edges"), ("transfer_edges", "gold.transfer_edges")):
        assert _columns(re.search(rf"`{fn}\([^`]*\) -> \(([^)]*)\)`", page).group(1)) == _fields(name)
    for spec, name, _ in _table_after(page, "| spec | table | constraints |"):
        assert getattr(GT, spec).name == name
    for table, _, read in _table_after(page, "| table | written by | columns read |"):
        assert set(_columns(read)) <= set(_fields(table.split()[0])), table


def test_panel_page_lists_the_specs_columns():
    page = " ".join((DOCS / "panel.md").read_text(encoding="utf-8").split("\n"))
    listed = re.findall(r"`((?:bronze|silver|gold)\.\w+)` \(((?:key|declared in) [^)]*)\): ([^.]*)\.", page)
    assert {name for name, _, _ in listed} == {"silver.city_controls", "silver.province_ip", "silver.city_attributes",
                                               "bronze.control_rejects", "gold.sample_log"}
    for name, note, cols in listed:
        assert _columns(" ".join(cols.split())) == _fields(name), name
        if note.startswith("key "):
            assert tuple(_columns(note[4:])) == catalog.spec(name).keys, name
    page = (DOCS / "panel.md").read_text(encoding="utf-8")
    panel = [c for row in _table_after(page, "| column(s) | definition |") for c in _columns(row[0])]
    assert panel == _fields(GT.PANEL.name)
