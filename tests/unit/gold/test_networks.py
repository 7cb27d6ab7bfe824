"""SPEC §4 networks: edges, audits, every city-year variable, summary, Delta tables, figures."""
from __future__ import annotations

import itertools
import random
from collections import Counter

import networkx as nx
import pandas as pd
import pytest

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.gold import tables as GT
from greenlink.gold.networks import edges as nw, metrics as nm
from greenlink.gold.networks.figures import network_figures

# Hand-built world: 8 sample cities in 5 provinces (N = 8, N-1 = 7, (N-1)(N-2) = 42) and a
# city X outside the sample. Years 2010-2012; 2011 has no patents and no transfers.
A, B, C, D, E, F_, G, H, X = ("110000", "120000", "130100", "130200", "130300", "140100", "140200",
                              "150100", "990100")
PROVINCE = {A: "110000", B: "120000", C: "130000", D: "130000", E: "130000", F_: "140000",
            G: "140000", H: "150000"}
CODES = sorted(PROVINCE)
YEARS = [2010, 2011, 2012]

PATENT_CITIES = [
    # 2010: a 3-city patent, C-D three times (one row duplicated), non-sample partners
    ("P1", 2010, A), ("P1", 2010, B), ("P1", 2010, C),
    ("P2", 2010, C), ("P2", 2010, D),
    ("P3", 2010, C), ("P3", 2010, D),
    ("P4", 2010, D), ("P4", 2010, E),
    ("P5", 2010, A), ("P5", 2010, X),
    ("P6", 2010, E), ("P6", 2010, F_), ("P6", 2010, X),
    ("P7", 2010, C), ("P7", 2010, C), ("P7", 2010, D),
    ("P8", 2010, H),
    (None, 2010, A),                              # null application number
    ("P9", 2013, A), ("P9", 2013, B),             # outside the panel years
    # 2012: the square A-B-D-C-A (tied shortest paths) and C-E
    ("P20", 2012, A), ("P20", 2012, B), ("P21", 2012, B), ("P21", 2012, D),
    ("P22", 2012, D), ("P22", 2012, C), ("P23", 2012, C), ("P23", 2012, A),
    ("P24", 2012, C), ("P24", 2012, E),
]
TRANSFERS = [
    ("T1", 2010, A, B), ("T2", 2010, A, B), ("T3", 2010, A, C), ("T4", 2010, B, C), ("T5", 2010, C, D),
    ("T6", 2010, A, A),                           # local
    ("T7", 2010, G, G), ("T7b", 2010, G, G),      # G has only local transfers
    ("T8", 2010, D, X), ("T9", 2010, X, E),       # an end outside the sample
    ("T10", 2010, D, E), ("T11", 2010, C, A),
    ("T12", 2010, A, None),                       # unlocated end
    ("T13", 2013, A, B),                          # outside the panel years
    # 2012: A->B->D and A->C->D (tied), E->F apart, H local only
    ("T20", 2012, A, B), ("T21", 2012, A, C), ("T22", 2012, B, D), ("T23", 2012, C, D),
    ("T24", 2012, E, F_), ("T25", 2012, H, H),
]


def _zero(code, year):
    return dict(city_code=code, year=year, rsi=0, ex=0, **{"in": 0.0}, DC=0.0, BC=0.0, rsi_ip=0, gtr=0,
                gtr_local=0, gtr_other=0, ex_gt=0, in_gt=0.0, dc_out=0.0, dc_in=0.0, bc_gt=0.0, gtr_ip=0)


def _expected_metrics() -> pd.DataFrame:
    """Every §4 variable of the hand world, worked out by hand (see comments)."""
    rows = {(c, y): _zero(c, y) for c in CODES for y in YEARS}

    def put(code, year, **kv):
        rows[(code, year)].update(kv)

    # 2010 collaboration: A-B 1, A-C 1, B-C 1, C-D 3, D-E 1, E-F 1 (triangle ABC, path C-D-E-F).
    # BC: C lies between {A,B} and {D,E,F} (6 pairs), D between {A,B,C} and {E,F} (6), E between
    # {A,B,C,D} and F (4); normalised by (N-1)(N-2)/2 = 21.
    put(A, 2010, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7)
    put(B, 2010, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7)
    put(C, 2010, rsi=5, ex=3, **{"in": 5 / 3}, DC=3 / 7, BC=6 / 21, rsi_ip=3)
    put(D, 2010, rsi=4, ex=2, **{"in": 2.0}, DC=2 / 7, BC=6 / 21, rsi_ip=4)
    put(E, 2010, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7, BC=4 / 21, rsi_ip=1)
    put(F_, 2010, rsi=1, ex=1, **{"in": 1.0}, DC=1 / 7)
    # 2010 transfers: A->B 2, A->C, B->C, C->D, D->E, C->A; local A->A 1, G->G 2.
    # bc (directed, / 42): C on A->D, A->E, B->D, B->E, B->A (5); D on A->E, B->E, C->E (3); A on C->B.
    put(A, 2010, gtr=4, gtr_local=1, gtr_other=3, ex_gt=3, in_gt=4 / 3, dc_out=2 / 7, dc_in=1 / 7,
        bc_gt=1 / 42, gtr_ip=1)
    put(B, 2010, gtr=1, gtr_other=1, ex_gt=1, in_gt=1.0, dc_out=1 / 7, dc_in=1 / 7)
    put(C, 2010, gtr=2, gtr_other=2, ex_gt=2, in_gt=1.0, dc_out=2 / 7, dc_in=2 / 7, bc_gt=5 / 42, gtr_ip=1)
    put(D, 2010, gtr=1, gtr_other=1, ex_gt=1, in_gt=1.0, dc_out=1 / 7, dc_in=1 / 7, bc_gt=3 / 42, gtr_ip=1)
    put(E, 2010, dc_in=1 / 7)
    put(G, 2010, gtr=2, gtr_local=2, ex_gt=1, in_gt=2.0, gtr_ip=2)
    # 2012 collaboration: square A-B-D-C-A plus C-E, weights 1. Pairs with two shortest paths:
    # A-D (B, C get 1/2 each), B-C (A, D 1/2 each), B-E (A 1/2, C 1, D 1/2); A-E and D-E via C.
    put(A, 2012, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7, BC=1 / 21)
    put(B, 2012, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7, BC=0.5 / 21)
    put(C, 2012, rsi=3, ex=3, **{"in": 1.0}, DC=3 / 7, BC=3.5 / 21, rsi_ip=2)
    put(D, 2012, rsi=2, ex=2, **{"in": 1.0}, DC=2 / 7, BC=1 / 21, rsi_ip=1)
    put(E, 2012, rsi=1, ex=1, **{"in": 1.0}, DC=1 / 7, rsi_ip=1)
    # 2012 transfers: A->B, A->C, B->D, C->D (A->D tied: B, C 1/2 each), E->F, H->H local.
    put(A, 2012, gtr=2, gtr_other=2, ex_gt=2, in_gt=1.0, dc_out=2 / 7)
    put(B, 2012, gtr=1, gtr_other=1, ex_gt=1, in_gt=1.0, dc_out=1 / 7, dc_in=1 / 7, bc_gt=0.5 / 42)
    put(C, 2012, gtr=1, gtr_other=1, ex_gt=1, in_gt=1.0, dc_out=1 / 7, dc_in=1 / 7, bc_gt=0.5 / 42, gtr_ip=1)
    put(D, 2012, dc_in=2 / 7)
    put(E, 2012, gtr=1, gtr_other=1, ex_gt=1, in_gt=1.0, dc_out=1 / 7)
    put(F_, 2012, dc_in=1 / 7)
    put(H, 2012, gtr=1, gtr_local=1, ex_gt=1, in_gt=1.0, gtr_ip=1)
    return pd.DataFrame(list(rows.values()))[list(GT.METRIC_COLUMNS)]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["year", "city_code"]).reset_index(drop=True)


def _assert_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got, want = _sorted(got), _sorted(want)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def world(spark):
    cities = spark.createDataFrame(
        [(c, PROVINCE[c], 100.0 + i, 30.0 + i) for i, c in enumerate(CODES)],
        "city_code string, province_code string, longitude double, latitude double")
    pc = spark.createDataFrame(PATENT_CITIES, "application_no string, year int, city_code string")
    tr = spark.createDataFrame(TRANSFERS, "application_no string, year int, from_city string, to_city string")
    return cities, pc, tr


@pytest.fixture(scope="module")
def built(spark, world):
    """Edges and metrics of the hand world, computed once (kept as driver-side pandas)."""
    cities, pc, tr = world
    ce = nw.collab_edges(pc, cities, YEARS).toPandas()
    te = nw.transfer_edges(tr, cities, YEARS).toPandas()
    ce_df = spark.createDataFrame(ce, GT.COLLAB_EDGES.schema)
    te_df = spark.createDataFrame(te, GT.TRANSFER_EDGES.schema)
    metrics = nm.city_network_metrics(ce_df, te_df, cities, YEARS, sources_per_task=2).toPandas()
    return ce, te, metrics


@pytest.mark.slow
def test_collab_edges_count_patents_per_pair(built):
    ce = built[0]
    got = sorted(map(tuple, ce[["year", "city_a", "city_b", "weight"]].values.tolist()))
    assert got == sorted([
        (2010, A, B, 1), (2010, A, C, 1), (2010, B, C, 1),       # the 3-city patent: 1 on each pair
        (2010, C, D, 3), (2010, D, E, 1), (2010, E, F_, 1),       # X pairs dropped, duplicate row once
        (2012, A, B, 1), (2012, B, D, 1), (2012, C, D, 1), (2012, A, C, 1), (2012, C, E, 1),
    ])


def test_collab_audit_reconciles(world):
    cities, pc, _ = world
    audit = nw.collab_audit(pc, cities, YEARS).toPandas()
    got = {(r.year if pd.notna(r.year) else None, r.reason): (r.rows, r.pairs) for r in audit.itertuples()}
    assert got == {
        (2010, "accepted"): (15, 8),            # distinct patent-cities; Σ weight 2010 = 8
        (2010, "city_not_in_sample"): (2, 3),   # P5: A-X; P6: E-X, F-X
        (2010, "duplicate"): (1, 0),
        (2010, "null_field"): (1, 0),
        (2013, "year_out_of_range"): (2, 0),
        (2012, "accepted"): (10, 5),
    }
    assert int(audit["rows"].sum()) == len(PATENT_CITIES)


@pytest.mark.slow
def test_transfer_edges_and_audit(world, built):
    cities, _, tr = world
    te = built[1]
    got = sorted(map(tuple, te[["year", "src", "dst", "weight", "is_local"]].values.tolist()))
    assert got == sorted([
        (2010, A, B, 2, False), (2010, A, C, 1, False), (2010, B, C, 1, False), (2010, C, D, 1, False),
        (2010, D, E, 1, False), (2010, C, A, 1, False), (2010, A, A, 1, True), (2010, G, G, 2, True),
        (2012, A, B, 1, False), (2012, A, C, 1, False), (2012, B, D, 1, False), (2012, C, D, 1, False),
        (2012, E, F_, 1, False), (2012, H, H, 1, True),
    ])
    audit = nw.transfer_audit(tr, cities, YEARS).toPandas()
    got_audit = {(r.year, r.reason): r.rows for r in audit.itertuples()}
    assert got_audit == {(2010, "accepted"): 10, (2010, "city_not_in_sample"): 2, (2010, "null_field"): 1,
                         (2013, "year_out_of_range"): 1, (2012, "accepted"): 6}
    assert int(audit["rows"].sum()) == len(TRANSFERS)
    # without a year list every year is kept
    everything = nw.transfer_edges(tr, cities).filter("year = 2013").collect()
    assert [(r.src, r.dst, r.weight) for r in everything] == [(A, B, 1)]


def _pagerank_oracle(ce: list, te: list, codes: list, years: list) -> pd.DataFrame:
    """networkx weighted PageRank of every city in each network-year (all cities as nodes;
    local transfers are no arcs): the extension columns pagerank / pagerank_gt."""
    out = []
    for y in years:
        g, dg = nx.Graph(), nx.DiGraph()
        g.add_nodes_from(codes)
        dg.add_nodes_from(codes)
        g.add_weighted_edges_from((a, b, w) for year, a, b, w in ce if year == y)
        dg.add_weighted_edges_from((a, b, w) for year, a, b, w in te if year == y and a != b)
        pr = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-13, max_iter=10_000)
        prd = nx.pagerank(dg, alpha=0.85, weight="weight", tol=1e-13, max_iter=10_000)
        out += [dict(city_code=c, year=y, pagerank=pr[c], pagerank_gt=prd[c]) for c in codes]
    return pd.DataFrame(out)


def _assert_metrics(got: pd.DataFrame, want: pd.DataFrame, pagerank: pd.DataFrame) -> None:
    """SPEC §4 columns exactly (1e-12), then the PageRank extension to 1e-6 (GraphX iterates
    to a tolerance)."""
    assert list(got.columns) == [*GT.METRIC_COLUMNS, *GT.EXTENSION_COLUMNS]
    _assert_frames(got[list(GT.METRIC_COLUMNS)], want)
    cols = ["city_code", "year", *GT.EXTENSION_COLUMNS]
    pd.testing.assert_frame_equal(_sorted(got[cols]), _sorted(pagerank[cols]), check_dtype=False,
                                  check_exact=False, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_every_variable_on_the_hand_world(built):
    ce, te, metrics = built
    assert len(metrics) == len(CODES) * len(YEARS)        # one row per sample city and year
    _assert_metrics(metrics, _expected_metrics(), _pagerank_oracle(
        ce[["year", "city_a", "city_b", "weight"]].values.tolist(),
        te[["year", "src", "dst", "weight"]].values.tolist(), CODES, YEARS))


def test_edges_outside_the_sample_or_duplicate_cities_are_errors(spark, world):
    cities, _, _ = world
    bad = spark.createDataFrame([(2010, A, X, 1), (2010, C, B, 1)], "year int, city_a string, city_b string, weight long")
    te = spark.createDataFrame([(2010, A, B, 1, False), (2010, A, B, 2, False)], GT.TRANSFER_EDGES.schema)
    with pytest.raises(UserError) as err:
        nm.city_network_metrics(bad, te, cities, YEARS)
    assert str(err.value).startswith("collab edges: 1 x city_a >= city_b; collab edges: 1 x end outside the "
                                     "sample cities; transfer edges: 1 x repeated (year, pair) key")
    with pytest.raises(UserError, match="each sample city must appear once"):
        nw.sample_size(cities.unionByName(cities.limit(1)))


# ----------------------------------------------------------------- random world vs networkx

def _oracle(pc: list, tr: list, province: dict, years: list) -> pd.DataFrame:
    """Independent pandas/networkx computation of the §4 variables."""
    codes = sorted(province)
    n = len(codes)
    out = []
    for y in years:
        patents: dict = {}
        for app, year, city in pc:
            if year == y and city in province:
                patents.setdefault(app, set()).add(city)
        w = Counter(p for cs in patents.values() for p in itertools.combinations(sorted(cs), 2))
        g = nx.Graph()
        g.add_nodes_from(codes)
        g.add_edges_from(w)
        bc = nx.betweenness_centrality(g, normalized=True)
        t = Counter((s, d) for _, year, s, d in tr if year == y and s in province and d in province)
        dg = nx.DiGraph()
        dg.add_nodes_from(codes)
        dg.add_edges_from(k for k in t if k[0] != k[1])
        bcd = nx.betweenness_centrality(dg, normalized=True)
        for i in codes:
            part = {(b if a == i else a): wt for (a, b), wt in w.items() if i in (a, b)}
            rsi, ex = sum(part.values()), len(part)
            outs = {d: k for (s, d), k in t.items() if s == i}
            gtr = sum(outs.values())
            local = outs.get(i, 0)
            out.append(dict(
                city_code=i, year=y, rsi=rsi, ex=ex, **{"in": rsi / ex if ex else 0.0}, DC=ex / (n - 1),
                BC=bc[i], rsi_ip=sum(v for b, v in part.items() if province[b] == province[i]),
                gtr=gtr, gtr_local=local, gtr_other=gtr - local, ex_gt=len(outs),
                in_gt=gtr / len(outs) if outs else 0.0, dc_out=len([d for d in outs if d != i]) / (n - 1),
                dc_in=len({s for (s, d) in t if d == i and s != i}) / (n - 1), bc_gt=bcd[i],
                gtr_ip=sum(v for d, v in outs.items() if province[d] == province[i])))
    return pd.DataFrame(out)[list(GT.METRIC_COLUMNS)]


@pytest.mark.slow
def test_random_world_matches_networkx(spark):
    rng = random.Random(2024)
    province = {f"{p}{c:02d}00": f"{p}0000" for p in (32, 33, 44) for c in range(1, 6)}   # 15 cities
    codes = sorted(province)
    outside = ["990100", "980100"]
    years = [2015, 2016, 2017]
    pc, tr = [], []
    for y in years[:2]:                                 # 2017 stays empty
        for k in range(40):
            for city in rng.sample(codes + outside, rng.choice([1, 2, 2, 2, 3, 4])):
                pc.append((f"P{y}-{k}", y, city))
        for k in range(45):
            s = rng.choice(codes + outside[:1])
            tr.append((f"T{y}-{k}", y, s, s if rng.random() < 0.15 else rng.choice(codes + outside[1:])))
    cities = spark.createDataFrame([(c, province[c]) for c in codes], "city_code string, province_code string")
    ce = nw.collab_edges(spark.createDataFrame(pc, "application_no string, year int, city_code string"), cities)
    te = nw.transfer_edges(spark.createDataFrame(
        tr, "application_no string, year int, from_city string, to_city string"), cities)
    got = nm.city_network_metrics(ce, te, cities, years, sources_per_task=4).toPandas()
    _assert_metrics(got, _oracle(pc, tr, province, years), _pagerank_oracle(
        [tuple(r) for r in ce.select("year", "city_a", "city_b", "weight").collect()],
        [tuple(r) for r in te.select("year", "src", "dst", "weight").collect()], codes, years))


# ----------------------------------------------------------------- Delta tables and figures

@pytest.mark.slow
def test_summary_and_delta_tables(spark, fresh_warehouse, world, built):
    """The outputs fit their Delta tables; the summary is computed, written and read back."""
    cities, _, _ = world
    ce, te, metrics = built
    # edge tables: their CHECKs hold on the edges (evaluated as SQL, without a Delta round trip)
    for spec, pdf in ((GT.COLLAB_EDGES, ce), (GT.TRANSFER_EDGES, te)):
        df = spark.createDataFrame(pdf, spec.schema)
        assert df.filter(" OR ".join(f"NOT ({e})" for e in spec.checks.values())
                         + "".join(f" OR {c} IS NULL" for c in spec.not_null)).count() == 0
    tables.write(spark.createDataFrame(metrics, GT.CITY_NETWORK_METRICS.schema), GT.CITY_NETWORK_METRICS)
    assert tables.protocol(spark, GT.CITY_NETWORK_METRICS.name)[0] == 1     # delta-rs / DuckDB readable
    tables.write(nm.network_summary(spark.createDataFrame(ce, GT.COLLAB_EDGES.schema),
                                    spark.createDataFrame(te, GT.TRANSFER_EDGES.schema),
                                    tables.read(spark, GT.CITY_NETWORK_METRICS.name), cities, YEARS),
                 GT.NETWORK_SUMMARY)
    s = tables.read(spark, GT.NETWORK_SUMMARY.name).toPandas()
    got = {(r["network"], r["year"]): r for r in s.to_dict("records")}
    assert len(got) == 6
    c10 = got[("collab", 2010)]
    assert (c10["n_cities"], c10["nodes_with_ties"], c10["isolated_cities"], c10["edges"], c10["total_weight"],
            c10["components"], c10["largest_component_size"]) == (8, 6, 2, 6, 8, 1, 6)
    assert c10["local_transfers"] is None or pd.isna(c10["local_transfers"])
    assert c10["density"] == pytest.approx(6 / 28) and c10["largest_component_share"] == pytest.approx(6 / 8)
    assert {k: list(v) for k, v in c10["top_cities"].items()} == {
        "rsi": [C, D, A, B, E], "DC": [C, A, B, D, E], "BC": [C, D, E]}
    t10 = got[("transfer", 2010)]
    assert (t10["nodes_with_ties"], t10["isolated_cities"], t10["edges"], t10["total_weight"],
            t10["local_transfers"], t10["components"], t10["largest_component_size"]) == (5, 3, 6, 7, 3, 1, 5)
    assert t10["density"] == pytest.approx(6 / 56)
    assert {k: list(v) for k, v in t10["top_cities"].items()} == {
        "gtr": [A, C, G, B, D], "dc_out": [A, C, B, D], "dc_in": [C, A, B, D, E], "bc_gt": [C, D, A]}
    for net in nw.NETWORKS:
        empty = got[(net, 2011)]
        assert (empty["nodes_with_ties"], empty["edges"], empty["components"], empty["density"],
                empty["largest_component_share"], len(empty["top_cities"])) == (0, 0, 0, 0.0, 0.0, 0)
    t12 = got[("transfer", 2012)]
    assert (t12["nodes_with_ties"], t12["components"], t12["largest_component_size"], t12["local_transfers"]) \
        == (6, 2, 4, 1)
    assert t12["largest_component_share"] == pytest.approx(0.5)
    assert got[("collab", 2012)]["components"] == 1
    # reciprocity (extension, transfer only): 2010 arcs A->B, A->C, B->C, C->D, D->E, C->A: the
    # pair A-C both ways out of 5 linked pairs; 2012 none reciprocated; 2011 has no arc
    assert (t10["reciprocated_pairs"], t10["reciprocity"]) == (1, pytest.approx(1 / 5))
    assert (t12["reciprocated_pairs"], t12["reciprocity"]) == (0, 0.0)
    assert got[("transfer", 2011)]["reciprocated_pairs"] == 0 and pd.isna(got[("transfer", 2011)]["reciprocity"])
    for y in YEARS:
        c = got[("collab", y)]
        assert pd.isna(c["reciprocated_pairs"]) and pd.isna(c["reciprocity"])
    # the constraints reject impossible rows
    row = metrics[metrics["year"] == 2010].head(1)
    bad = row.assign(gtr_other=row["gtr"] + 1)
    with pytest.raises(Exception, match="metrics_counts"):
        tables.write(spark.createDataFrame(bad, GT.CITY_NETWORK_METRICS.schema), GT.CITY_NETWORK_METRICS,
                     mode="replace_where", replace_where="year = 2010")


@pytest.mark.slow
def test_figures_are_written(spark, world, built, tmp_path):
    cities, _, _ = world
    ce, te, _ = built
    paths = network_figures(spark.createDataFrame(ce, GT.COLLAB_EDGES.schema),
                            spark.createDataFrame(te, GT.TRANSFER_EDGES.schema), cities, [2010, 2011], tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{n}_network_{y}.{ext}" for n in nw.NETWORKS for y in (2010, 2011)
                           for ext in ("png", "svg"))
    for p in paths:
        assert p.parent == tmp_path and p.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_top_cities_are_written_in_one_order_whatever_the_shuffle(spark):
    """network_summary.top_cities holds its entries in TOP_METRICS order however the shuffle
    delivers them (a cluster run wrote BC, DC, rsi where a local run wrote rsi, DC, BC): the
    stored order (map_keys) is the same under any number of shuffle partitions."""
    from pyspark.sql import functions as F

    from greenlink.gold.networks import metrics as nm

    cols = [c for m in nw.TOP_METRICS.values() for c in m]
    rows = [(2010, c, *[float(i + k + 1) for k in range(len(cols))]) for i, c in enumerate("ABCDEF")]
    metrics = spark.createDataFrame(rows, ["year", "city_code", *cols])
    keep = {k: spark.conf.get(k) for k in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
    seen = set()
    try:
        spark.conf.set("spark.sql.adaptive.enabled", "false")
        for n in (1, 2, 3, 5, 7, 13):
            spark.conf.set("spark.sql.shuffle.partitions", str(n))
            got = nm._top_cities(metrics, 3).select("network", F.map_keys("top_cities").alias("k")).collect()
            seen.add(tuple(sorted((r["network"], tuple(r["k"])) for r in got)))
    finally:
        for k, v in keep.items():
            spark.conf.set(k, v)
    assert seen == {tuple(sorted((net, tuple(m)) for net, m in nw.TOP_METRICS.items()))}
