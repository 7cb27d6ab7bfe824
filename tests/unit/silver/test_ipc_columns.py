"""The Spark column expressions of IPC fields (`greenlink.silver.ipc_columns`) agree with the
pure-Python reference (`greenlink.reference.ipc`) on dirty forms, invalid symbols, random
variants and fuzz strings."""
from __future__ import annotations

import random

from pyspark.sql import functions as F

from greenlink.reference import ipc
from greenlink.silver import ipc_columns

from ipcforms import DIRTY_FORMS, INVALID, dirty_variant, fuzz_string, random_symbol


def test_spark_normaliser_agrees_with_python(spark):
    rng = random.Random(11)
    raws = [r for r, _ in DIRTY_FORMS] + INVALID
    raws += [dirty_variant(random_symbol(rng), rng) for _ in range(2500)]
    raws += [fuzz_string(rng) for _ in range(1500)]
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i int, raw string")
    got = {r.i: r.s for r in df.select("i", ipc_columns.normalise_ipc_column("raw").alias("s")).collect()}
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
    rows = ipc_columns.explode_ipc(df).collect()
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
    lists = df.select("application_no", ipc_columns.ipc_symbols_column("ipc").alias("s")).collect()
    assert all(r.s == ipc.ipc_symbols(fields[int(r.application_no[1:])]) for r in lists)


def test_explode_keeps_patent_without_ipc(spark):
    df = spark.createDataFrame([("a", None), ("b", "junk;;"), ("c", "F03D 1/06;F03D0001060000")],
                               "application_no string, ipc string")
    got = sorted(tuple(r) for r in ipc_columns.explode_ipc(df).select("application_no", "position", "symbol", "valid")
                 .fillna(-1, ["position"]).collect())
    assert got == [("a", -1, None, False), ("b", 1, None, False),
                   ("c", 1, "F03D 1/06", True), ("c", 2, "F03D 1/06", True)]
    assert ipc_columns.explode_ipc(df).filter(F.col("valid")).count() == 2
