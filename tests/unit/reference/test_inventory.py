"""WIPO Green Inventory matching (SPEC §2): entry kinds, coverage rules and boundaries, the
interval keys against the literal oracle, the inventory file (the Spark classification:
tests/unit/silver/test_green.py)."""
from __future__ import annotations

import random

import pytest

from greenlink.core.errors import UserError
from greenlink.reference import inventory as inv, ipc

from ipcforms import all_entries, neighbours

# ------------------------------------------------------------------ entries and the oracle


@pytest.mark.parametrize("text,level,subclass,key_lo,key_hi", [
    ("B61", "class", None, None, None),
    ("F03D", "subclass", "F03D", None, None),
    ("C10L 5/00", "main_group", "C10L", 5_000_000, 6_000_000),
    ("H01L 31/042", "subgroup", "H01L", 31_042_000, 31_043_000),
    ("H01L 31/0525", "subgroup", "H01L", 31_052_500, 31_052_600),
    ("C10L 5/40-5/48", "range", "C10L", 5_400_000, 5_490_000),
    ("B60L 50/50-58/40", "range", "B60L", 50_500_000, 58_410_000),
    ("F24T 10/00-50/00", "range", "F24T", 10_000_000, 51_000_000),
    ("H01M 8/00-H01M 8/24", "range", "H01M", 8_000_000, 8_250_000),      # second end with subclass
])
def test_parse_entry_kinds(text, level, subclass, key_lo, key_hi):
    e = inv.parse_entry(text)
    assert (e.level, e.subclass, e.key_lo, e.key_hi) == (level, subclass, key_lo, key_hi)
    assert e.ipc_class == text[:3]


@pytest.mark.parametrize("text", ["", "junk", "C10L 5/48-5/40", "C10L 5/40-C10B 5/48", "C10L-5/48",
                                  "C10L 5/40-", "F03D 1/6"])
def test_parse_entry_rejects(text):
    with pytest.raises(ValueError):
        inv.parse_entry(text)


COVERS = [
    # class and subclass entries: the symbol starts with them
    ("B61", "B61D 17/02", True), ("B61", "B61", True), ("B61", "B61C", True),
    ("B61", "B62D 35/00", False), ("B61", "B60L 3/00", False),
    ("F03D", "F03D 1/06", True), ("F03D", "F03D", True), ("F03D", "F03C 1/06", False),
    ("F03D", "F03", False), ("F03D", "G03D 1/06", False),
    # main group: all its subgroups, not the neighbours
    ("C10L 5/00", "C10L 5/00", True), ("C10L 5/00", "C10L 5/403", True), ("C10L 5/00", "C10L 5/99", True),
    ("C10L 5/00", "C10L 50/00", False), ("C10L 5/00", "C10L 4/99", False), ("C10L 5/00", "C10L 6/00", False),
    ("C10L 5/00", "C10B 5/00", False), ("C10L 5/00", "C10L", False),
    # subgroup: digits start with the entry's (dot-hierarchy approximation)
    ("H01L 31/042", "H01L 31/042", True), ("H01L 31/042", "H01L 31/0425", True),
    ("H01L 31/042", "H01L 31/04256", True), ("H01L 31/042", "H01L 31/043", False),
    ("H01L 31/042", "H01L 31/041", False), ("H01L 31/042", "H01L 31/04", False),
    ("H01L 31/042", "H01L 31/00", False), ("H01L 31/042", "H01L 310/42", False),
    ("H01L 31/042", "H01L 3/042", False), ("H01L 31/042", "H01M 31/042", False),
    ("H01L 31/042", "H01L", False),
    # range: inclusive ends in IPC order, plus what the end entry covers
    ("C10L 5/40-5/48", "C10L 5/40", True), ("C10L 5/40-5/48", "C10L 5/48", True),
    ("C10L 5/40-5/48", "C10L 5/445", True), ("C10L 5/40-5/48", "C10L 5/403", True),
    ("C10L 5/40-5/48", "C10L 5/481", True), ("C10L 5/40-5/48", "C10L 5/4899", True),
    ("C10L 5/40-5/48", "C10L 5/49", False), ("C10L 5/40-5/48", "C10L 5/39", False),
    ("C10L 5/40-5/48", "C10L 5/399", False), ("C10L 5/40-5/48", "C10L 5/00", False),
    ("C10L 5/40-5/48", "C10L 50/40", False), ("C10L 5/40-5/48", "C10B 5/44", False),
    ("H01M 8/00-8/24", "H01M 8/2404", True), ("H01M 8/00-8/24", "H01M 8/00", True),
    ("H01M 8/00-8/24", "H01M 8/25", False), ("H01M 8/00-8/24", "H01M 80/00", False),
    ("B60L 50/50-58/40", "B60L 53/00", True), ("B60L 50/50-58/40", "B60L 58/40", True),
    ("B60L 50/50-58/40", "B60L 58/405", True), ("B60L 50/50-58/40", "B60L 58/41", False),
    ("B60L 50/50-58/40", "B60L 50/30", False), ("B60L 50/50-58/40", "B60L 50/5", False),
    ("F24T 10/00-50/00", "F24T 50/10", True), ("F24T 10/00-50/00", "F24T 51/00", False),
    ("F24T 10/00-50/00", "F24T 9/99", False),
    # dirty spellings of the symbol are normalised first
    ("C10L 5/40-5/48", "c10l0005481000", True), ("H01L 31/042", "Ｈ０１Ｌ　３１／０４２５ (2006.01)", True),
]


@pytest.mark.parametrize("entry,symbol,expected", COVERS)
def test_covers_oracle(entry, symbol, expected):
    assert inv.covers(entry, symbol) is expected


def test_covers_invalid_symbol_is_false():
    assert inv.covers("F03D", "F03D 1/6") is False


def test_entries_are_normalised_like_symbols():
    assert inv.covers("b61", "B61D 17/02") and inv.covers(" f03d ", "F03D 1/06")
    assert inv.parse_entry("c10l0005400000").key_lo == 5_400_000


def test_interval_keys_equal_the_literal_rules():
    """The sort-key intervals the joins use cover exactly what `covers` states."""
    rng = random.Random(3)
    for e in all_entries(inv.read_inventory()):
        for text in neighbours(e, rng):
            s = ipc.parse_ipc(text)
            assert s is not None, text
            if e.level == "class":
                by_key = s.ipc_class == e.ipc_class
            elif e.level == "subclass":
                by_key = s.subclass == e.subclass
            else:
                by_key = (s.subclass == e.subclass and s.sort_key is not None
                          and e.key_lo <= s.sort_key < e.key_hi)
            assert by_key == inv.covers(e, s), (e.text, text)


# ------------------------------------------------------------------ the inventory file


def test_read_inventory_file():
    rules = inv.read_inventory()
    assert len(rules) == 315                                      # distinct symbols or ranges (README)
    by_entry = {r.entry: r for r in rules}
    assert by_entry["C05F"].categories == ("Agriculture/forestry", "Waste management")
    assert by_entry["H02J 7/00"].categories == ("Energy conservation", "Transportation")
    assert by_entry["H01M 8/00-8/24"].topics == ("Fuel cells", "Fuel cells > Non-active parts")
    assert sum(len(r.categories) > 1 for r in rules) == 13        # README: 13 symbols in two categories
    assert {c for r in rules for c in r.categories} == set(inv.CATEGORIES)
    assert {r.primary.level for r in rules} == {"class", "subclass", "main_group", "subgroup", "range"}
    assert all(r.combined is None for r in rules)
    parts = inv.inventory_parts(rules)
    n_whole = sum(r.primary.level in ("class", "subclass") for r in rules)
    assert n_whole == 27                                          # 25 distinct subclasses + B61, G21
    assert len(parts) == 315 and parts["key_lo"].isna().sum() == n_whole


@pytest.mark.parametrize("body,message", [
    ("category,topic,ipc,combined_with\nSpace travel,T,F03D,\n", r"x\.csv:2: unknown category"),
    ("category,topic,ipc,combined_with\nTransportation,T,F03D,\nTransportation,T,F03D 1/6,\n",
     r"x\.csv:3: .*not an IPC"),
    ("category,topic,ipc,combined_with\nTransportation,T,F03D,junk\n", r"x\.csv:2: "),
    ("category,topic,ipc,combined_with\nTransportation,,F03D,\n", r"x\.csv:2: empty topic"),
    ("category,topic,ipc\nTransportation,T,F03D\n", r"missing column\(s\) combined_with"),
    ("category,topic,ipc,combined_with\n", r"no inventory rows"),
])
def test_read_inventory_errors(tmp_path, body, message):
    path = tmp_path / "x.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        inv.read_inventory(path)
    with pytest.raises(UserError, match="not found"):
        inv.read_inventory(tmp_path / "missing.csv")
