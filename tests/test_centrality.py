"""Exact betweenness (Brandes) and connected components against networkx."""
from __future__ import annotations

import itertools
import random

import networkx as nx
import numpy as np
import pytest

from greenlink.centrality import betweenness, brandes_dependencies, connected_components

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


def test_connected_components_match_networkx(spark):
    rng = random.Random(11)
    graphs = {
        2010: _random_graph(rng, 14, 0.12, False),
        2011: _random_graph(rng, 14, 0.08, True),     # weak connectivity
        2012: nx.path_graph(9),                        # long diameter: many rounds
        2013: nx.DiGraph([(3, 4), (5, 5)]),            # a self-loop alone is no tie
    }
    names = [f"c{i:02d}" for i in range(14)]
    rows = [r for y, g in graphs.items() for r in _edge_rows(y, g, names)]
    comp = connected_components(spark.createDataFrame(rows, "year int, src string, dst string")).collect()
    got: dict = {}
    for r in comp:
        got.setdefault(r["year"], {}).setdefault(r["component"], set()).add(r["city_code"])
    for year, g in graphs.items():
        u = nx.Graph(g.to_undirected() if g.is_directed() else g)
        u.remove_edges_from(nx.selfloop_edges(u))
        u.remove_nodes_from([v for v in list(u) if u.degree(v) == 0])
        want = {min(names[v] for v in c): {names[v] for v in c} for c in nx.connected_components(u)}
        assert got.get(year, {}) == want, year
