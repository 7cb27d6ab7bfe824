"""IPC normaliser (SPEC §2): every dirty form, parsing, order, field splitting, and the
agreement of the pure-Python reference with the Spark column expressions."""
from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from greenlink.reference import ipc

FULL_WIDTH = {chr(c - 0xFEE0): chr(c) for c in range(0xFF01, 0xFF5F)}

DIRTY_FORMS = [
    ("F03D 1/06", "F03D 1/06"),
    ("f03d1/06", "F03D 1/06"),                       # case, no space
    ("F03D  1/06", "F03D 1/06"),                     # double space
    ("F03D 1 / 06", "F03D 1/06"),                    # spaces around the slash
    ("F03D0001060000", "F03D 1/06"),                 # 14-character layout
    ("H01L0031042000", "H01L 31/042"),
    ("C10L0005400000", "C10L 5/40"),
    ("B60L0050000000", "B60L 50/00"),
    ("F03D 0001 060000", "F03D 1/06"),               # 14-char layout with spaces
    ("F03D   1/06", "F03D 1/06"),                    # EPO space-padded main group
    ("F03D001/06", "F03D 1/06"),                     # zero-padded main group
    ("C10L 5/400", "C10L 5/40"),                     # trailing subgroup zeros are padding
    ("Ｆ０３Ｄ　１／０６", "F03D 1/06"),                # full-width letters, digits, space, slash
    ("ｆ０３ｄ１／０６", "F03D 1/06"),                   # full-width lower case
    ("F03D 1/06 (2006.01)", "F03D 1/06"),            # version date
    ("F03D 1/06(2006.01)", "F03D 1/06"),
    ("F03D 1/06（2006.01）", "F03D 1/06"),           # full-width brackets
    ("F03D 1/06 [2006.01]", "F03D 1/06"),
    ("H02J 7/00 ( 2006 . 01 )", "H02J 7/00"),
    ("F03D", "F03D"),                                # subclass only
    ("f03d", "F03D"),
    ("B61", "B61"),                                  # class only
    ("'F03D 1/06'", "F03D 1/06"),                    # quotes and punctuation around
    ('"H02J 7/00"', "H02J 7/00"),
    ("“F03D 1/06”", "F03D 1/06"),
    ("(F03D 1/06)", "F03D 1/06"),
    ("F03D 1/06.", "F03D 1/06"),
    ("  F03D 1/06 ;", "F03D 1/06"),
    ("\u00a0F03D\u00a01/06\t", "F03D 1/06"),         # NBSP and tab
    ("h01l 31/0425", "H01L 31/0425"),
    ("A01N 65/00", "A01N 65/00"),
    ("G06Q 9999/999999", "G06Q 9999/999999"),
]

INVALID = [None, "", "   ", "XYZ", "F03D 1", "F03D/06", "F03D 1/", "F03D 1/6",   # one-digit subgroup
           "F03D 0/06", "F03D0000060000",                                         # main group 0
           "F03D 12345/06", "F03D 1/0612345", "I01B 1/00", "F3D 1/06", "F03 1/06",
           "F03D1/06EXTRA", "F03D 1/06 A", "F03D 1-06", "F03D106", "F03D00010600",
           "(2006.01)", "F03DD 1/06", "F03D 1//06", "F03D 1/06/07"]


def random_symbol(rng: random.Random) -> str:
    """A random canonical group/subclass/class symbol."""
    cls = f"{rng.choice('ABCDEFGH')}{rng.randint(1, 99):02d}"
    r = rng.random()
    if r < 0.05:
        return cls
    sub = cls + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if r < 0.12:
        return sub
    mg = rng.choice([rng.randint(1, 99), rng.randint(1, 9999)])
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 6)))
    digits = digits.rstrip("0").ljust(2, "0")
    return f"{sub} {mg}/{digits}"


def dirty_variant(symbol: str, rng: random.Random) -> str:
    """A dirty spelling of a canonical symbol that must normalise back to it."""
    s = symbol
    if " " in s and rng.random() < 0.25:                       # 14-character layout
        sub, grp = s.split(" ")
        mg, sg = grp.split("/")
        s = f"{sub}{int(mg):04d}{sg.ljust(6, '0')}"
    else:
        if " " in s and rng.random() < 0.4:
            s = s.replace(" ", rng.choice(["", "  ", "   ", "\u3000", "\t"]))
        if "/" in s and rng.random() < 0.3:
            s = s.replace("/", rng.choice([" / ", "/ ", " /"]))
        if "/" in s and rng.random() < 0.2:
            mg, rest = s.rsplit("/", 1)[0], s.rsplit("/", 1)[1]
            s = f"{mg}/{rest}{'0' * rng.randint(1, 6 - len(rest))}" if len(rest) < 6 else s
    if rng.random() < 0.3:
        s = s.lower()
    if rng.random() < 0.25:
        s = "".join(FULL_WIDTH.get(c, c) if rng.random() < 0.7 else c for c in s)
    if rng.random() < 0.3:
        s += rng.choice([" (2006.01)", "(2006.01)", "（2006.01）", " (2013.1)", "[2006.01]"])
    if rng.random() < 0.2:
        q = rng.choice(["'", '"', "“", "「", "(", " ", "."])
        s = q + s + {"(": ")", "“": "”", "「": "」"}.get(q, q)
    return s


FUZZ_ALPHABET = list("F03DH02J16/ 0()（）．.;,，；、|-_'\"[]xyzABC9\u3000\u00a0\t\n\r\u2028\u0085") + ["Ｆ", "０", "／", "😀"]


def fuzz_string(rng: random.Random) -> str:
    return "".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 16)))


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


# ------------------------------------------------------------------ Spark agrees with Python

def test_spark_normaliser_agrees_with_python(spark):
    rng = random.Random(11)
    raws = [r for r, _ in DIRTY_FORMS] + INVALID
    raws += [dirty_variant(random_symbol(rng), rng) for _ in range(2500)]
    raws += [fuzz_string(rng) for _ in range(1500)]
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i int, raw string")
    got = {r.i: r.s for r in df.select("i", ipc.normalise_ipc_column("raw").alias("s")).collect()}
    mismatches = [(raws[i], got[i], ipc.normalise_ipc(raws[i])) for i in range(len(raws))
                  if got[i] != ipc.normalise_ipc(raws[i])]
    assert mismatches == []
    assert sum(v is not None for v in got.values()) > 2500     # the variants are valid


def _random_field(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.03:
        return None
    parts = []
    pool: list[str] = []
    for _ in range(rng.randint(0, 6)):
        k = rng.random()
        if k < 0.15 and pool:
            parts.append(dirty_variant(rng.choice(pool), rng))          # a duplicate
        elif k < 0.25:
            parts.append(fuzz_string(rng))
        else:
            sym = random_symbol(rng)
            pool.append(sym)
            parts.append(dirty_variant(sym, rng))
    out = ""
    for i, p in enumerate(parts):
        out += (rng.choice([";", "; ", ",", "；", "，", "、", " ", "  ", "|", "\n", " ; ", "; ;", " ,| "])
                if i else "") + p
    return out


def test_spark_explode_agrees_with_python(spark):
    rng = random.Random(5)
    fields = [_random_field(rng) for _ in range(1200)] + [None, "", " ; "]
    df = spark.createDataFrame([(f"p{i}", f) for i, f in enumerate(fields)], "application_no string, ipc string")
    rows = ipc.explode_ipc(df).collect()
    got: dict[str, list] = {}
    for r in rows:
        got.setdefault(r.application_no, []).append(r)
    assert set(got) == {f"p{i}" for i in range(len(fields))}        # every patent keeps a row
    for i, f in enumerate(fields):
        mine = sorted(got[f"p{i}"], key=lambda r: (r.position is None, r.position))
        expected = [(t, ipc.normalise_ipc(t)) for t in ipc.split_ipc(f)]      # repeats kept
        if not expected:
            assert [(r.position, r.symbol, r.valid) for r in mine] == [(None, None, False)], f
            continue
        assert [(r.position, r.ipc_token, r.symbol) for r in mine] == \
            [(k + 1, t, s) for k, (t, s) in enumerate(expected)], f
        for r in mine:
            p = ipc.parse_canonical(r.symbol) if r.symbol else None
            assert r.valid == (p is not None)
            assert (r.ipc_class, r.subclass, r.main_group, r.subgroup, r.sort_key) == (
                (p.ipc_class, p.subclass, p.main_group, p.subgroup, p.sort_key) if p else (None,) * 5), f
    # the column form of the symbol list agrees too
    lists = df.select("application_no", ipc.ipc_symbols_column("ipc").alias("s")).collect()
    assert all(r.s == ipc.ipc_symbols(fields[int(r.application_no[1:])]) for r in lists)


def test_explode_keeps_patent_without_ipc(spark):
    df = spark.createDataFrame([("a", None), ("b", "junk;;"), ("c", "F03D 1/06;F03D0001060000")],
                               "application_no string, ipc string")
    got = sorted(tuple(r) for r in ipc.explode_ipc(df).select("application_no", "position", "symbol", "valid")
                 .fillna(-1, ["position"]).collect())
    assert got == [("a", -1, None, False), ("b", 1, None, False),
                   ("c", 1, "F03D 1/06", True), ("c", 2, "F03D 1/06", True)]
    assert ipc.explode_ipc(df).filter(F.col("valid")).count() == 2
