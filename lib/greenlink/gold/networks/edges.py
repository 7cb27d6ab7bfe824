"""The two yearly city networks of SPEC §4 and every network variable of the panel.

Inputs (DataFrames built from silver tables by the networks stage):
- patent_cities (application_no, year, city_code): one row per distinct located city of a
  granted green invention patent's organisation applicants;
- transfers (application_no, year, from_city, to_city): one row per transfer of a green
  invention patent with both ends located;
- cities (city_code, province_code, …): the SAMPLE cities; N = its row count.

Only sample cities are nodes: a pair or transfer with an end outside the sample is not an
edge. Nothing is dropped silently: `collab_audit` / `transfer_audit` count every input
row by outcome (and, for collaboration, the city pairs lost), and the counts reconcile
with the edge weights (docs/networks.md).

Outputs: `collab_edges`, `transfer_edges` here, `city_network_metrics` (one row per sample
city and year, zeros for cities without ties) and `network_summary` in `metrics`; their
Delta tables are declared in `gold.tables` (COLLAB_EDGES, TRANSFER_EDGES, CITY_NETWORK_METRICS, NETWORK_SUMMARY).
"""
from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from functools import reduce

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


from greenlink.core.errors import UserError

NETWORKS = ("collab", "transfer")
# Metrics ranked in network_summary.top_cities: strengths and the centralities.
TOP_METRICS = {"collab": ("rsi", "DC", "BC"), "transfer": ("gtr", "dc_out", "dc_in", "bc_gt")}


# --------------------------------------------------------------------------- inputs

def sample_frame(cities: DataFrame) -> pd.DataFrame:
    """The sample (city_code, province_code) on the driver: N rows, city-level reference data.
    Duplicate or null city codes are an error."""
    pdf = cities.select("city_code", "province_code").toPandas()
    if pdf["city_code"].isna().any() or pdf["city_code"].duplicated().any():
        raise UserError(f"sample cities: {len(pdf)} rows but {pdf['city_code'].dropna().nunique()} distinct "
                        "non-null city codes; each sample city must appear once")
    return pdf.sort_values("city_code").reset_index(drop=True)


def sample_size(cities: DataFrame) -> int:
    """N of SPEC §4: the number of sample cities. Duplicate or null city codes are an error."""
    return len(sample_frame(cities))


def year_list(years: Iterable[int]) -> list[int]:
    ys = sorted({int(y) for y in years})
    if not ys:
        raise UserError("no years given for the network variables")
    return ys


def _reason(required: Sequence[str], years: Sequence[int] | None) -> Column:
    """Why an input row cannot be used at all (null when it can)."""
    expr = F.when(reduce(operator.or_, [F.col(c).isNull() for c in required]), F.lit("null_field"))
    if years is not None:
        expr = expr.when(~F.col("year").isin([int(y) for y in years]), F.lit("year_out_of_range"))
    return expr


def _in_sample(cities: DataFrame, col: str, flag: str) -> DataFrame:
    return F.broadcast(cities.select(F.col("city_code").alias(col)).distinct().withColumn(flag, F.lit(True)))


def _patent_city_rows(patent_cities: DataFrame, cities: DataFrame,
                      years: Sequence[int] | None) -> DataFrame:
    """Input rows with `reason` (null_field, year_out_of_range or null) and `in_sample`."""
    pc = patent_cities.select("application_no", F.col("year").cast("int").alias("year"), "city_code")
    return (pc.withColumn("reason", _reason(("application_no", "year", "city_code"), years))
            .join(_in_sample(cities, "city_code", "in_sample"), "city_code", "left")
            .withColumn("in_sample", F.coalesce("in_sample", F.lit(False))))


def _distinct_patent_cities(rows: DataFrame) -> DataFrame:
    """Usable (year, application_no, city_code, in_sample, n_rows): duplicates collapsed."""
    return (rows.filter(F.col("reason").isNull())
            .groupBy("year", "application_no", "city_code", "in_sample")
            .agg(F.count(F.lit(1)).alias("n_rows")))


# --------------------------------------------------------------------------- edges

def collab_edges(patent_cities: DataFrame, cities: DataFrame,
                 years: Sequence[int] | None = None) -> DataFrame:
    """SPEC §4 collaboration edges: (year int, city_a, city_b, weight long), city_a < city_b.

    weight = number of patents (distinct application_no within the year) whose located
    cities include both a and b; a patent with k sample cities adds 1 to each of its
    k(k−1)/2 pairs. Only pairs of sample cities; with `years`, only those years. Rows with
    null fields and pairs with a non-sample city are counted by `collab_audit`.
    """
    pc = (_distinct_patent_cities(_patent_city_rows(patent_cities, cities, years))
          .filter("in_sample").select("year", "application_no", "city_code"))
    a, b = pc.alias("a"), pc.alias("b")
    pairs = a.join(b, (F.col("a.year") == F.col("b.year"))
                   & (F.col("a.application_no") == F.col("b.application_no"))
                   & (F.col("a.city_code") < F.col("b.city_code")))
    return (pairs.groupBy(F.col("a.year").alias("year"), F.col("a.city_code").alias("city_a"),
                          F.col("b.city_code").alias("city_b"))
            .agg(F.count(F.lit(1)).alias("weight")))


def collab_audit(patent_cities: DataFrame, cities: DataFrame,
                 years: Sequence[int] | None = None) -> DataFrame:
    """Where every patent_cities row went: (year, reason, rows long, pairs long).

    reason: accepted | duplicate | city_not_in_sample | null_field | year_out_of_range.
    rows reconcile with the input row count. pairs: for `accepted`, the city pairs among a
    patent's sample cities (= Σ collab_edges.weight); for `city_not_in_sample`, the pairs
    lost because one end is outside the sample (C(k,2) − C(m,2) for a patent with k located
    cities, m of them in the sample); 0 otherwise.
    """
    rows = _patent_city_rows(patent_cities, cities, years)
    bad = (rows.filter(F.col("reason").isNotNull()).groupBy("year", "reason")
           .agg(F.count(F.lit(1)).alias("rows"), F.lit(0).cast("long").alias("pairs")))
    per_city = _distinct_patent_cities(rows)
    per_patent = (per_city.groupBy("year", "application_no")
                  .agg(F.count(F.lit(1)).alias("k"), F.sum(F.col("in_sample").cast("long")).alias("m"),
                       F.sum(F.col("n_rows") - 1).alias("dups")))
    pairs_all = F.expr("k * (k - 1) div 2")
    pairs_kept = F.expr("m * (m - 1) div 2")
    per_year = per_patent.groupBy("year").agg(
        F.sum("m").alias("acc_rows"), F.sum(pairs_kept).alias("acc_pairs"),
        F.sum(F.col("k") - F.col("m")).alias("out_rows"), F.sum(pairs_all - pairs_kept).alias("out_pairs"),
        F.sum("dups").alias("dup_rows"), F.lit(0).cast("long").alias("no_pairs"))
    good = per_year.select("year", F.explode(F.array(*[
        F.struct(F.lit(reason).alias("reason"), F.col(r).cast("long").alias("rows"), F.col(p).cast("long").alias("pairs"))
        for reason, r, p in (("accepted", "acc_rows", "acc_pairs"), ("city_not_in_sample", "out_rows", "out_pairs"),
                             ("duplicate", "dup_rows", "no_pairs"))])).alias("r")).select("year", "r.*")
    return good.filter("rows > 0").unionByName(bad.select("year", "reason", "rows", "pairs"))


def _transfer_rows(transfers: DataFrame, cities: DataFrame, years: Sequence[int] | None) -> DataFrame:
    t = transfers.select("application_no", F.col("year").cast("int").alias("year"), "from_city", "to_city")
    t = t.withColumn("reason", _reason(("application_no", "year", "from_city", "to_city"), years))
    t = (t.join(_in_sample(cities, "from_city", "src_in"), "from_city", "left")
         .join(_in_sample(cities, "to_city", "dst_in"), "to_city", "left"))
    both = F.coalesce("src_in", F.lit(False)) & F.coalesce("dst_in", F.lit(False))
    return t.withColumn("reason", F.coalesce("reason", F.when(~both, F.lit("city_not_in_sample"))))


def transfer_edges(transfers: DataFrame, cities: DataFrame,
                   years: Sequence[int] | None = None) -> DataFrame:
    """SPEC §4 transfer edges: (year int, src, dst, weight long, is_local boolean).

    weight = number of transfer rows from src to dst in the year (each input row is one
    registered transfer). src = dst rows are kept with is_local = true: they count in gtr but
    are not graph edges. Rows with an end outside the sample, null fields or (with `years`)
    another year are counted by `transfer_audit`.
    """
    t = _transfer_rows(transfers, cities, years).filter(F.col("reason").isNull())
    return (t.groupBy("year", F.col("from_city").alias("src"), F.col("to_city").alias("dst"))
            .agg(F.count(F.lit(1)).alias("weight"))
            .withColumn("is_local", F.col("src") == F.col("dst")))


def transfer_audit(transfers: DataFrame, cities: DataFrame,
                   years: Sequence[int] | None = None) -> DataFrame:
    """Where every transfer row went: (year, reason, rows long); rows reconcile with the input.

    reason: accepted (= Σ transfer_edges.weight, local included) | city_not_in_sample |
    null_field | year_out_of_range.
    """
    t = _transfer_rows(transfers, cities, years)
    return (t.groupBy("year", F.coalesce("reason", F.lit("accepted")).alias("reason"))
            .agg(F.count(F.lit(1)).alias("rows")))
