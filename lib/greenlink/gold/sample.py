"""The study sample (SPEC §3): which city units the networks and the panel use.

`gold.sample_log` has one row per city unit of `gazetteer.cities()` with the rule's inputs
and verdict; the sample is its `in_sample` rows. It is written by the `controls` stage
(the rule needs the yearbook controls) and read by `networks` and `panel`.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import tables
from greenlink.core.errors import UserError

SAMPLE_LOG = tables.TableSpec(
    name="gold.sample_log",
    schema=T.StructType([
        T.StructField("city_code", T.StringType()),
        T.StructField("city_name", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("longitude", T.DoubleType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("n_values", T.LongType()),        # control cells the rule looked at
        T.StructField("n_missing", T.LongType()),       # of which missing
        T.StructField("missing_share", T.DoubleType()),
        T.StructField("threshold", T.DoubleType()),
        T.StructField("in_sample", T.BooleanType()),
        T.StructField("reason", T.StringType()),        # why dropped; null when kept
    ]),
    not_null=("city_code", "city_name", "province_code", "n_values", "n_missing", "threshold", "in_sample"),
    checks={"valid_values": "n_missing >= 0 AND n_missing <= n_values "
                            "AND (missing_share IS NULL OR missing_share BETWEEN 0 AND 1) "
                            "AND in_sample = (reason IS NULL)"},
    comment="Sample selection (SPEC §3): every city unit, its missing-control share and the verdict",
    keys=("city_code",),
)


def sample_cities(spark: SparkSession) -> DataFrame:
    """The sample: (city_code, city_name, province_code, longitude, latitude) of kept cities."""
    if not tables.exists(spark, SAMPLE_LOG.name):
        raise UserError("gold.sample_log does not exist yet: run `greenlink controls` (or `greenlink run`) first")
    return (tables.read(spark, SAMPLE_LOG.name).where(F.col("in_sample"))
            .select("city_code", "city_name", "province_code", "longitude", "latitude"))
