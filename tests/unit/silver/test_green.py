"""Green classification on Spark (`greenlink.silver.green`, SPEC §2): a hand-built inventory,
the real one, Spark joins against the oracle (`reference.inventory`) on random symbols around
every entry, and the DuckDB reference query against Spark."""
from __future__ import annotations

import importlib.util
import random

from greenlink.core.paths import PROJECT_ROOT
from greenlink.reference import inventory as inv, ipc
from greenlink.silver.green import classify_green, load_inventory
from greenlink.silver.ipc_columns import explode_ipc

from ipcforms import all_entries, neighbours

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
    out = classify_green(explode_ipc(df), load_inventory(spark, path))
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
    got = {r.application_no: r for r in classify_green(explode_ipc(df), load_inventory(spark)).collect()}
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
    around = [s for e in all_entries(rules) for s in neighbours(e, rng)]
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
    got = {r.application_no: r for r in classify_green(explode_ipc(df), load_inventory(spark)).collect()}
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
    sp = classify_green(explode_ipc(df), load_inventory(spark, rules=rules)).collect()
    cols = ["n_ipc_valid", "is_green", "categories", "topics", "green_entries"]
    want = {r.application_no: tuple(r[c] for c in cols) for r in sp}
    have = {r.application_no: (int(r.n_ipc_valid), bool(r.is_green), list(r.categories), list(r.topics),
                               list(r.green_entries)) for r in duck.itertuples()}
    assert len(duck) == len(patents)
    assert have == want
    assert want["full_width"][1] is True and want["none"][:2] == (0, False)
