"""IPC normaliser (SPEC §2): every dirty form, parsing, order, field splitting (the
pure-Python reference; its agreement with the Spark column expressions is
tests/unit/silver/test_ipc_columns.py)."""
from __future__ import annotations

import random

import pytest

from greenlink.reference import ipc

from ipcforms import DIRTY_FORMS, INVALID, dirty_variant, random_symbol


# ------------------------------------------------------------------ pure Python reference

@pytest.mark.parametrize("raw,expected", DIRTY_FORMS)
def test_dirty_forms_normalise(raw, expected):
    assert ipc.normalise_ipc(raw) == expected


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_symbols_are_none(raw):
    assert ipc.normalise_ipc(raw) is None
    assert ipc.parse_ipc(raw) is None


def test_parse_parts():
    s = ipc.parse_ipc("H01L0031042000")
    assert (s.symbol, s.ipc_class, s.subclass, s.main_group, s.subgroup) == ("H01L 31/042", "H01L"[:3], "H01L", 31, "042")
    assert s.sort_key == 31_042_000
    assert ipc.parse_ipc("F03D") == ipc.IpcSymbol("F03D", "F03", "F03D", None, None)
    assert ipc.parse_ipc("b61") == ipc.IpcSymbol("B61", "B61", None, None, None)
    assert ipc.parse_ipc("F03D").sort_key is None
    with pytest.raises(ValueError):
        ipc.parse_canonical("f03d 1/06")


def test_order_is_main_group_numeric_then_subgroup_fraction():
    ordered = ["C10L 5/00", "C10L 5/4", "C10L 5/40", "C10L 5/403", "C10L 5/41", "C10L 5/48",
               "C10L 5/482", "C10L 5/99", "C10L 10/00", "C10L 10/02"]
    ordered.remove("C10L 5/4")                        # not a valid symbol
    keys = [ipc.parse_ipc(s).sort_key for s in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # a lexical comparison would put 10/00 before 5/00 and 5/403 after 5/41
    assert ipc.sort_key(5, "403") < ipc.sort_key(5, "41") < ipc.sort_key(10, "00")


def test_dirty_variants_round_trip():
    rng = random.Random(7)
    for _ in range(3000):
        sym = random_symbol(rng)
        raw = dirty_variant(sym, rng)
        assert ipc.normalise_ipc(raw) == sym, raw


@pytest.mark.parametrize("field,expected", [
    ("F03D 1/06;H02J 7/00", ["F03D 1/06", "H02J 7/00"]),
    ("F03D 1/06; H02J 7/00 ;", ["F03D 1/06", "H02J 7/00"]),
    ("F03D 1/06,H02J 7/00", ["F03D 1/06", "H02J 7/00"]),
    ("F03D 1/06；H02J 7/00", ["F03D 1/06", "H02J 7/00"]),                 # full-width ;
    ("F03D 1/06，H02J 7/00、B61", ["F03D 1/06", "H02J 7/00", "B61"]),      # full-width , and 、
    ("F03D 1/06 H02J 7/00", ["F03D 1/06", "H02J 7/00"]),                  # whitespace list
    ("f03d1/06  h02j7/00\nC05F", ["F03D 1/06", "H02J 7/00", "C05F"]),
    ("F03D 1 / 06 (2006.01) H02J 7/00 (2006.01)", ["F03D 1/06", "H02J 7/00"]),
    ("F03D0001060000 H02J0007000000", ["F03D 1/06", "H02J 7/00"]),
    ("H02J 7/00;F03D 1/06;h02j7/00;F03D0001060000", ["H02J 7/00", "F03D 1/06"]),  # dedup keeps first
    ("F03D 1/06|H02J 7/00", ["F03D 1/06", "H02J 7/00"]),
    ("", []), (None, []), (" ; ;", []),
])
def test_split_field(field, expected):
    assert ipc.ipc_symbols(field) == expected


def test_parse_field_keeps_invalid_tokens_in_order():
    got = ipc.parse_ipc_field("junk; F03D 1/06 ;F03D1/06; F03D 1/6; junk")
    # tokens are trimmed of the spaces around them; the ones inside stay
    assert got == [("JUNK", None), ("F03D 1/06", "F03D 1/06"), ("F03D 1/6", None), ("JUNK", None)]
    assert ipc.split_ipc(" ;;; ") == []
    assert ipc.split_ipc("  A01B 1/02 ; ; |B ,") == ["A01B 1/02", "B"]
