"""SPEC §5 `er`: gap filling edge cases and the range-entropy method on hand-computed numbers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.gold.controls import entropy as E
from greenlink.gold.tables import ER_INDEX, ER_WEIGHTS

from frames import assert_frame_equal, rows_of

NAN = float("nan")


# --------------------------------------------------------------------------- gap filling (pure)

def test_all_values_missing_stays_missing():
    filled, flags = E.fill_series([2010, 2011, 2012], [NAN, NAN, NAN])
    assert np.isnan(filled).all()
    assert flags == ["missing"] * 3


def test_single_observation_is_held_constant():
    filled, flags = E.fill_series([2010, 2011, 2012, 2013], [NAN, NAN, 42.5, NAN])
    assert filled.tolist() == [42.5, 42.5, 42.5, 42.5]
    assert flags == ["extrapolated", "extrapolated", "observed", "extrapolated"]


def test_interior_gaps_are_interpolated_linearly():
    filled, flags = E.fill_series([2010, 2011, 2012, 2013, 2014], [50.0, NAN, NAN, 80.0, 81.0])
    # 50 -> 80 over three years: +10 per year
    assert filled.tolist() == pytest.approx([50.0, 60.0, 70.0, 80.0, 81.0])
    assert flags == ["observed", "interpolated", "interpolated", "observed", "observed"]


def test_gaps_at_both_ends_use_the_ols_trend_of_all_observations():
    years = [2010, 2011, 2012, 2013, 2014, 2015, 2016]
    filled, flags = E.fill_series(years, [NAN, 60.0, NAN, 70.0, 74.0, NAN, NAN])
    # Observations (t = year - 2011): (0, 60), (2, 70), (3, 74).
    # t̄ = 5/3, x̄ = 68; Sxy = (-5/3)(-8) + (1/3)(2) + (4/3)(6) = 22; Sxx = 25/9 + 1/9 + 16/9 = 14/3
    slope = 22 / (14 / 3)                  # 33/7 per year
    at_2011 = 68 - slope * 5 / 3           # 421/7
    expected = [at_2011 - slope, 60.0, 65.0, 70.0, 74.0, at_2011 + 4 * slope, at_2011 + 5 * slope]
    assert filled.tolist() == pytest.approx(expected)
    assert expected[5] == pytest.approx(79.0)
    assert flags == ["extrapolated", "observed", "interpolated", "observed", "observed",
                     "extrapolated", "extrapolated"]


def test_extrapolation_is_clipped_to_the_rate_range():
    filled, flags = E.fill_series([2010, 2011, 2012, 2013], [90.0, 96.0, NAN, NAN])
    assert filled.tolist() == pytest.approx([90.0, 96.0, 100.0, 100.0])   # trend 102, 108 -> 100
    filled, _ = E.fill_series([2010, 2011, 2012], [NAN, 8.0, 2.0])
    assert filled.tolist() == pytest.approx([14.0, 8.0, 2.0])
    filled, _ = E.fill_series([2010, 2011, 2012], [8.0, 2.0, NAN])
    assert filled.tolist() == pytest.approx([8.0, 2.0, 0.0])                # trend -4 -> 0


def test_duplicate_years_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        E.fill_series([2010, 2010], [1.0, 2.0])


# --------------------------------------------------------------------------- entropy (hand example)

IND = ("a", "b", "c")
# Four complete city-years, one city-year with c missing (excluded: n = 4).
HAND = pd.DataFrame({
    "city_code": ["x", "x", "y", "y", "z"],
    "year": [2010, 2011, 2010, 2011, 2010],
    "a": [10.0, 20.0, 30.0, 50.0, 15.0],
    "b": [40.0, 40.0, 40.0, 40.0, 40.0],
    "c": [80.0, 60.0, 70.0, 90.0, NAN],
})


def hand_expected():
    """SPEC §5 by explicit arithmetic on HAND (n = 4)."""
    ln4 = math.log(4)
    # a: min 10, max 50 -> x' = 0, 1/4, 1/2, 1; Σ = 7/4 -> p = 0, 1/7, 2/7, 4/7
    e_a = -(1 / 7 * math.log(1 / 7) + 2 / 7 * math.log(2 / 7) + 4 / 7 * math.log(4 / 7)) / ln4
    # b: constant -> no information
    e_b = 1.0
    # c: min 60, max 90 -> x' = 2/3, 0, 1/3, 1; Σ = 2 -> p = 1/3, 0, 1/6, 1/2
    e_c = -(1 / 3 * math.log(1 / 3) + 1 / 6 * math.log(1 / 6) + 1 / 2 * math.log(1 / 2)) / ln4
    d = {"a": 1 - e_a, "b": 1 - e_b, "c": 1 - e_c}
    w = {k: v / (d["a"] + d["b"] + d["c"]) for k, v in d.items()}
    xa, xc = [0, 0.25, 0.5, 1.0], [2 / 3, 0, 1 / 3, 1.0]
    er = [w["a"] * xa[k] + w["c"] * xc[k] for k in range(4)]
    return {"e": {"a": e_a, "b": e_b, "c": e_c}, "d": d, "w": w, "er": er}


def test_entropy_weights_pandas_match_hand_computation():
    exp = hand_expected()
    w = E.entropy_weights_pandas(HAND, IND).set_index("indicator")
    assert w["n"].tolist() == [4, 4, 4]
    for j in IND:
        assert w.loc[j, "e_j"] == pytest.approx(exp["e"][j], abs=1e-12)
        assert w.loc[j, "d_j"] == pytest.approx(exp["d"][j], abs=1e-12)
        assert w.loc[j, "w_j"] == pytest.approx(exp["w"][j], abs=1e-12)
    assert w["w_j"].sum() == pytest.approx(1.0, abs=1e-12)
    er = E.er_pandas(HAND, w.reset_index())
    assert er.iloc[:4].tolist() == pytest.approx(exp["er"], abs=1e-12)
    assert math.isnan(er.iloc[4])


def test_entropy_spark_matches_hand_computation(spark):
    exp = hand_expected()
    df = spark.createDataFrame(HAND.astype(object).where(HAND.notna(), None),
                               "city_code string, year int, a double, b double, c double")
    weights = {r["indicator"]: r for r in E.entropy_weights(df, IND).collect()}
    assert {k: r["n"] for k, r in weights.items()} == {"a": 4, "b": 4, "c": 4}
    assert (weights["a"]["x_min"], weights["a"]["x_max"]) == (10.0, 50.0)
    for j in IND:
        assert weights[j]["e_j"] == pytest.approx(exp["e"][j], abs=1e-12)
        assert weights[j]["w_j"] == pytest.approx(exp["w"][j], abs=1e-12)
    wdf = spark.createDataFrame([tuple(weights[j]) for j in IND], ER_WEIGHTS.schema)
    got = {(r["city_code"], r["year"]): r["er"] for r in E.er_index(df, wdf, IND).collect()}
    assert [got[k] for k in [("x", 2010), ("x", 2011), ("y", 2010), ("y", 2011)]] == \
        pytest.approx(exp["er"], abs=1e-12)
    assert got[("z", 2010)] is None


def test_degenerate_weights_are_a_user_error():
    with pytest.raises(UserError, match="at least 2"):
        E.entropy_weights_pandas(HAND.iloc[:1], IND)
    with pytest.raises(UserError, match="no indicator varies"):
        E.entropy_weights_pandas(HAND.assign(a=1.0, c=2.0), IND)


# --------------------------------------------------------------------------- Spark pipeline + tables

def raw_controls(spark):
    """Five cities, 2010-2014, the five SPEC indicators with every kind of gap."""
    rows = []
    base = {"c1": 30.0, "c2": 50.0, "c3": 70.0, "c4": 20.0, "c5": 80.0}   # all within 0-100
    for c, b in base.items():
        for k, y in enumerate(range(2010, 2015)):
            vals = [b + 2 * k + 3 * j for j in range(5)]
            rows.append([c, y, *vals])
    idx = {(r[0], r[1]): r for r in rows}
    idx[("c1", 2011)][2] = None            # interior gap
    idx[("c1", 2010)][3] = None            # leading gap
    idx[("c1", 2014)][3] = None            # trailing gap
    idx[("c2", 2012)][4] = 130.0           # out of range -> invalid, interpolated
    for y in range(2010, 2015):
        idx[("c3", y)][6] = None           # never observed -> missing, no er
    for y in (2010, 2011, 2013, 2014):
        idx[("c4", y)][5] = None           # single observation
    rows = [r for r in rows if (r[0], r[1]) != ("c5", 2012)]   # absent city-year row
    schema = "city_code string, year int, " + ", ".join(f"{i} double" for i in E.ER_INDICATORS)
    return spark.createDataFrame(rows, schema)


@pytest.mark.slow
def test_build_er_fills_flags_and_scores(spark, fresh_warehouse):
    E.write_er(*E.build_er(raw_controls(spark)))
    got = tables.read(spark, ER_INDEX.name).toPandas().set_index(["city_code", "year"]).sort_index()
    so2, cod, waste, sewage, garbage = E.ER_INDICATORS
    assert len(got) == 25                                   # full grid, c5 2012 added
    assert got.loc[("c1", 2011), f"{so2}_flag"] == "interpolated"
    assert got.loc[("c1", 2011), so2] == pytest.approx(32.0)
    assert got.loc[("c1", 2010), f"{cod}_flag"] == "extrapolated"
    assert got.loc[("c1", 2010), cod] == pytest.approx(33.0)   # exact linear series 35, 37, 39
    assert got.loc[("c1", 2014), cod] == pytest.approx(41.0)
    assert got.loc[("c2", 2012), f"{waste}_flag"] == "interpolated"
    assert list(got.loc[("c2", 2012), "invalid_raw"]) == [waste]
    assert got.loc[("c2", 2012), waste] == pytest.approx(60.0)
    assert sum(len(v) for v in got["invalid_raw"]) == 1
    assert (got.loc["c3", f"{garbage}_flag"] == "missing").all()
    assert got.loc["c3", "er"].isna().all()
    assert got.loc["c4", sewage].tolist() == pytest.approx([33.0] * 5)   # 20 + 2·2 + 3·3, held
    assert got.loc[("c4", 2012), f"{sewage}_flag"] == "observed"
    assert (got.loc["c5", f"{so2}_flag"].tolist() ==
            ["observed", "observed", "interpolated", "observed", "observed"])
    assert got.loc[("c5", 2012), so2] == pytest.approx(84.0)
    assert got.drop(index="c3")["er"].between(0, 1).all()
    assert got.drop(index="c3")["er"].notna().all()
    # the pandas core on the same filled rows gives the same weights and scores
    wp = tables.read(spark, ER_WEIGHTS.name).toPandas().set_index("indicator").loc[list(E.ER_INDICATORS)]
    assert wp["w_j"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (wp["n"] == 20).all()                            # 25 city-years minus c3's five
    oracle = E.entropy_weights_pandas(got.reset_index(), E.ER_INDICATORS)
    assert wp["w_j"].tolist() == pytest.approx(oracle["w_j"].tolist(), abs=1e-12)
    assert got["er"].tolist() == pytest.approx(E.er_pandas(got, oracle).tolist(), abs=1e-12, nan_ok=True)
    # rerun on unchanged input: same content; readers stay at protocol version 1
    first = rows_of(tables.read(spark, ER_INDEX.name).drop("invalid_raw"))
    E.write_er(*E.build_er(raw_controls(spark)))
    assert_frame_equal(tables.read(spark, ER_INDEX.name).drop("invalid_raw"), first)
    assert tables.protocol(spark, ER_INDEX.name)[0] == 1
    bad = tables.read(spark, ER_INDEX.name).limit(1).withColumn("er", F.lit(1.5))
    with pytest.raises(Exception, match="(?i)constraint|check"):
        tables.write(bad, ER_INDEX, mode="overwrite")
