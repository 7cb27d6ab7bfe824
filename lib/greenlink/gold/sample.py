"""The study sample (SPEC §3): which city units the networks and the panel use.

`gold.sample_log` has one row per city unit of `gazetteer.cities()` with the rule's inputs
and verdict; the sample is its `in_sample` rows. It is written by the `controls` stage
(the rule, `sample_log`, needs the yearbook controls) and read by `networks` and `panel`.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.gold.tables import SAMPLE_LOG
from greenlink.reference.gazetteer import cities


def sample_cities(spark: SparkSession) -> DataFrame:
    """The sample: (city_code, city_name, province_code, longitude, latitude) of kept cities."""
    if not tables.exists(spark, SAMPLE_LOG.name):
        raise UserError(f"{SAMPLE_LOG.name} does not exist yet: run `greenlink controls` (or `greenlink run`) first")
    return (tables.read(spark, SAMPLE_LOG.name).where(F.col("in_sample"))
            .select("city_code", "city_name", "province_code", "longitude", "latitude"))


def city_units(spark: SparkSession) -> DataFrame:
    """Every city unit of SPEC §3 (gazetteer.cities()): city_code, city_name, province_code,
    longitude, latitude."""
    c = cities()
    rows = list(zip(c["city_code"], c["city_name"], c["province_code"], c["longitude"].astype(float),
                    c["latitude"].astype(float)))
    return spark.createDataFrame(rows, "city_code string, city_name string, province_code string, "
                                       "longitude double, latitude double")


def sample_log(units: DataFrame, controls: DataFrame, columns: Sequence[str], years: tuple[int, int],
               max_missing_share: float, min_observed_years: int = 1) -> DataFrame:
    """SPEC §3 sample rule -> gold.sample_log rows, one per city unit of `units`.

    Cells = `columns` × years; an absent city-year counts as all its cells missing. Dropped,
    first rule that applies: `no_yearbook_rows` (no row in the years), `too_many_missing`
    (missing_share > max_missing_share), `unobserved_column: a, b` (columns with fewer than
    min_observed_years observed values).
    """
    n_years = years[1] - years[0] + 1
    n_values = len(columns) * n_years
    per_city = (controls.where(F.col("year").between(*years)).groupBy("city_code")
                .agg(F.count(F.lit(1)).alias("_rows"), *[F.count(c).alias(f"_obs_{c}") for c in columns]))
    j = units.join(per_city, "city_code", "left")
    obs = {c: F.coalesce(F.col(f"_obs_{c}"), F.lit(0)) for c in columns}
    observed = sum((obs[c] for c in columns), F.lit(0))
    n_missing = (F.lit(n_values) - observed).cast("long")
    share = n_missing / F.lit(float(n_values))
    unobserved = F.array_compact(F.array(*[F.when(obs[c] < min_observed_years, F.lit(c)) for c in columns]))
    reason = (F.when(F.coalesce(F.col("_rows"), F.lit(0)) == 0, F.lit("no_yearbook_rows"))
              .when(share > F.lit(float(max_missing_share)), F.lit("too_many_missing"))
              .when(F.size(unobserved) > 0, F.concat(F.lit("unobserved_column: "), F.array_join(unobserved, ", "))))
    return j.select("city_code", "city_name", "province_code", "longitude", "latitude",
                    F.lit(n_values).cast("long").alias("n_values"), n_missing.alias("n_missing"),
                    share.alias("missing_share"), F.lit(float(max_missing_share)).alias("threshold"),
                    reason.isNull().alias("in_sample"), reason.alias("reason"))
