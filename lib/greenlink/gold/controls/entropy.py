"""Environmental-regulation index `er` (SPEC §5): gap filling, then spatio-temporal range entropy.

Five positive (benefit) indicators per city-year, rates in percent (0–100):
SO2 removal, COD removal, industrial solid-waste utilisation, sewage treatment, harmless
garbage treatment (`ER_INDICATORS`).

1. Gap filling, per city series of each indicator over the year grid (every year from the
   first to the last year of the input, or the years given):
   - raw values outside the natural range `bounds` (or NaN) are not data: they are set
     missing before filling and listed in `invalid_raw`;
   - a year between the city's first and last observed year: linear interpolation between
     the two neighbouring observed years (`interpolated`);
   - a year before the first / after the last observed year: the city's OLS linear trend
     over ALL its observed points (value = a + b·year), clipped to `bounds`
     (`extrapolated`); with exactly two observations this is the line through them;
   - a single observation: that value for every year (`extrapolated`, a degree-0 trend);
   - no observation at all: stays missing (`missing`); the city-year gets no `er`.
2. Entropy over the n city-years whose five indicators are all available (SPEC §5):
   x' = (x − min)/(max − min); p = x'/Σx'; e_j = −(1/ln n)·Σ p·ln p (0·ln 0 = 0);
   d_j = 1 − e_j; w_j = d_j/Σd; er = Σ_j w_j·x'_j, in [0, 1].
   An indicator constant over all n city-years carries no information: x' = 0, e_j = 1,
   d_j = 0, w_j = 0.

Pure pandas/numpy cores (`fill_series`, `fill_gaps_pandas`, `entropy_weights_pandas`,
`er_pandas`) define the numbers; the Spark functions (`fill_gaps`, `entropy_weights`,
`er_index`, `build_er`) run the same rules on DataFrames (filling per city with
applyInPandas on the pandas core; entropy with Spark aggregates).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.gold.panel.settings import ER_INDICATORS
from greenlink.gold.tables import ER_INDEX, ER_WEIGHTS, RATE_BOUNDS, filled_schema

# Per-row terms are rounded to this decimal type before summation: a decimal sum is exact,
# so the weights do not depend on the order in which Spark merges partial aggregates and a
# rerun on the same input reproduces the table bit for bit.
_EXACT = T.DecimalType(38, 18)


# --------------------------------------------------------------------------- pure cores

def fill_series(years: Sequence[int], values: Sequence[float],
                bounds: tuple[float, float] = RATE_BOUNDS) -> tuple[np.ndarray, list[str]]:
    """Fill one city's series of one indicator (module docstring, step 1).

    `years` strictly increasing; `values` float with NaN for gaps, already cleaned of
    out-of-range values. Returns (filled values, flag per year).
    """
    t = np.asarray(years, dtype=float)
    x = np.asarray(values, dtype=float)
    if t.shape != x.shape:
        raise ValueError("years and values differ in length")
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("years must be strictly increasing (one row per city-year)")
    obs = ~np.isnan(x)
    flags = np.where(obs, "observed", "missing").astype(object)
    out = x.copy()
    k = int(obs.sum())
    if k == 0:
        return out, list(flags)
    if k == 1:
        out[~obs] = x[obs][0]
        flags[~obs] = "extrapolated"
        return out, list(flags)
    to, xo = t[obs], x[obs]
    inside = (~obs) & (t > to[0]) & (t < to[-1])
    out[inside] = np.interp(t[inside], to, xo)
    flags[inside] = "interpolated"
    outside = (~obs) & ~inside
    if outside.any():
        slope, intercept = _ols_line(to, xo)
        out[outside] = np.clip(intercept + slope * t[outside], bounds[0], bounds[1])
        flags[outside] = "extrapolated"
    return out, list(flags)


def _ols_line(t: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Least-squares line x = a + b·t (slope b, intercept a); t centred for precision."""
    tm, xm = t.mean(), x.mean()
    slope = float(((t - tm) * (x - xm)).sum() / ((t - tm) ** 2).sum())
    return slope, float(xm - slope * tm)


def fill_gaps_pandas(pdf: pd.DataFrame, indicators: Sequence[str] = ER_INDICATORS,
                     bounds: tuple[float, float] = RATE_BOUNDS) -> pd.DataFrame:
    """Fill every city's series. `pdf` has city_code, year and the indicators, one row per
    city-year of the full grid (absent values NaN/None, already within `bounds`).
    Returns the same rows sorted by (city_code, year) with the filled values and a
    `<indicator>_flag` column per indicator; other input columns are kept."""
    parts = []
    for _, city in pdf.groupby("city_code", sort=True):
        city = city.sort_values("year").copy()
        for ind in indicators:
            vals = pd.to_numeric(city[ind], errors="coerce").to_numpy(dtype=float)
            filled, flags = fill_series(city["year"].to_numpy(), vals, bounds)
            city[ind] = filled
            city[f"{ind}_flag"] = flags
        parts.append(city)
    if not parts:
        return pdf.assign(**{f"{i}_flag": pd.Series(dtype=object) for i in indicators})
    return pd.concat(parts, ignore_index=True)


def entropy_weights_pandas(pdf: pd.DataFrame, indicators: Sequence[str] = ER_INDICATORS) -> pd.DataFrame:
    """Entropy weights over the complete rows of `pdf` (module docstring, step 2).
    Returns one row per indicator: indicator, n, x_min, x_max, e_j, d_j, w_j."""
    complete = pdf.dropna(subset=list(indicators))
    n = len(complete)
    if n < 2:
        raise UserError(f"entropy weights need at least 2 complete city-years, got {n}")
    rows = []
    for ind in indicators:
        x = complete[ind].to_numpy(dtype=float)
        lo, hi = float(x.min()), float(x.max())
        if hi > lo:
            xp = (x - lo) / (hi - lo)
            p = xp / xp.sum()
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
            e = min(1.0, max(0.0, float(-plogp.sum() / math.log(n))))
        else:
            e = 1.0
        rows.append({"indicator": ind, "n": n, "x_min": lo, "x_max": hi, "e_j": e, "d_j": 1.0 - e})
    w = pd.DataFrame(rows)
    total = w["d_j"].sum()
    if total <= 0:
        raise UserError("entropy weights undefined: no indicator varies across the city-years")
    w["w_j"] = w["d_j"] / total
    return w


def er_pandas(pdf: pd.DataFrame, weights: pd.DataFrame) -> pd.Series:
    """er = Σ_j w_j·x'_j per row (NaN where an indicator is missing), clipped to [0, 1]."""
    er = pd.Series(0.0, index=pdf.index)
    for r in weights.itertuples(index=False):
        span = r.x_max - r.x_min
        xp = (pdf[r.indicator].astype(float) - r.x_min) / span if span > 0 else pdf[r.indicator].astype(float) * 0.0
        er = er + r.w_j * xp
    return er.clip(0.0, 1.0)


# --------------------------------------------------------------------------- Spark

def year_grid(df: DataFrame, years: tuple[int, int] | None = None) -> DataFrame:
    """Every city of `df` × every year from the first to the last (of `years` if given,
    else of `df`): the rows a filled panel must have. Columns city_code, year."""
    if years is None:
        span = df.agg(F.min("year").alias("lo"), F.max("year").alias("hi"))
    else:
        span = df.sparkSession.range(1).select(F.lit(years[0]).alias("lo"), F.lit(years[1]).alias("hi"))
    ys = span.select(F.explode(F.sequence(F.col("lo").cast("int"), F.col("hi").cast("int"))).alias("year"))
    return df.select("city_code").distinct().crossJoin(ys)


def fill_gaps(df: DataFrame, indicators: Sequence[str] = ER_INDICATORS,
              years: tuple[int, int] | None = None,
              bounds: tuple[float, float] = RATE_BOUNDS) -> DataFrame:
    """City-year indicators -> the full filled grid (SPEC §5 gap filling).

    Input: city_code, year, the indicators (double, percent; null = gap); at most one row
    per city-year (the yearbook ingest guarantees it). City-years absent from the input are
    gaps too. Output (`filled_schema`): city_code, year, per indicator the filled value and
    its flag (observed / interpolated / extrapolated / missing), and `invalid_raw`: the
    indicators whose raw value was outside `bounds` (or NaN) and was treated as a gap.
    Years outside `years` are ignored.
    """
    lo, hi = bounds
    src = df.select("city_code", F.col("year").cast("int").alias("year"),
                    *[F.col(i).cast("double").alias(i) for i in indicators])
    if years is not None:
        src = src.where(F.col("year").between(years[0], years[1]))
    grid = year_grid(src, years).join(src, ["city_code", "year"], "left")
    invalid = {i: F.col(i).isNotNull() & (F.isnan(i) | (F.col(i) < lo) | (F.col(i) > hi)) for i in indicators}
    grid = grid.select(
        "city_code", "year",
        *[F.when(invalid[i], None).otherwise(F.col(i)).alias(i) for i in indicators],
        F.array_compact(F.array(*[F.when(invalid[i], F.lit(i)) for i in indicators])).alias("invalid_raw"))
    schema = filled_schema(indicators)
    cols = schema.fieldNames()
    inds = tuple(indicators)

    def fill_city(pdf: pd.DataFrame) -> pd.DataFrame:
        return fill_gaps_pandas(pdf, inds, bounds)[cols]

    return grid.groupBy("city_code").applyInPandas(fill_city, schema)


def _complete(filled: DataFrame, indicators: Sequence[str]) -> Column:
    cond = F.lit(True)
    for i in indicators:
        cond = cond & F.col(i).isNotNull()
    return cond


def entropy_weights(filled: DataFrame, indicators: Sequence[str] = ER_INDICATORS) -> DataFrame:
    """Entropy weights (SPEC §5) over the complete city-years of `filled`, with Spark aggregates.

    One row per indicator: indicator, n (complete city-years), x_min, x_max, e_j, d_j, w_j.
    Σ p·ln p is computed as T/S − ln S with S = Σx', T = Σ x'·ln x' (one pass; exact decimal
    sums). w_j is null when no indicator varies or n < 2 (`build_er` rejects that).
    """
    complete = filled.where(_complete(filled, indicators))
    stats = complete.agg(F.count(F.lit(1)).alias("n"),
                         *[F.min(i).alias(f"{i}__min") for i in indicators],
                         *[F.max(i).alias(f"{i}__max") for i in indicators])
    xp = complete.crossJoin(F.broadcast(stats)).select(*[_scaled(i).alias(f"{i}__x") for i in indicators])
    sums = xp.agg(
        *[F.sum(F.col(f"{i}__x").cast(_EXACT)).alias(f"{i}__s") for i in indicators],
        *[F.sum(F.when(F.col(f"{i}__x") > 0, F.col(f"{i}__x") * F.log(f"{i}__x")).otherwise(0.0).cast(_EXACT))
          .alias(f"{i}__t") for i in indicators])
    # both are single-row aggregates (n = 0 and null sums on empty input)
    row = stats.crossJoin(sums)
    ln_n = F.log(F.col("n").cast("double"))
    e_cols = []
    for i in indicators:
        s = F.col(f"{i}__s").cast("double")
        t = F.col(f"{i}__t").cast("double")
        e = F.when(F.col("n") < 2, None).when(F.coalesce(s, F.lit(0.0)) <= 0, 1.0) \
             .otherwise(-(t / s - F.log(s)) / ln_n)
        # rounding can push a near-uniform indicator just past 1; e_j lies in [0, 1] by definition
        e_cols.append(F.when(e.isNotNull(), F.least(F.greatest(e, F.lit(0.0)), F.lit(1.0))).alias(f"{i}__e"))
    row = row.select("n", *[f"{i}__min" for i in indicators], *[f"{i}__max" for i in indicators], *e_cols)
    sum_d = sum((1.0 - F.col(f"{i}__e") for i in indicators), F.lit(0.0))
    rows = [F.struct(F.lit(i).alias("indicator"), F.col("n").cast("long").alias("n"),
                     F.col(f"{i}__min").alias("x_min"), F.col(f"{i}__max").alias("x_max"),
                     F.col(f"{i}__e").alias("e_j"), (1.0 - F.col(f"{i}__e")).alias("d_j"),
                     F.when(sum_d > 0, (1.0 - F.col(f"{i}__e")) / sum_d).alias("w_j"))
            for i in indicators]
    return row.select(F.explode(F.array(*rows)).alias("r")).select("r.*")


def _scaled(indicator: str, lo: Column | None = None, hi: Column | None = None) -> Column:
    """x' = (x − min)/(max − min); 0 for an indicator constant over all city-years."""
    lo = F.col(f"{indicator}__min") if lo is None else lo
    hi = F.col(f"{indicator}__max") if hi is None else hi
    return F.when(hi > lo, (F.col(indicator) - lo) / (hi - lo)).otherwise(F.when(F.col(indicator).isNotNull(), 0.0))


def er_index(filled: DataFrame, weights: DataFrame, indicators: Sequence[str] = ER_INDICATORS) -> DataFrame:
    """`filled` plus `er` = Σ_j w_j·x'_j (null when any indicator is missing), in [0, 1]."""
    one = weights.agg(*[F.first(F.when(F.col("indicator") == i, F.struct("x_min", "x_max", "w_j")),
                                ignorenulls=True).alias(f"{i}__w") for i in indicators])
    terms = [F.col(f"{i}__w.w_j") * _scaled(i, F.col(f"{i}__w.x_min"), F.col(f"{i}__w.x_max"))
             for i in indicators]
    er = terms[0]
    for term in terms[1:]:
        er = er + term
    # Σw = 1 and x' ∈ [0, 1] put er in [0, 1]; clipping only removes floating-point excess.
    er = F.when(er.isNotNull(), F.least(F.greatest(er, F.lit(0.0)), F.lit(1.0)))   # greatest() skips nulls
    return filled.crossJoin(F.broadcast(one)).select(*filled.columns, er.alias("er"))


def build_er(df: DataFrame, indicators: Sequence[str] = ER_INDICATORS,
             years: tuple[int, int] | None = None,
             bounds: tuple[float, float] = RATE_BOUNDS) -> tuple[DataFrame, DataFrame]:
    """Raw city-year indicators -> (gold.er_index rows, gold.er_weights rows).

    The weights are computed over every complete city-year of `df`: pass the sample cities
    only if the entropy should run over the sample (SPEC §5's n city-years). Raises
    UserError when the weights are undefined (fewer than 2 complete city-years, or no
    indicator varies). Collects only the weights (one row per indicator) to check them.
    """
    # Materialise the filled grid once (cities × years, small): the weights read it in two
    # passes and the index once more; without this each read would rerun the per-city fill.
    filled = fill_gaps(df, indicators, years, bounds).localCheckpoint(eager=True)
    weights = entropy_weights(filled, indicators)
    got = weights.collect()
    n = got[0]["n"] if got else 0
    if n < 2:
        raise UserError(f"er: entropy weights need at least 2 city-years with all five indicators, got {n}")
    if any(r["w_j"] is None for r in got):
        raise UserError("er: entropy weights undefined: no indicator varies across the city-years")
    weights = df.sparkSession.createDataFrame([tuple(r) for r in got], ER_WEIGHTS.schema)
    return er_index(filled, weights, indicators), weights



def write_er(index: DataFrame, weights: DataFrame) -> None:
    """Replace gold.er_index and gold.er_weights (whole tables: the weights depend on every row)."""
    tables.write(index, ER_INDEX, mode="overwrite")
    tables.write(weights, ER_WEIGHTS, mode="overwrite")
