"""Exact graph algorithms on Spark DataFrames: betweenness (Brandes) and connected components.

GraphFrames cannot be used here (docs/networks.md), so both algorithms are written on
DataFrames and work on many graphs at once: every input carries key columns (`year` by
default, e.g. (network, year)) and graphs of different keys never mix.

- `betweenness`: exact Brandes betweenness on unweighted graphs (shortest path = fewest
  hops), SPEC §4 normalisation. Distributed over tasks (graph, shard of source cities):
  each task receives its graph's arc list (replicated by an explode, never collected), runs
  Brandes from its share of the sources in a grouped pandas UDF and returns partial
  dependency sums per city, which are then summed by (graph, city).
- `connected_components`: (weakly) connected components by iterative min-label propagation
  on DataFrames, checkpointed every round to cut the lineage.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import sparse

def symmetrise(edges: DataFrame, by: Sequence[str] = ("year",)) -> DataFrame:
    """(*by, src, dst) with every pair in both directions, self-loops and duplicates removed."""
    e = edges.select(*by, "src", "dst").filter(F.col("src") != F.col("dst"))
    return e.unionByName(e.select(*by, F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct()


def brandes_dependencies(src: np.ndarray, dst: np.ndarray, sources: np.ndarray,
                         n_nodes: int) -> np.ndarray:
    """Σ over `sources` s of the Brandes dependency δ_s(v), for every node v (length n_nodes).

    Nodes are integers 0..n_nodes-1; the arcs src[k] -> dst[k] (duplicates ignored) form a
    directed unweighted graph (give both directions for an undirected one). δ_s(v) =
    Σ_{t≠s,v} σ_st(v)/σ_st with σ = number of shortest (fewest-hop) paths. The source's own
    δ_s(s) is not included. All sources run at once as a level-synchronous BFS on a
    (sources × nodes) matrix: O(levels · (|sources|·|E| + |sources|·n)) per call.
    """
    out = np.zeros(n_nodes)
    if len(sources) == 0 or len(src) == 0:
        return out
    adj = sparse.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n_nodes, n_nodes))
    adj.data[:] = 1.0  # duplicate arcs were summed by the constructor: one arc counts once
    adj_t = adj.T.tocsr()
    rows = np.arange(len(sources))
    dist = np.full((len(sources), n_nodes), -1, dtype=np.int64)
    sigma = np.zeros((len(sources), n_nodes))
    dist[rows, sources] = 0
    sigma[rows, sources] = 1.0
    frontier = sigma.copy()
    depth = 0
    while True:
        # paths to the next level: σ(w) = Σ over predecessors v at this level of σ(v)
        reach = np.asarray((adj_t @ frontier.T).T)
        new = (reach > 0) & (dist < 0)
        if not new.any():
            break
        depth += 1
        dist[new] = depth
        sigma[new] = reach[new]
        frontier = np.where(new, reach, 0.0)
    delta = np.zeros_like(sigma)
    for d in range(depth, 0, -1):
        at_d = dist == d
        coef = np.zeros_like(sigma)
        coef[at_d] = (1.0 + delta[at_d]) / sigma[at_d]
        # back[v] = Σ over successors w of v (arc v->w) at level d of (1 + δ(w)) / σ(w)
        back = np.asarray((adj @ coef.T).T)
        prev = dist == d - 1
        delta[prev] += sigma[prev] * back[prev]
    delta[rows, sources] = 0.0
    return delta.sum(axis=0)


def _brandes_task(pdf: pd.DataFrame) -> pd.DataFrame:
    """One task: all arcs (src, dst) of one graph, plus its shard number and shard count.

    The graph's sources (cities with an outgoing arc) are sorted and dealt round-robin to
    the shards; every task of the graph sees the same arcs, so the deal is the same in all
    of them. Returns the task's graph keys (all other columns), city_code and the summed
    dependency of every city with a non-zero one.
    """
    keys = [c for c in pdf.columns if c not in ("src", "dst", "shard", "n_shards")]
    shard, n_shards = int(pdf["shard"].iloc[0]), int(pdf["n_shards"].iloc[0])
    names = pd.Index(np.unique(np.concatenate([pdf["src"].to_numpy(str), pdf["dst"].to_numpy(str)])))
    sources = np.unique(pdf["src"].to_numpy(str))[shard::n_shards]
    dep = brandes_dependencies(names.get_indexer(pdf["src"]), names.get_indexer(pdf["dst"]),
                               names.get_indexer(sources), len(names))
    keep = dep != 0.0
    out = pd.DataFrame({k: np.repeat(pdf[k].iloc[:1].to_numpy(), int(keep.sum())) for k in keys})
    out["city_code"] = names[keep].astype(str)
    out["dependency"] = dep[keep]
    return out


def betweenness(edges: DataFrame, n_cities: int, *, directed: bool, by: Sequence[str] = ("year",),
                sources_per_task: int = 64) -> DataFrame:
    """Exact normalised betweenness per graph and city — SPEC §4 `BC` and transfer `bc`.

    edges: (*by, src, dst) — the arcs of one graph per value of the `by` columns (default:
      one graph per year); for `directed=False` each undirected edge given once in either
      orientation (both are fine). Self-loops are ignored (a local transfer is not a graph
      edge); duplicate rows count once (unweighted paths).
    n_cities: N, the number of sample cities (isolated ones included).
    Returns (*by, city_code, betweenness double) for the cities on some shortest path
    between two others; every other city has betweenness 0 (callers fill the city grid).

    Value: Σ_{s≠i≠t} σ_st(i)/σ_st over ORDERED pairs, divided by (N−1)(N−2). For an
    undirected graph the ordered sum counts each unordered pair twice, so this equals SPEC's
    unordered sum / ((N−1)(N−2)/2); for a directed graph it is SPEC's directed `bc`.
    Equal to networkx `betweenness_centrality(G, normalized=True)` on a graph holding all N
    cities. 0 when N < 3 (no city can lie between two others).

    Distribution: S = ceil(N / sources_per_task) shards per graph. Every arc is replicated
    to the graph's S tasks (an explode, no join) and `groupBy(*by, shard).applyInPandas`
    runs Brandes in each task from its share of the graph's sources (at most
    ceil(N / S) ≤ sources_per_task of them); partial sums are added up by (*by, city).
    """
    if sources_per_task < 1:
        raise ValueError("sources_per_task must be >= 1")
    by = list(by)
    spark = edges.sparkSession
    out_schema = T.StructType([T.StructField(c, edges.schema[c].dataType) for c in by]
                              + [T.StructField("city_code", T.StringType()),
                                 T.StructField("dependency", T.DoubleType())])
    if n_cities < 3:
        return spark.createDataFrame([], out_schema).withColumnRenamed("dependency", "betweenness")
    arcs = edges.select(*by, "src", "dst").filter(F.col("src") != F.col("dst"))
    if not directed:
        arcs = arcs.unionByName(arcs.select(*by, F.col("dst").alias("src"), F.col("src").alias("dst")))
    n_shards = -(-n_cities // sources_per_task)
    work = (arcs.withColumn("shard", F.explode(F.sequence(F.lit(0), F.lit(n_shards - 1))))
            .withColumn("n_shards", F.lit(n_shards)))
    partial = work.groupBy(*by, "shard").applyInPandas(_brandes_task, out_schema)
    scale = 1.0 / ((n_cities - 1) * (n_cities - 2))
    return (partial.groupBy(*by, "city_code")
            .agg((F.sum("dependency") * F.lit(scale)).alias("betweenness")))


def connected_components(edges: DataFrame, by: Sequence[str] = ("year",), *,
                         max_rounds: int = 1000) -> DataFrame:
    """(Weakly) connected components of each graph: (*by, city_code, component).

    edges: (*by, src, dst), one graph per value of the `by` columns (default: per year);
    direction is ignored (weak connectivity for a directed graph), self-loops are ignored.
    Only cities with at least one edge to another city are returned; `component` = the
    smallest city_code of the component.

    Min-label propagation: every city starts with its own code as label; each round a city
    takes the smallest label among itself and its neighbours, until no label changes
    (at most 1 + the largest eccentricity of a component's smallest city). Every round's
    labels are checkpointed, so the lineage stays one round deep.
    """
    by = list(by)
    arcs = _checkpoint(symmetrise(edges, by))
    labels = (arcs.select(*by, F.col("src").alias("city_code"))
              .distinct().withColumn("component", F.col("city_code")))
    keys = [*by, "city_code"]
    for _ in range(max_rounds):
        # labels are city-level (at most N rows per graph): broadcast them, arcs stay put
        sent = (arcs.join(F.broadcast(labels.withColumnRenamed("city_code", "src")), [*by, "src"])
                .select(*by, F.col("dst").alias("city_code"), "component", F.lit(None).cast("string").alias("own")))
        own = labels.select(*keys, "component", F.col("component").alias("own"))
        new = (own.unionByName(sent).groupBy(*keys)
               .agg(F.min("component").alias("component"), F.max("own").alias("own")))
        # a lazy checkpoint, materialised by the one action of the round: counting the changes
        # computes every partition (no limit), so the checkpoint is complete afterwards
        new = new.withColumn("changed", F.col("component") != F.col("own")).localCheckpoint(eager=False)
        labels = new.select(*keys, "component")
        if new.filter("changed").count() == 0:
            return labels
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _checkpoint(df: DataFrame) -> DataFrame:
    """Materialise and cut the lineage. Local checkpoints (executor block storage): the
    tables are city-level (at most N cities per graph), and a reliable checkpoint would
    compute an uncached plan twice (once to count, once to write)."""
    return df.localCheckpoint(eager=True)
