"""WIPO Green Inventory matching (SPEC §2): entry kinds, coverage rules and boundaries,
the interval execution against the literal oracle, Spark joins against the oracle on
random symbols around every entry, and the DuckDB reference query against Spark."""
from __future__ import annotations

import importlib.util
import random

import pytest

from greenlink.core.errors import UserError
from greenlink.core.paths import PROJECT_ROOT
from greenlink.reference import inventory as inv, ipc

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


def _neighbours(e: inv.Entry, rng: random.Random) -> list[str]:
    """Canonical symbols on and around an entry: ends, extensions, siblings, look-alikes."""
    def subclass_like(sub: str) -> list[str]:
        letter = sub[3]
        out = [sub]
        for d in (-1, 1):
            if "A" <= chr(ord(letter) + d) <= "Z":
                out.append(sub[:3] + chr(ord(letter) + d))
        cls = int(sub[1:3])
        for d in (-1, 1):
            if 1 <= cls + d <= 99:
                out.append(f"{sub[0]}{cls + d:02d}{letter}")
        return out

    def canon(mg: int, sg: str) -> str | None:
        sg = sg.rstrip("0").ljust(2, "0")
        return f"{mg}/{sg}" if 1 <= mg <= 9999 and len(sg) <= 6 else None

    out: list[str] = []
    if e.level == "class":
        cls = int(e.ipc_class[1:3])
        for c in {cls - 1, cls, cls + 1} - {0, 100}:
            k = f"{e.ipc_class[0]}{c:02d}"
            out += [k, k + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), f"{k}{rng.choice('ABCD')} {rng.randint(1, 99)}/00"]
        return out
    subs = subclass_like(e.subclass)
    if e.level == "subclass":
        for s in subs:
            out += [s, s[:3], f"{s} {rng.randint(1, 999)}/{rng.randint(0, 99):02d}"]
        return out
    groups: list[str] = []
    for end in {e.lo, e.hi}:
        mg, sg = end.main_group, end.subgroup
        groups += [canon(mg, sg), canon(mg, "00"), canon(mg + 1, "00"), canon(mg - 1, "00"),
                   canon(mg - 1, sg), canon(mg + 1, sg), canon(mg * 10, sg), canon(mg, sg + "0")]
        for _ in range(3):
            groups.append(canon(mg, sg + str(rng.randint(0, 99))))
        last = int(sg[-1])
        for d in (-1, 1):
            if 0 <= last + d <= 9:
                groups.append(canon(mg, sg[:-1] + str(last + d)))
                groups.append(canon(mg, sg[:-1] + str(last + d) + str(rng.randint(1, 9))))
        groups.append(canon(mg, sg[:-1]) if len(sg) > 2 else None)
        groups.append(canon(mg, f"{rng.randint(0, 99):02d}"))
    for g in filter(None, groups):
        for s in subs if rng.random() < 0.3 else subs[:1]:
            out.append(f"{s} {g}")
    return out


def _all_entries(rules: list[inv.Rule]) -> list[inv.Entry]:
    return [e for r in rules for e in (r.primary, r.combined) if e is not None]


def test_interval_keys_equal_the_literal_rules():
    """The sort-key intervals the joins use cover exactly what `covers` states."""
    rng = random.Random(3)
    for e in _all_entries(inv.read_inventory()):
        for text in _neighbours(e, rng):
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


# ------------------------------------------------------------------ Spark classification

HAND_INVENTORY = """category,topic,ipc,combined_with
Alternative energy production,Solid fuels,C10L 5/40-5/48,
Alternative energy production,Solar cells,H01L 31/042,
Waste management,Rail,B61,
Transportation,Wind,F03D,
Energy conservation,Fuels,C10L 1/00,
Waste management,Fuels again,C10L 1/00,
Agriculture/forestry,Combo,A01B 1/00,A01C 5/00-5/08
Energy conservation,Plain,A01B 1/00,
Nuclear power generation,Self combo,G21C,G21C 1/06
"""

# patent -> (IPC field, expected categories, expected topics, expected entries)
HAND_PATENTS = {
    "in_lo": ("C10L 5/40", ["Alternative energy production"], ["Solid fuels"], ["C10L 5/40-5/48"]),
    "in_hi": ("C10L 5/48", ["Alternative energy production"], ["Solid fuels"], ["C10L 5/40-5/48"]),
    "in_hi_sub": ("C10L 5/481", ["Alternative energy production"], ["Solid fuels"], ["C10L 5/40-5/48"]),
    "in_mid": ("c10l5/445(2006.01)", ["Alternative energy production"], ["Solid fuels"], ["C10L 5/40-5/48"]),
    "out_49": ("C10L 5/49", [], [], []),
    "out_39": ("C10L 5/39", [], [], []),
    "out_399": ("C10L 5/399", [], [], []),
    "other_subclass": ("C10B 5/44", [], [], []),
    "prefix_in": ("H01L 31/0425", ["Alternative energy production"], ["Solar cells"], ["H01L 31/042"]),
    "prefix_out": ("H01L 31/043", [], [], []),
    "sibling": ("H01L 31/041;H01L 31/04", [], [], []),
    "class": ("B61D 17/02", ["Waste management"], ["Rail"], ["B61"]),
    "class_alone": ("B61", ["Waste management"], ["Rail"], ["B61"]),
    "class_neighbour": ("B62D 35/00;B6", [], [], []),
    "subclass_alone": ("F03D", ["Transportation"], ["Wind"], ["F03D"]),
    "subclass_only_of_group": ("C10L", [], [], []),
    "two_categories": ("C10L 1/02", ["Energy conservation", "Waste management"], ["Fuels", "Fuels again"],
                       ["C10L 1/00"]),
    "multi_label": ("F03D 1/06; C10L 5/42; H01L 31/042",
                    ["Alternative energy production", "Transportation"], ["Solar cells", "Solid fuels", "Wind"],
                    ["C10L 5/40-5/48", "F03D", "H01L 31/042"]),
    "combined_both": ("A01C 5/081; A01B 1/02", ["Agriculture/forestry", "Energy conservation"], ["Combo", "Plain"],
                      ["A01B 1/00", "A01B 1/00 + A01C 5/00-5/08"]),
    "combined_first_only": ("A01B 1/02", ["Energy conservation"], ["Plain"], ["A01B 1/00"]),
    "combined_second_only": ("A01C 5/05", [], [], []),
    "combined_second_outside": ("A01B 1/02; A01C 5/09", ["Energy conservation"], ["Plain"], ["A01B 1/00"]),
    "combined_one_symbol": ("G21C 1/06", ["Nuclear power generation"], ["Self combo"], ["G21C + G21C 1/06"]),
    "combined_one_part": ("G21C 3/00", [], [], []),
    "repeats": ("C10L 5/44;F03D 1/06;c10l0005440000", ["Alternative energy production", "Transportation"],
                ["Solid fuels", "Wind"], ["C10L 5/40-5/48", "F03D"]),
    "no_valid": ("junk; F03D 1/6", [], [], []),
    "empty": (None, [], [], []),
}


def test_classify_hand_built(spark, tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_text(HAND_INVENTORY, encoding="utf-8")
    rules = inv.read_inventory(path)
    df = spark.createDataFrame([(k, v[0]) for k, v in HAND_PATENTS.items()], "application_no string, ipc string")
    out = inv.classify_green(ipc.explode_ipc(df), inv.load_inventory(spark, path))
    assert out.columns == ["application_no", "ipc_symbols", "main_ipc", "n_ipc_tokens", "n_ipc_valid",
                           "n_ipc_invalid", "is_green", "categories", "topics", "green_entries"]
    got = {r.application_no: r for r in out.collect()}
    assert set(got) == set(HAND_PATENTS)
    for k, (field, cats, topics, entries) in HAND_PATENTS.items():
        r = got[k]
        assert (r.is_green, r.categories, r.topics, r.green_entries) == (bool(cats), cats, topics, entries), k
        oracle = inv.classify_symbols(ipc.ipc_symbols(field), rules)
        assert (oracle.is_green, list(oracle.categories), list(oracle.topics), list(oracle.green_entries)) \
            == (bool(cats), cats, topics, entries), k
    r = got["no_valid"]
    assert (r.n_ipc_tokens, r.n_ipc_valid, r.n_ipc_invalid, r.main_ipc) == (2, 0, 2, None)
    assert (got["empty"].n_ipc_tokens, got["empty"].n_ipc_valid, got["empty"].ipc_symbols) == (0, 0, [])
    assert got["multi_label"].ipc_symbols == ["F03D 1/06", "C10L 5/42", "H01L 31/042"]
    assert got["multi_label"].main_ipc == "F03D 1/06"
    r = got["repeats"]
    assert (r.ipc_symbols, r.main_ipc, r.n_ipc_tokens, r.n_ipc_valid, r.n_ipc_invalid) == \
        (["C10L 5/44", "F03D 1/06"], "C10L 5/44", 3, 2, 0)
    r = got["class_neighbour"]                                          # "B6" is invalid
    assert (r.n_ipc_tokens, r.n_ipc_valid, r.n_ipc_invalid) == (2, 1, 1)
    assert got["sibling"].n_ipc_valid == 2


def test_classify_real_inventory_multi_category(spark):
    df = spark.createDataFrame([("a", "C05F 11/00"), ("b", "H02J 7/00"), ("c", "H01M 8/2404"), ("d", "A01B 1/00"),
                                ("e", "H02J 7/35")], "application_no string, ipc string")
    got = {r.application_no: r for r in inv.classify_green(ipc.explode_ipc(df), inv.load_inventory(spark)).collect()}
    assert got["a"].categories == ["Agriculture/forestry", "Waste management"]
    assert got["a"].green_entries == ["C05F"]
    assert got["b"].categories == ["Energy conservation", "Transportation"]
    assert got["b"].green_entries == ["H02J", "H02J 7/00"]
    assert got["e"].categories == ["Alternative energy production", "Energy conservation", "Transportation"]
    assert got["e"].green_entries == ["H02J", "H02J 7/00", "H02J 7/35"]
    assert got["c"].topics == ["Fuel cells", "Fuel cells > Non-active parts"]
    assert got["d"].is_green is False and got["d"].categories == []


def _random_patents(rules: list[inv.Rule], rng: random.Random, n: int | None = None) -> list[tuple[str, str | None]]:
    """Patents of 1-3 dirty symbols; with n None every symbol around every entry is used once."""
    around = [s for e in _all_entries(rules) for s in _neighbours(e, rng)]
    rng.shuffle(around)
    if n is not None:
        around = around[: 2 * n]
    seps = [";", "; ", "；", ",", " "]
    out, i = [], 0
    while i < len(around):
        k = rng.choice([1, 1, 2, 3])
        raw = [_dirty(s, rng) for s in around[i:i + k]]
        i += k
        if rng.random() < 0.05:
            raw.append("junk")
        out.append((f"r{len(out)}", rng.choice(seps).join(raw) if rng.random() > 0.01 else None))
    return out


def _dirty(sym: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.2 and " " in sym:
        sub, grp = sym.split(" ")
        mg, sg = grp.split("/")
        return f"{sub}{int(mg):04d}{sg.ljust(6, '0')}"
    if r < 0.4:
        return sym.lower().replace(" ", "")
    if r < 0.5:
        return sym + " (2006.01)"
    return sym


def test_spark_agrees_with_oracle_on_every_entry(spark):
    rules = inv.read_inventory()
    patents = _random_patents(rules, random.Random(42))
    df = spark.createDataFrame(patents, "application_no string, ipc string")
    got = {r.application_no: r for r in inv.classify_green(ipc.explode_ipc(df), inv.load_inventory(spark)).collect()}
    assert len(got) == len(patents)
    # oracle speed-up only: every coverage rule requires the symbol's class to be the entry's
    by_class: dict[str, list[inv.Rule]] = {}
    for r in rules:
        by_class.setdefault(r.primary.ipc_class, []).append(r)
    green = 0
    for pid, field in patents:
        symbols = ipc.ipc_symbols(field)
        candidates = [r for c in sorted({s[:3] for s in symbols}) for r in by_class.get(c, [])]
        expected = inv.classify_symbols(symbols, candidates)
        r = got[pid]
        assert (r.is_green, tuple(r.categories), tuple(r.topics), tuple(r.green_entries)) == \
            (expected.is_green, expected.categories, expected.topics, expected.green_entries), field
        assert r.ipc_symbols == symbols
        green += expected.is_green
    # the sample exercises both outcomes and every entry matches somewhere
    assert len(patents) > 5000 and 0.2 < green / len(patents) < 0.95
    matched = {e for r in got.values() for e in r.green_entries}
    assert matched == {r.entry for r in rules}


# ------------------------------------------------------------------ DuckDB reference


def _bench_module():
    path = PROJECT_ROOT / "bench" / "bench_green_duckdb.py"
    spec = importlib.util.spec_from_file_location("bench_green_duckdb", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_duckdb_query_equals_spark(spark, tmp_path):
    import pandas as pd

    bench = _bench_module()
    rules = inv.read_inventory()
    rng = random.Random(9)
    patents = _random_patents(rules, rng, 1500)
    patents += [("full_width", "Ｆ０３Ｄ　１／０６（2006.01）；ｈ０２ｊ７／００"), ("none", None), ("junk", "x;y")]
    # fuzz: odd characters must be treated the same by RE2 (DuckDB) and java.util.regex (Spark)
    alphabet = list("F03DH02JC10L5/48 ()（）．.;,，；、|-'\"[]x\u3000\u00a0\t\n\u2028\u0085") + ["Ｆ", "０", "😀"]
    patents += [(f"fuzz{i}", "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))) for i in range(400)]
    parquet = tmp_path / "patents.parquet"
    pd.DataFrame(patents, columns=["application_no", "ipc"]).to_parquet(parquet)
    duck = bench.classify_duckdb(str(parquet), rules, threads=2)
    df = spark.read.parquet(str(parquet))
    sp = inv.classify_green(ipc.explode_ipc(df), inv.load_inventory(spark, rules=rules)).collect()
    cols = ["n_ipc_valid", "is_green", "categories", "topics", "green_entries"]
    want = {r.application_no: tuple(r[c] for c in cols) for r in sp}
    have = {r.application_no: (int(r.n_ipc_valid), bool(r.is_green), list(r.categories), list(r.topics),
                               list(r.green_entries)) for r in duck.itertuples()}
    assert len(duck) == len(patents)
    assert have == want
    assert want["full_width"][1] is True and want["none"][:2] == (0, False)
