"""Exact betweenness (Brandes) and the GraphFrames algorithms (components, weighted PageRank,
degrees, reciprocity motif) against networkx."""
from __future__ import annotations

import itertools
import random

import networkx as nx
import numpy as np
import pytest

from graphframes import GraphFrame

from greenlink.gold.networks import centrality
from greenlink.gold.networks.centrality import (CC_ALGORITHMS, betweenness, brandes_dependencies, connected_components,
                                  reciprocated_pairs, weighted_pagerank)

TOL = 1e-9


def _random_graph(rng: random.Random, n: int, p: float, directed: bool) -> nx.Graph:
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(n))
    for a, b in itertools.permutations(range(n), 2):
        if (directed or a < b) and rng.random() < p:
            g.add_edge(a, b)
    return g


def _brandes_normalised(g: nx.Graph, sources=None) -> dict:
    n = g.number_of_nodes()
    arcs = list(g.edges()) + ([] if g.is_directed() else [(b, a) for a, b in g.edges()])
    src = np.array([a for a, _ in arcs], dtype=int)
    dst = np.array([b for _, b in arcs], dtype=int)
    srcs = np.array(sorted(g.nodes()) if sources is None else sources, dtype=int)
    dep = brandes_dependencies(src, dst, srcs, n)
    scale = 1.0 / ((n - 1) * (n - 2)) if n > 2 else 0.0
    return {v: dep[v] * scale for v in range(n)}


def _assert_close(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k in want:
        assert abs(got[k] - want[k]) <= TOL, (k, got[k], want[k])


@pytest.mark.parametrize("directed", [False, True])
def test_brandes_kernel_matches_networkx_on_random_graphs(directed):
    rng = random.Random(7)
    for n in list(range(1, 9)) + [15, 25, 40]:
        for p in (0.0, 0.1, 0.25, 0.6, 1.0):
            g = _random_graph(rng, n, p, directed)
            _assert_close(_brandes_normalised(g), nx.betweenness_centrality(g, normalized=True))


def test_brandes_kernel_ties_and_split_sources():
    # 4x4 grid: many equal shortest paths; 6-cycle: two equal ways round
    for g in (nx.convert_node_labels_to_integers(nx.grid_2d_graph(4, 4)), nx.cycle_graph(6),
              nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (1, 4)])):
        want = nx.betweenness_centrality(g, normalized=True)
        _assert_close(_brandes_normalised(g), want)
        # summing partial dependencies over disjoint source shards gives the same result
        nodes = sorted(g.nodes())
        parts = [_brandes_normalised(g, nodes[i::3]) for i in range(3)]
        _assert_close({v: sum(p[v] for p in parts) for v in nodes}, want)
    # duplicate arcs do not change unweighted shortest paths
    dep = brandes_dependencies(np.array([0, 0, 1, 1]), np.array([1, 1, 2, 2]), np.array([0, 1, 2]), 3)
    assert dep.tolist() == [0.0, 1.0, 0.0]


def _edge_rows(year: int, g: nx.Graph, names) -> list[tuple]:
    return [(year, names[a], names[b]) for a, b in g.edges()]


def _by_year(rows) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r[0], {})[r[1]] = r[2]
    return out


@pytest.mark.slow
def test_distributed_betweenness_matches_networkx(spark):
    names = [f"{i:02d}0100" for i in range(10)]   # N = 10 sample cities
    rng = random.Random(3)
    graphs_u = {
        2010: nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (3, 4)]),            # 4-cycle: tied paths
        2011: nx.Graph([(0, 1), (1, 2), (5, 6), (6, 7), (7, 5), (7, 8)]),    # two parts + isolated
        2012: _random_graph(rng, 10, 0.3, False),
        2013: nx.Graph(),                                                     # no edges at all
    }
    graphs_d = {
        2010: nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 0)]),
        2011: nx.DiGraph([(0, 1), (1, 2), (5, 6), (6, 5), (8, 9)]),
        2012: _random_graph(rng, 10, 0.25, True),
    }
    for directed, graphs in ((False, graphs_u), (True, graphs_d)):
        rows = [r for y, g in graphs.items() for r in _edge_rows(y, g, names)]
        if directed:
            rows += [(2010, names[5], names[5])]          # a self-loop (local transfer) is no edge
        else:
            rows += [(2010, names[1], names[0])]          # the same edge given in both orientations
        edges = spark.createDataFrame(rows, "year int, src string, dst string")
        results = [_by_year(betweenness(edges, len(names), directed=directed, sources_per_task=k).collect())
                   for k in (3, 64)]                      # several shards per year, and one
        for got in results:
            for year, g in graphs.items():
                full = (nx.DiGraph() if directed else nx.Graph())
                full.add_nodes_from(range(len(names)))
                full.add_edges_from(g.edges())
                want = nx.betweenness_centrality(full, normalized=True)
                have = got.get(year, {})
                for v, value in want.items():
                    assert abs(have.get(names[v], 0.0) - value) <= TOL, (directed, year, v)
                assert all(value != 0.0 for value in have.values())   # only cities that lie between


def test_betweenness_tiny_samples_are_zero(spark):
    edges = spark.createDataFrame([(2010, "a", "b")], "year int, src string, dst string")
    assert betweenness(edges, 2, directed=False).collect() == []
    empty = spark.createDataFrame([], "year int, src string, dst string")
    assert betweenness(empty, 10, directed=True).collect() == []


def _graphframe(spark, graphs: dict) -> GraphFrame:
    """Several hand-built graphs as ONE GraphFrame, as the networks stage builds it: vertex
    id = 100 * key + node, a `graph` column, every node a vertex (isolated ones included);
    an undirected edge is given as two arcs; arcs carry networkx's `weight` (default 1)."""
    v = [(100 * k + node, k) for k, g in graphs.items() for node in g.nodes()]
    e = []
    for k, g in graphs.items():
        for a, b, w in g.edges(data="weight", default=1):
            e.append((100 * k + a, 100 * k + b, w))
            if not g.is_directed() and a != b:
                e.append((100 * k + b, 100 * k + a, w))
    return GraphFrame(spark.createDataFrame(v, "id long, graph int"),
                      spark.createDataFrame(e, "src long, dst long, weight long"))


def _nodes(n: int, g: nx.Graph) -> nx.Graph:
    out = g.__class__()
    out.add_nodes_from(range(n))
    out.add_edges_from(g.edges(data=True))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", CC_ALGORITHMS)
def test_graphframes_components_match_networkx(spark, algorithm):
    rng = random.Random(11)
    graphs = {
        0: _random_graph(rng, 14, 0.12, False),
        1: _random_graph(rng, 14, 0.08, True),      # weak connectivity
        2: _nodes(14, nx.path_graph(9)),             # long diameter, 5 isolated vertices
        3: _nodes(6, nx.DiGraph([(3, 4)])),          # mostly isolated
    }
    got: dict = {}
    for r in connected_components(_graphframe(spark, graphs), algorithm=algorithm).collect():
        got.setdefault(r["component"], set()).add(r["id"])
    got_parts = sorted(sorted(c) for c in got.values())
    want = sorted(sorted(100 * k + v for v in c) for k, g in graphs.items()
                  for c in nx.connected_components(g.to_undirected()))
    assert got_parts == want
    with pytest.raises(ValueError):
        connected_components(_graphframe(spark, graphs), algorithm="bfs")


@pytest.mark.slow
@pytest.mark.parametrize("arcs_per_partition", [centrality.ARCS_PER_PARTITION, 7])
def test_graphframes_weighted_pagerank_matches_networkx(spark, monkeypatch, arcs_per_partition):
    # the stage's graphs fit one partition; a small bound splits this one into several
    monkeypatch.setattr(centrality, "ARCS_PER_PARTITION", arcs_per_partition)
    rng = random.Random(5)
    graphs = {
        0: nx.Graph([(0, 1, {"weight": 3}), (1, 2, {"weight": 1}), (2, 0, {"weight": 2}), (2, 3, {"weight": 5})]),
        1: nx.DiGraph([(0, 1, {"weight": 2}), (1, 2, {"weight": 1}), (2, 0, {"weight": 4}),
                       (2, 3, {"weight": 1}), (4, 3, {"weight": 3})]),        # 3 is a sink, 4 has no in-arc
        2: _nodes(5, nx.DiGraph([(0, 1, {"weight": 1})])),                     # sinks and isolated cities
        3: _nodes(4, nx.Graph()),                                              # no edge at all: 1/N each
    }
    r4 = _random_graph(rng, 12, 0.3, True)
    for a, b in r4.edges():
        r4[a][b]["weight"] = rng.randint(1, 4)
    graphs[4] = r4
    g = _graphframe(spark, graphs)
    got = {r["id"]: r["pagerank"] for r in weighted_pagerank(g, ("graph",), tol=1e-9).collect()}
    assert set(got) == {100 * k + v for k, gr in graphs.items() for v in gr.nodes()}
    n_arcs = sum(d["weight"] * (1 if gr.is_directed() else 2) for gr in graphs.values() for *_, d in gr.edges(data=True))
    assert (centrality.pagerank_partitions(n_arcs) > 1) == (n_arcs > arcs_per_partition)   # split or not
    for k, gr in graphs.items():
        want = nx.pagerank(gr, alpha=0.85, weight="weight", tol=1e-13, max_iter=10_000)
        for v, value in want.items():
            assert abs(got[100 * k + v] - value) <= 1e-6, (k, v, got[100 * k + v], value)


def test_graphframes_degrees_and_reciprocated_pairs_match_networkx(spark):
    rng = random.Random(9)
    graphs = {0: _random_graph(rng, 12, 0.3, True), 1: _random_graph(rng, 12, 0.1, True),
              2: _nodes(5, nx.DiGraph([(0, 1), (1, 0), (1, 2), (3, 4), (4, 3)])), 3: _nodes(3, nx.DiGraph())}
    g = _graphframe(spark, graphs)
    pairs = {(r["a"], r["b"]) for r in reciprocated_pairs(g).collect()}
    want = {(100 * k + a, 100 * k + b) for k, gr in graphs.items() for a, b in gr.edges()
            if a < b and gr.has_edge(b, a)}
    assert pairs == want
    for k, gr in graphs.items():
        if gr.number_of_edges():   # networkx's share of reciprocated arcs = 2 x pairs / arcs
            mine = 2 * sum(1 for a, _ in pairs if a // 100 == k) / gr.number_of_edges()
            assert abs(mine - nx.overall_reciprocity(gr)) < 1e-12
    for name, frame, nx_deg in (("degree", g.degrees, "degree"), ("inDegree", g.inDegrees, "in_degree"),
                                ("outDegree", g.outDegrees, "out_degree")):
        got = {r["id"]: r[name] for r in frame.collect()}
        want = {100 * k + v: d for k, gr in graphs.items() for v, d in getattr(gr, nx_deg)() if d > 0}
        assert got == want, name
