"""Graph algorithms over many city graphs at once: exact betweenness (Brandes, on
DataFrames: GraphFrames has none) and GraphFrames' connected components, weighted PageRank
and reciprocity motif.

Every input holds many graphs that never mix: betweenness inputs carry key columns (`year`
by default, e.g. (network, year)); a GraphFrame holds all graphs as one (its vertex ids are
distinct across graphs and no arc joins two graphs), so each GraphFrames algorithm runs once
for all of them instead of once per graph (a Spark job costs the same for 6 or 6,000 cities).

- `betweenness`: exact Brandes betweenness on unweighted graphs (shortest path = fewest
  hops), SPEC §4 normalisation. Distributed over tasks (graph, shard of source cities):
  each task receives its graph's arc list (replicated by an explode, never collected), runs
  Brandes from its share of the sources in a grouped pandas UDF and returns partial
  dependency sums per city, which are then summed by (graph, city).
- `connected_components`, `weighted_pagerank`, `reciprocated_pairs`: GraphFrames.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from graphframes import GraphFrame
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import sparse

# GraphFrames connectedComponents algorithms offered (conf/networks.yaml components_algorithm)
CC_ALGORITHMS = ("graphx", "two_phase")


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
    # The shards' partial sums are added in sorted order: F.sum would add them in shuffle
    # arrival order, and a rerun could then differ in the last bit.
    ordered_sum = F.aggregate(F.array_sort(F.collect_list("dependency")), F.lit(0.0), lambda acc, x: acc + x)
    return (partial.groupBy(*by, "city_code")
            .agg((ordered_sum * F.lit(scale)).alias("betweenness")))


def connected_components(g: GraphFrame, *, algorithm: str = "graphx") -> DataFrame:
    """(id, component long) for every vertex of `g`: GraphFrames' (weakly) connected components
    (edge direction ignored; an isolated vertex is a component of its own).

    algorithm: "graphx" (Pregel label propagation: the quicker one on city-level graphs of a
    few thousand vertices) or "two_phase" (GraphFrames' default for very large graphs).
    Needs the session's checkpoint directory (greenlink.core.session sets `<warehouse>/_checkpoints`).
    broadcastThreshold=-1 leaves skewed joins to AQE instead of GraphFrames' manual broadcast.
    """
    if algorithm not in CC_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {CC_ALGORITHMS}")
    return _released(g.vertices.sparkSession, lambda: g.connectedComponents(algorithm=algorithm, broadcastThreshold=-1),
                     ["id", "component"])


def _released(spark, algorithm: Callable[[], DataFrame], columns: Sequence[str]) -> DataFrame:
    """`columns` of the result of a GraphFrames algorithm, which returns it persisted and
    materialized (GraphFrames logs `Returned DataFrame is persistent and materialized!`: the
    GraphX RDDs behind it stay in memory until unpersisted). The result is copied out of lineage
    (`localCheckpoint`: one row per vertex), then the result and the RDDs the algorithm persisted
    are unpersisted.""" 
    persistent = spark.sparkContext._jsc.getPersistentRDDs()
    before = set(persistent.keys())
    result = algorithm()
    persisted = set(spark.sparkContext._jsc.getPersistentRDDs().keys()) - before
    out = result.select(*columns).localCheckpoint(eager=True)
    result.unpersist()                # a Dataset-level cache (connected components)
    rdds = spark.sparkContext._jsc.getPersistentRDDs()
    for rdd_id in persisted:
        if rdd_id in rdds:
            rdds[rdd_id].unpersist(False)
    return out


# GraphX adds each iteration's messages in shuffle arrival order, so the last bits of a rank
# vary from run to run; digits far below the convergence tolerance are that noise, and
# rounding them off makes a rerun write the same table.
PAGERANK_DECIMALS = 9


# Every Pregel iteration of GraphX's PageRank is a Spark job over all vertex and edge
# partitions; on city graphs (25,000 arcs at 1M patents) task overhead is most of it, so the
# graph gets one partition per this many arcs (5,000-patent world: 20-27 s in the partitions
# it arrived in, 13-14 s in one; docs/benchmarks.md).
ARCS_PER_PARTITION = 1_000_000


def pagerank_partitions(n_arcs: int) -> int:
    return max(1, -(-n_arcs // ARCS_PER_PARTITION))


def weighted_pagerank(g: GraphFrame, by: Sequence[str], *, reset_probability: float = 0.15,
                      tol: float = 1e-6) -> DataFrame:
    """(id, pagerank double) for every vertex of `g`: weighted PageRank of each graph, the
    graphs being the values of the vertices' `by` columns (their vertices never share an arc).

    g: directed arcs (src, dst, weight) with a positive integer weight; an undirected edge is
    given as two arcs. GraphFrames' pageRank has no weight column but counts parallel arcs,
    so an arc of weight w is given as w parallel arcs. One pageRank run covers all graphs;
    GraphX scales ranks to sum to the vertex count of the whole run, so each graph's ranks
    are divided by their own sum: they then sum to 1 per graph, as networkx
    `pagerank(G, alpha=1 - reset_probability, weight="weight")` (a vertex without out-arcs
    spreads its rank evenly over its graph in networkx; the normalised fixed point is the
    same). tol: GraphX runs until no vertex's rank (scale: 1 per vertex) moves by more.
    """
    by = list(by)
    arcs = g.edges.select("src", "dst", F.explode(F.sequence(F.lit(1), F.col("weight").cast("int"))).alias("_k"))
    parts = pagerank_partitions(arcs.count())
    graph = GraphFrame(g.vertices.select("id", *by).coalesce(parts), arcs.drop("_k").coalesce(parts))
    pr = _released(g.vertices.sparkSession,
                   lambda: graph.pageRank(resetProbability=reset_probability, tol=tol).vertices, ["id", *by, "pagerank"])
    total = pr.groupBy(*by).agg(F.sum("pagerank").alias("_total"))
    ranks = F.col("pagerank") / F.col("_total")
    return pr.join(F.broadcast(total), by).select("id", F.round(ranks, PAGERANK_DECIMALS).alias("pagerank"))


def reciprocated_pairs(g: GraphFrame) -> DataFrame:
    """(a, b): the vertex pairs a < b joined by arcs both ways, each once — GraphFrames motif
    `(a)-[]->(b); (b)-[]->(a)` (which finds every such pair twice, once from each end).
    Self-loops are not pairs; parallel arcs must have been collapsed (one arc per direction)."""
    found = g.find("(a)-[]->(b); (b)-[]->(a)")
    return found.select(F.col("a.id").alias("a"), F.col("b.id").alias("b")).filter(F.col("a") < F.col("b"))
