"""SPEC §4 city-year network variables (gold.city_network_metrics) and gold.network_summary from
the edge lists of `networks`: one GraphFrame holding both networks in every year
(`network_graph`), its degrees, betweenness (`centrality.betweenness`), connected components and
the PageRank and reciprocity extensions; one metrics row per sample city and year with zeros for
cities without ties (docs/networks.md).
"""
from __future__ import annotations

from collections.abc import Iterable

from graphframes import GraphFrame
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.errors import UserError
from greenlink.gold.networks.centrality import betweenness, connected_components, reciprocated_pairs, weighted_pagerank
from greenlink.gold.networks.edges import NETWORKS, TOP_METRICS, sample_frame, sample_size, year_list
from greenlink.gold.tables import EXTENSION_COLUMNS


# --------------------------------------------------------------------------- city-year variables

def _check_edges(collab: DataFrame, transfer: DataFrame, cities: DataFrame) -> None:
    """Edges must be keyed as `collab_edges` / `transfer_edges` make them, on the same sample.

    One Spark action finds ends outside the sample, repeated keys and unordered collab
    pairs; any of them is a UserError (the variables would silently be wrong otherwise).
    """
    c = collab.select(F.lit("collab edges").alias("edges"), "year", F.col("city_a").alias("a"),
                      F.col("city_b").alias("b"))
    t = transfer.select(F.lit("transfer edges").alias("edges"), "year", F.col("src").alias("a"),
                        F.col("dst").alias("b"))
    both = c.unionByName(t)
    ends = both.select("edges", F.explode(F.array("a", "b")).alias("city_code"))
    outside = (ends.join(F.broadcast(cities.select("city_code")), "city_code", "left_anti")
               .select("edges", F.lit("end outside the sample cities").alias("problem")))
    repeated = (both.groupBy("edges", "year", "a", "b").count().filter("count > 1")
                .select("edges", F.lit("repeated (year, pair) key").alias("problem")))
    unordered = c.filter(~(F.col("a") < F.col("b"))).select("edges", F.lit("city_a >= city_b").alias("problem"))
    bad = outside.unionByName(repeated).unionByName(unordered).groupBy("edges", "problem").count().collect()
    if bad:
        detail = "; ".join(f"{r['edges']}: {r['count']} x {r['problem']}" for r in sorted(bad))
        raise UserError(f"{detail} — build the edges with collab_edges/transfer_edges on the same `cities`")


_SUM_LONG = ("rsi", "ex", "rsi_ip", "gtr", "gtr_local", "ex_gt", "n_out", "gtr_ip", "n_in")
_SUM_DOUBLE = ("BC", "bc_gt", "pagerank", "pagerank_gt")


def _contributions(df: DataFrame, **cols: Column) -> DataFrame:
    """(year, city_code, every _SUM_LONG/_SUM_DOUBLE column): the given ones, null elsewhere."""
    return df.select("year", "city_code", *[
        (cols[c] if c in cols else F.lit(None)).cast("long" if c in _SUM_LONG else "double").alias(c)
        for c in (*_SUM_LONG, *_SUM_DOUBLE)])


def network_graph(collab: DataFrame, transfer: DataFrame, cities: DataFrame, years: Iterable[int]) -> GraphFrame:
    """ONE GraphFrame holding both networks in every year — the graph the SPEC §4 graph
    quantities come from (degrees, components, betweenness arcs, PageRank, reciprocity).

    Vertices (id long, network, year, city_code): every sample city in every network-year,
    isolated ones included (2 × years × N rows); id = (network number · 10⁴ + year) · N +
    the city's rank in the sample, so no two network-years share a vertex and no arc joins
    two of them: each algorithm runs once for all 2 × years graphs.
    Edges (src, dst long, network, year, weight, src_city, dst_city): collaboration edges
    once (city_a -> city_b; undirected: see `directed_view`), transfer arcs src -> dst;
    local transfers (src = dst) are not graph edges. Edges must be keyed as `collab_edges` /
    `transfer_edges` make them (checked by `city_network_metrics`).
    """
    spark = cities.sparkSession
    codes = list(sample_frame(cities)["city_code"])
    n = len(codes)
    ys = year_list(years)
    vertices = spark.createDataFrame(
        [((k * 10_000 + y) * n + i, net, y, c) for k, net in enumerate(NETWORKS) for y in ys
         for i, c in enumerate(codes)], "id long, network string, year int, city_code string")
    rank = F.create_map(*[F.lit(x) for i, c in enumerate(codes) for x in (c, i)])

    def vid(network: str, city: str) -> Column:
        k = NETWORKS.index(network)
        return ((F.lit(k * 10_000) + F.col("year")) * F.lit(n) + rank[F.col(city)]).cast("long")

    c = collab.select(F.col("year").cast("int").alias("year"), F.col("city_a").alias("src_city"),
                      F.col("city_b").alias("dst_city"), "weight").filter(F.col("year").isin(ys))
    t = (transfer.select(F.col("year").cast("int").alias("year"), F.col("src").alias("src_city"),
                         F.col("dst").alias("dst_city"), "weight")
         .filter(F.col("year").isin(ys) & (F.col("src_city") != F.col("dst_city"))))
    edges = [e.select(vid(net, "src_city").alias("src"), vid(net, "dst_city").alias("dst"),
                      F.lit(net).alias("network"), "year", F.col("weight").cast("long").alias("weight"),
                      "src_city", "dst_city")
             for net, e in (("collab", c), ("transfer", t))]
    return GraphFrame(vertices, edges[0].unionByName(edges[1]))


def directed_view(graph: GraphFrame) -> GraphFrame:
    """`network_graph` with every collaboration edge as two arcs (a -> b and b -> a), transfer
    arcs as they are: the directed graph betweenness and PageRank walk on."""
    e = graph.edges
    back = e.filter(F.col("network") == "collab").select(
        F.col("dst").alias("src"), F.col("src").alias("dst"), "network", "year", "weight",
        F.col("dst_city").alias("src_city"), F.col("src_city").alias("dst_city"))
    return GraphFrame(graph.vertices, e.unionByName(back))


def network_betweenness(graph: GraphFrame, n_cities: int, *, sources_per_task: int = 64) -> DataFrame:
    """(network, year, city_code, betweenness): SPEC §4 BC (collab) and bc (transfer) of the
    cities with a non-zero value, every network-year in ONE distributed Brandes run (one
    pandas-UDF stage) on the arcs of `directed_view(graph)`. n_cities = N of the sample."""
    arcs = directed_view(graph).edges.select("network", "year", F.col("src_city").alias("src"),
                                             F.col("dst_city").alias("dst"))
    return betweenness(arcs, n_cities, directed=True, by=("network", "year"), sources_per_task=sources_per_task)


def network_pagerank(graph: GraphFrame, *, tol: float = 1e-6) -> DataFrame:
    """(network, year, city_code, pagerank): weighted PageRank (damping 0.85, weight = the
    edge weight; collaboration edges both ways) of every sample city in every network-year,
    summing to 1 per network-year — an extension beyond the article (docs/networks.md)."""
    pr = weighted_pagerank(directed_view(graph), ("network", "year"), tol=tol)
    return graph.vertices.join(pr, "id").select("network", "year", "city_code", "pagerank")


def _graph_degrees(graph: GraphFrame) -> DataFrame:
    """(year, city_code, ex, n_out, n_in) from the GraphFrame's degrees: ex = collaboration
    degree (partners), n_out / n_in = transfer out- / in-degree (other cities); cities without
    ties have no row."""
    v = graph.vertices.select("id", "network", "year", "city_code")
    deg = (v.join(graph.degrees, "id", "left").join(graph.outDegrees, "id", "left")
           .join(graph.inDegrees, "id", "left"))
    collab = F.col("network") == "collab"
    return deg.filter(F.col("degree") > 0).select(
        "year", "city_code", F.when(collab, F.col("degree")).alias("ex"),
        F.when(~collab, F.col("outDegree")).alias("n_out"), F.when(~collab, F.col("inDegree")).alias("n_in"))


def city_network_metrics(collab: DataFrame, transfer: DataFrame, cities: DataFrame,
                         years: Iterable[int], *, sources_per_task: int = 64,
                         betweenness_rows: DataFrame | None = None, graph: GraphFrame | None = None,
                         pagerank_tol: float = 1e-6) -> DataFrame:
    """Every SPEC §4 network variable for every sample city and year (zeros without ties).

    collab: (year, city_a, city_b, weight) as from `collab_edges`;
    transfer: (year, src, dst, weight, is_local) as from `transfer_edges`;
    cities: (city_code, province_code) of the sample (N = row count; collected: city-level);
    years: the panel years (edges of other years are ignored). Edge ends outside `cities`,
    repeated edge keys or collab pairs with city_a >= city_b are a UserError.

    Columns (METRIC_COLUMNS): rsi = Σ_b w(i,b); ex = #partners; in = rsi/ex (0 if ex = 0);
    DC = ex/(N−1); BC = undirected betweenness / ((N−1)(N−2)/2); rsi_ip = rsi over partners
    in i's province; gtr = transfers out of i (local included); gtr_local = i -> i;
    gtr_other = gtr − gtr_local; ex_gt = #receiving cities (i itself when it has local
    transfers); in_gt = gtr/ex_gt (0 if ex_gt = 0); dc_out / dc_in = #other receiving /
    sending cities / (N−1); bc_gt = directed betweenness / ((N−1)(N−2)) (SPEC's `bc`);
    gtr_ip = gtr over receivers in i's province (local included). Betweenness is on the
    unweighted graphs (fewest hops), local transfers excluded. ex, dc_out and dc_in are the
    degrees / out-degrees / in-degrees of the GraphFrame `network_graph`.
    Extensions (EXTENSION_COLUMNS, not SPEC §4): pagerank / pagerank_gt = weighted PageRank
    of the city in the collaboration / transfer network of the year (`network_pagerank`).

    graph: `network_graph` of the same edges, sample and years when the caller built it
    already; betweenness_rows: the output of `network_betweenness` for it (the networks
    stage materialises it as its own timed phase); both computed here otherwise.

    Plan: every per-city quantity is a row of one long "contributions" table (the city-year
    grid with no values, each edge from each end, the GraphFrame's degrees, each city's
    betweenness and PageRank) summed in ONE aggregation by (year, city_code) — no chain of
    joins, few shuffles.
    """
    spark = cities.sparkSession
    sample = sample_frame(cities)
    n = len(sample)
    ys = year_list(years)
    _check_edges(collab, transfer, cities)
    province = F.create_map(*[F.lit(v) for kv in sorted(zip(sample["city_code"], sample["province_code"]))
                              for v in kv])
    grid = spark.createDataFrame([(y, c) for y in ys for c in sample["city_code"]], "year int, city_code string")

    c = (collab.select(F.col("year").cast("int").alias("year"), "city_a", "city_b", "weight")
         .filter(F.col("year").isin(ys)))
    # each undirected edge seen from both ends
    half = (c.select("year", F.col("city_a").alias("city_code"), F.col("city_b").alias("partner"), "weight")
            .unionByName(c.select("year", F.col("city_b").alias("city_code"), F.col("city_a").alias("partner"), "weight")))
    same = province[F.col("city_code")] == province[F.col("partner")]
    collab_part = _contributions(half, rsi=F.col("weight"), rsi_ip=F.when(same, F.col("weight")).otherwise(0))

    t = (transfer.select(F.col("year").cast("int").alias("year"), "src", "dst", "weight", "is_local")
         .filter(F.col("year").isin(ys)))
    local = F.col("is_local")
    out_part = _contributions(
        t.withColumn("city_code", F.col("src")).withColumn("partner", F.col("dst")),
        gtr=F.col("weight"), gtr_local=F.when(local, F.col("weight")).otherwise(0), ex_gt=F.lit(1),
        gtr_ip=F.when(same, F.col("weight")).otherwise(0))

    if graph is None:
        graph = network_graph(collab, transfer, cities, ys)
    deg = _graph_degrees(graph)
    degree_part = _contributions(deg, ex=F.col("ex"), n_out=F.col("n_out"), n_in=F.col("n_in"))
    bcs = betweenness_rows
    if bcs is None:
        bcs = network_betweenness(graph, n, sources_per_task=sources_per_task)
    bcs = bcs.filter(F.col("year").cast("int").isin(ys))
    bc_part = _contributions(bcs, BC=F.when(F.col("network") == "collab", F.col("betweenness")),
                             bc_gt=F.when(F.col("network") == "transfer", F.col("betweenness")))
    pr = network_pagerank(graph, tol=pagerank_tol)
    pr_part = _contributions(pr, pagerank=F.when(F.col("network") == "collab", F.col("pagerank")),
                             pagerank_gt=F.when(F.col("network") == "transfer", F.col("pagerank")))

    parts = _contributions(grid)
    for part in (collab_part, out_part, degree_part, bc_part, pr_part):
        parts = parts.unionByName(part)
    m = parts.groupBy("year", "city_code").agg(
        *[F.coalesce(F.sum(x), F.lit(0)).alias(x) for x in _SUM_LONG],
        *[F.coalesce(F.sum(x), F.lit(0.0)).alias(x) for x in _SUM_DOUBLE])
    per_other = 1.0 / (n - 1) if n > 1 else 0.0
    return m.select(
        "city_code", "year", "rsi", "ex",
        _ratio("rsi", "ex").alias("in"),
        (F.col("ex") * F.lit(per_other)).alias("DC"),
        "BC", "rsi_ip", "gtr", "gtr_local",
        (F.col("gtr") - F.col("gtr_local")).alias("gtr_other"),
        "ex_gt",
        _ratio("gtr", "ex_gt").alias("in_gt"),
        (F.col("n_out") * F.lit(per_other)).alias("dc_out"),
        (F.col("n_in") * F.lit(per_other)).alias("dc_in"),
        "bc_gt", "gtr_ip", *EXTENSION_COLUMNS,
    )


def _ratio(num: str, den: str) -> Column:
    return F.when(F.col(den) > 0, F.col(num).cast("double") / F.col(den)).otherwise(F.lit(0.0))


# --------------------------------------------------------------------------- summary

def network_summary(collab: DataFrame, transfer: DataFrame, metrics: DataFrame, cities: DataFrame,
                    years: Iterable[int], *, top_k: int = 5, graph: GraphFrame | None = None,
                    components_algorithm: str = "graphx") -> DataFrame:
    """One row per network ('collab', 'transfer') and year (NETWORK_SUMMARY columns).

    n_cities = N; nodes_with_ties = sample cities with an edge to another city (local
    transfers alone are no tie); isolated_cities = N − nodes_with_ties; edges = distinct
    pairs (undirected) or arcs (directed, local excluded); total_weight = Σ weight over those
    edges; local_transfers = Σ weight of local rows (null for collab); density = edges /
    (N(N−1)/2) undirected, edges / (N(N−1)) directed; components = (weakly) connected
    components among nodes_with_ties (isolated cities are not counted: they are reported
    in isolated_cities); largest_component_share = largest component size / N;
    top_cities = metric -> up to top_k city codes with the highest positive value (ties by
    city_code), for the metrics of TOP_METRICS. Components and nodes_with_ties come from
    GraphFrames' connected components of `network_graph` (graph: built here when not given;
    components_algorithm: see `centrality.connected_components`).
    Extensions (transfer network; null for collab): reciprocated_pairs = city pairs with
    arcs both ways (GraphFrames motif); reciprocity = reciprocated_pairs / linked pairs
    (pairs with an arc either way = edges − reciprocated_pairs), null without arcs.
    """
    spark = cities.sparkSession
    n = sample_size(cities)
    ys = year_list(years)
    c = (collab.select(F.col("year").cast("int").alias("year"), F.col("city_a").alias("src"),
                       F.col("city_b").alias("dst"), "weight", F.lit(False).alias("is_local"))
         .withColumn("network", F.lit("collab")))
    t = (transfer.select(F.col("year").cast("int").alias("year"), "src", "dst", "weight", "is_local")
         .withColumn("network", F.lit("transfer")))
    edges = c.unionByName(t).filter(F.col("year").isin(ys))
    size = edges.groupBy("network", "year").agg(
        F.sum(F.when(~F.col("is_local"), 1).otherwise(0)).alias("edges"),
        F.sum(F.when(~F.col("is_local"), F.col("weight")).otherwise(0)).alias("total_weight"),
        F.sum(F.when(F.col("is_local"), F.col("weight")).otherwise(0)).alias("local_weight"))
    if graph is None:
        graph = network_graph(collab, transfer, cities, ys)
    # every city is a vertex: components of one city are the cities without ties
    comp = graph.vertices.join(connected_components(graph, algorithm=components_algorithm), "id")
    comp_sizes = (comp.groupBy("network", "year", "component").agg(F.count(F.lit(1)).alias("size"))
                  .filter(F.col("size") > 1)
                  .groupBy("network", "year").agg(F.count(F.lit(1)).alias("components"),
                                                  F.max("size").alias("largest_component_size"),
                                                  F.sum("size").alias("nodes_with_ties")))
    transfer_graph = graph.filterEdges(F.col("network") == "transfer")
    recip = (reciprocated_pairs(transfer_graph).join(graph.vertices, F.col("a") == F.col("id"))
             .groupBy("network", "year").agg(F.count(F.lit(1)).alias("reciprocated_pairs")))
    top = _top_cities(metrics.filter(F.col("year").cast("int").isin(ys)), top_k)
    s = spark.createDataFrame([(x, y) for x in NETWORKS for y in ys], "network string, year int")
    for part in (size, comp_sizes, recip, top):
        s = s.join(part, ["network", "year"], "left")
    s = s.fillna(0, subset=["edges", "total_weight", "local_weight", "nodes_with_ties", "components",
                            "largest_component_size", "reciprocated_pairs"])
    is_transfer = F.col("network") == "transfer"
    linked = F.col("edges") - F.col("reciprocated_pairs")
    pairs = n * (n - 1)
    return s.select(
        "network", "year", F.lit(n).cast("long").alias("n_cities"),
        F.col("nodes_with_ties").cast("long").alias("nodes_with_ties"),
        (F.lit(n) - F.col("nodes_with_ties")).cast("long").alias("isolated_cities"),
        F.col("edges").cast("long").alias("edges"),
        F.col("total_weight").cast("long").alias("total_weight"),
        F.when(F.col("network") == "transfer", F.col("local_weight").cast("long")).alias("local_transfers"),
        (F.when(F.lit(pairs) > 0, F.col("edges") / F.when(F.col("network") == "collab", pairs / 2).otherwise(pairs))
         .otherwise(0.0)).alias("density"),
        F.col("components").cast("long").alias("components"),
        F.col("largest_component_size").cast("long").alias("largest_component_size"),
        (F.col("largest_component_size") / F.lit(float(max(n, 1)))).alias("largest_component_share"),
        F.coalesce("top_cities", F.create_map().cast("map<string,array<string>>")).alias("top_cities"),
        F.when(is_transfer, F.col("reciprocated_pairs").cast("long")).alias("reciprocated_pairs"),
        F.when(is_transfer & (linked > 0), F.col("reciprocated_pairs") / linked).cast("double").alias("reciprocity"),
    )


def _top_cities(metrics: DataFrame, top_k: int) -> DataFrame:
    """(network, year, top_cities map<metric, array<city_code>>) from city_network_metrics."""
    parts = []
    for network, cols in TOP_METRICS.items():
        long = metrics.select("year", "city_code", F.explode(F.array(*[
            F.struct(F.lit(c).alias("metric"), F.col(c).cast("double").alias("value")) for c in cols
        ])).alias("m")).select(F.lit(network).alias("network"), "year", "city_code", "m.metric", "m.value")
        parts.append(long.filter(F.col("value") > 0))
    long = parts[0].unionByName(parts[1])
    ranked = long.groupBy("network", "year", "metric").agg(
        # sort by value desc then city_code asc: negate the value inside the sorted struct
        F.slice(F.array_sort(F.collect_list(F.struct((-F.col("value")).alias("v"), "city_code"))), 1, top_k)
        .alias("top"))
    # the map's entries in TOP_METRICS order, whatever order the shuffle delivered them in (a
    # cluster and a local run must write the same value)
    rank = F.create_map(*[F.lit(x) for cols in TOP_METRICS.values() for i, c in enumerate(cols) for x in (c, i)])
    entries = F.array_sort(F.collect_list(F.struct(rank[F.col("metric")].alias("i"), "metric",
                                                   F.transform("top", lambda x: x["city_code"]).alias("cities"))))
    return ranked.groupBy("network", "year").agg(F.map_from_entries(
        F.transform(entries, lambda e: F.struct(e["metric"], e["cities"]))).alias("top_cities"))
