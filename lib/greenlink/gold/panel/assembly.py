"""The city-year panel's rows (SPEC §4–§6) from its input tables: pure DataFrame transforms of
the panel stage (`gold.panel.stage`), one function per variable group and `assemble_panel`
joining them on the sample × study years grid (docs/panel.md)."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.gold.tables import LN_VARS, NETWORK_VARS, PANEL_COLUMNS, POLICY_VARS, panel_type

def panel_grid(sample: DataFrame, years: tuple[int, int]) -> DataFrame:
    """Every sample city × study year: city_code, city_name, province_code, year."""
    ys = sample.sparkSession.range(years[0], years[1] + 1).select(F.col("id").cast("int").alias("year"))
    return sample.select("city_code", "city_name", "province_code").crossJoin(ys)


def app_counts(patents: DataFrame, years: tuple[int, int]) -> DataFrame:
    """SPEC §4 `app`: (city_code, year, app) = patent rows (all types, green or not) whose first
    applicant is located in the city, by application year; unlocated rows are not counted."""
    return (patents.where(F.col("city_code").isNotNull() & F.col("year").between(*years))
            .groupBy("city_code", F.col("year").cast("int").alias("year"))
            .agg(F.count(F.lit(1)).alias("app")))


def app_audit(patents: DataFrame, sample: DataFrame, years: tuple[int, int]) -> DataFrame:
    """Where the study years' patent rows go: (outcome, rows) with outcome counted (first
    applicant in a sample city), outside_sample (located elsewhere) or unlocated."""
    flag = F.broadcast(sample.select("city_code", F.lit(True).alias("_in")))
    p = patents.where(F.col("year").between(*years)).select("city_code").join(flag, "city_code", "left")
    outcome = (F.when(F.col("city_code").isNull(), "unlocated").when(F.col("_in").isNull(), "outside_sample")
               .otherwise("counted"))
    return p.groupBy(outcome.alias("outcome")).agg(F.count(F.lit(1)).alias("rows"))


def control_vars(controls: DataFrame) -> DataFrame:
    """SPEC §5 city controls from silver.city_controls: (city_code, year, ln_pgdp, ln_fdi, fin, ins).
    ln_pgdp = ln(GDP per capita); ln_fdi = ln(1 + FDI); fin = (deposits + loans) / GDP; ins = tertiary
    share of GDP (%). A missing input leaves the variable null."""
    return controls.select(
        "city_code", F.col("year").cast("int").alias("year"),
        F.when(F.col("pgdp") > 0, F.log(F.col("pgdp"))).alias("ln_pgdp"),
        F.log1p(F.col("fdi")).alias("ln_fdi"),
        F.when(F.col("gdp") > 0, F.col("deposits_loans") / F.col("gdp")).alias("fin"),
        F.col("ins").cast("double").alias("ins"))


def qrate(province_ip: DataFrame) -> DataFrame:
    """SPEC §5 `qrate` = 1 − disputes / patents granted, per (province_code, year); null when
    either is missing or no patent was granted."""
    return province_ip.select(
        "province_code", F.col("year").cast("int").alias("year"),
        F.when(F.col("grants") > 0, 1.0 - F.col("disputes") / F.col("grants")).alias("qrate"))


def hsr(year: Column) -> Column:
    """SPEC §5 `HSR` = 1 in and after the opening year, else 0 (no opening year: 0); null for a
    city without an attributes row. Needs the `_has_attributes` marker of `assemble_panel`."""
    return (F.when(F.col("_has_attributes").isNull(), F.lit(None))
            .when(F.col("hsr_open_year") <= year, F.lit(1)).otherwise(F.lit(0)).cast("int"))


def assemble_panel(grid: DataFrame, metrics: DataFrame, app: DataFrame, controls: DataFrame,
                   province_ip: DataFrame, attributes: DataFrame, er: DataFrame, synergy: DataFrame) -> DataFrame:
    """The gold.city_year_panel rows (PANEL_COLUMNS) of `grid` (city_code, city_name,
    province_code, year).

    metrics: gold.city_network_metrics; app: `app_counts` (absent city-year = 0);
    controls: silver.city_controls; province_ip: silver.province_ip; attributes:
    silver.city_attributes; er: gold.er_index; synergy: gold.policy_synergy. Every join is a
    left join on the grid: a grid row without metrics keeps null network variables (the stage
    refuses that case before writing, `coverage_problems`)."""
    keys = ["city_code", "year"]
    attrs = attributes.select("city_code", "cgl", "hsr_open_year", F.lit(True).alias("_has_attributes"))
    d = (grid
         .join(metrics.select(*keys, *NETWORK_VARS), keys, "left")
         .join(app.select(*keys, "app"), keys, "left")
         .join(control_vars(controls), keys, "left")
         .join(qrate(province_ip), ["province_code", "year"], "left")
         .join(attrs, "city_code", "left")
         .join(er.select(*keys, "er"), keys, "left")
         .join(synergy.select("province_code", "year", *POLICY_VARS), ["province_code", "year"], "left")
         .withColumn("app", F.coalesce(F.col("app"), F.lit(0)).cast("long"))
         .withColumn("HSR", hsr(F.col("year")))
         .withColumn("cgl", F.col("cgl").cast("int")))
    d = d.withColumns({f"ln_{v}": F.log1p(F.col(v).cast("double")) for v in LN_VARS})
    return d.select(*[F.col(c).cast(panel_type(c)).alias(c) for c in PANEL_COLUMNS])


def coverage_problems(grid: DataFrame, metrics: DataFrame, years: tuple[int, int]) -> DataFrame:
    """(problem, rows) where gold.city_network_metrics does not match the sample × years grid:
    `missing` sample city-years without metrics, `not_in_sample` metrics rows of other cities
    (networks ran on another sample: rerun it)."""
    keys = ["city_code", "year"]
    m = metrics.where(F.col("year").between(*years)).select(*keys)
    g = grid.select(*keys)
    missing = g.join(m, keys, "left_anti").select(F.lit("missing").alias("problem"))
    extra = m.join(g, keys, "left_anti").select(F.lit("not_in_sample").alias("problem"))
    return missing.unionByName(extra).groupBy("problem").agg(F.count(F.lit(1)).alias("rows"))
