"""`greenlink networks`: the stage against the generated world's truth/ (its inputs' filters,
config validation, the CLI wiring: tests/unit/gold/test_network_stage.py).

The truth test does not wait for classify and controls: it builds silver-shaped frames from
truth/ (what a correct classify would write: accepted patents, applicant links located
exactly where truth says they are locatable, transfers with their true ends) and the sample
of structural.json, runs the stage once on them (`build_networks`: everything `greenlink
networks` does after reading its inputs), and compares every network variable with
truth/city_year.parquet. So it checks the stage's definitions (which applicants, which
years, which transfers) against the generator's.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from greenlink.core import tables
from greenlink.gold import tables as GT
from greenlink.gold.networks import edges as nw, stage as S
from greenlink.gold.networks.settings import NetworksSettings
from greenlink.silver.tables import APPLICANTS, PATENTS, TRANSFERS

COUNT_COLS = ["rsi", "ex", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "gtr_ip"]
RATIO_COLS = ["in", "DC", "BC", "in_gt", "dc_out", "dc_in", "bc_gt"]


def _province(col: str):
    return F.when(F.col(col).isNotNull(), F.concat(F.substring(col, 1, 2), F.lit("0000")))


def silver_from_truth(spark, world: Path) -> S.StageInputs:
    """The stage's inputs as a correct classify and controls would write them for this world:
    silver.patents / applicants / transfers with their declared columns and types (columns
    the stage does not read get neutral placeholders that also satisfy the tables'
    constraints) and the sample of structural.json. In memory: writing them as Delta
    tables first would double the cost of the test and check nothing about the stage."""
    truth = world / "truth"
    pt = spark.read.parquet(str(truth / "patents.parquet")).where(F.col("fate") == "accepted")
    app_date = F.make_date(F.col("year"), F.lit(1), F.lit(1))
    # truth has no grant dates; a placeholder (the stage's default year basis does not read it)
    grant_date = F.when(F.col("granted"), F.make_date(F.col("year") + 1, F.lit(6), F.lit(30)))
    patents = pt.select(
        "application_no", "year", app_date.alias("application_date"), F.lit(None).cast("string").alias("publication_no"),
        "patent_type", "granted", grant_date.alias("grant_date"), F.year(grant_date).alias("grant_year"),
        F.array(F.lit("H01M 8/00")).alias("ipc_symbols"), F.lit("H01M 8/00").alias("main_ipc"),
        F.lit(0).alias("n_ipc_invalid"), "is_green", "categories", "topics",
        F.array().cast("array<string>").alias("green_entries"), F.lit(1).alias("n_applicants"),
        F.lit("truth").alias("first_applicant"), F.lit(None).cast("string").alias("first_org_type"),
        F.lit(None).cast("string").alias("city_code"), F.lit(None).cast("string").alias("province_code"),
        F.lit("truth/patents.parquet").alias("source_file"), F.monotonically_increasing_id().alias("source_row"),
        F.lit(1).alias("n_records"), F.col("application_no").alias("record_hash"))

    lk = spark.read.parquet(str(truth / "links.parquet")).join(pt.select("application_no", "year"), "application_no")
    city = F.when(F.col("locatable"), F.col("city_code"))
    applicants = lk.select(
        "application_no", "year", "applicant_order", F.col("org_name").alias("name"), "org_type",
        city.alias("city_code"), F.lit(None).cast("string").alias("province_code"),
        F.when(F.col("locatable"), F.col("via")).otherwise(F.lit("unlocated")).alias("method"),
        F.when(~F.col("locatable"), F.when(F.col("org_type") == "individual", F.lit("individual_no_address"))
               .otherwise(F.lit("foreign_name"))).alias("unlocated_reason"))
    applicants = applicants.withColumn("province_code", _province("city_code"))

    tr = spark.read.parquet(str(truth / "transfers.parquet")).where(F.col("fate") == "accepted")
    dump = pt.select("application_no", F.col("patent_type").alias("p_type"), F.col("is_green").alias("p_green"),
                     F.lit(True).alias("found"))
    tr = tr.join(dump, "application_no", "left")
    transfers = tr.select(
        "application_no", "year", F.make_date(F.col("year"), F.lit(6), F.lit(30)).alias("effective_date"),
        F.lit("before").alias("from_owner"), F.lit(None).cast("string").alias("from_org_type"), "from_city",
        _province("from_city").alias("from_province"), F.lit(None).cast("string").alias("from_method"),
        F.lit(None).cast("string").alias("from_unlocated_reason"),
        F.lit("after").alias("to_owner"), F.lit(None).cast("string").alias("to_org_type"), "to_city",
        _province("to_city").alias("to_province"), F.lit(None).cast("string").alias("to_method"),
        F.lit(None).cast("string").alias("to_unlocated_reason"),
        F.lit(1).alias("n_owners_before"), F.lit(1).alias("n_owners_after"),
        F.coalesce("found", F.lit(False)).alias("in_dump"), F.col("p_type").alias("patent_type"),
        F.col("p_green").alias("is_green"), F.lit("truth/transfers.parquet").alias("source_file"),
        F.monotonically_increasing_id().alias("source_row"),
        F.concat_ws("|", "application_no", F.col("year").cast("string"), "from_city", "to_city").alias("record_hash"))

    from greenlink.reference.gazetteer import cities

    sample = set(json.loads((truth / "structural.json").read_text(encoding="utf-8"))["sample_cities"])
    g = cities()
    g = g[g["city_code"].isin(sample)][["city_code", "city_name", "province_code", "longitude", "latitude"]]
    sample_cities = spark.createDataFrame(g.astype({"longitude": float, "latitude": float}))

    def declared(df, spec):   # exactly the declared silver columns and types
        return df.select(*[F.col(c).cast(spec.schema[c].dataType) for c in spec.schema.fieldNames()])

    return S.StageInputs(declared(patents, PATENTS), declared(applicants, APPLICANTS),
                         declared(transfers, TRANSFERS), sample_cities, {"truth": str(truth)})


@pytest.fixture(scope="module")
def truth_run(spark, generated_world, tmp_path_factory):
    """The stage run once on the truth-built inputs into its own warehouse; everything the
    tests look at is collected here (the session's warehouse is restored afterwards)."""
    from greenlink.core.session import WAREHOUSE_KEY

    root = tmp_path_factory.mktemp("netstage")
    before = spark.conf.get(WAREHOUSE_KEY)
    spark.conf.set(WAREHOUSE_KEY, str(root / "warehouse"))
    try:
        reports = root / "reports"
        counts = S.build_networks(spark, silver_from_truth(spark, generated_world), NetworksSettings.load(),
                                  reports / "networks")
        read = {spec.name: tables.read(spark, spec.name).toPandas()
                for spec in (GT.COLLAB_EDGES, GT.TRANSFER_EDGES, GT.CITY_NETWORK_METRICS, GT.NETWORK_SUMMARY)}
        from greenlink.core.runs import runs_view

        runs = runs_view(spark).where(F.col("job") == "networks").toPandas()
    finally:
        spark.conf.set(WAREHOUSE_KEY, before)
    truth = generated_world / "truth"
    return {"counts": counts, "tables": read, "runs": runs, "figures": reports / "networks",
            "city_year": pd.read_parquet(truth / "city_year.parquet"),
            "edges": pd.read_parquet(truth / "edges.parquet"),
            "transfers": pd.read_parquet(truth / "transfers.parquet"),
            "sample": json.loads((truth / "structural.json").read_text(encoding="utf-8"))["sample_cities"]}


def assert_metrics_equal_truth(got: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Every SPEC §4 variable of every sample city-year: counts exactly, ratios to 1e-9."""
    got = got.sort_values(["city_code", "year"]).reset_index(drop=True)
    want = truth.sort_values(["city_code", "year"]).reset_index(drop=True)
    assert list(got.columns) == [*GT.METRIC_COLUMNS, *GT.EXTENSION_COLUMNS]
    # the PageRank extension: a distribution over the 278 cities of each network-year
    for c in GT.EXTENSION_COLUMNS:
        assert (got[c] > 0).all() and np.allclose(got.groupby("year")[c].sum(), 1.0, atol=1e-9), c
    assert len(got) == len(want) == 278 * 11
    assert (got["city_code"] == want["city_code"]).all() and (got["year"] == want["year"]).all()
    for c in COUNT_COLS:
        bad = got[c].to_numpy() != want[c].to_numpy()
        assert not bad.any(), (f"{c}: {bad.sum()} city-years differ, e.g. "
                               f"{got.loc[bad, ['city_code', 'year', c]].head(3).to_dict('records')} "
                               f"vs truth {want.loc[bad, c].head(3).tolist()}")
    for c in RATIO_COLS:
        diff = np.abs(got[c].to_numpy() - want[c].to_numpy())
        assert diff.max() <= 1e-9, f"{c}: max |diff| {diff.max()}"


def assert_edges_equal_truth(collab: pd.DataFrame, transfer: pd.DataFrame, edges: pd.DataFrame) -> None:
    key = ["year", "src", "dst", "weight"]

    def norm(df):
        return df[key].astype({"year": "int64", "weight": "int64"}).sort_values(key).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(collab.rename(columns={"city_a": "src", "city_b": "dst"})),
                                  norm(edges[edges["network"] == "collab"]))
    pd.testing.assert_frame_equal(norm(transfer), norm(edges[edges["network"] == "transfer"]))


def test_every_network_variable_equals_truth(truth_run):
    assert_metrics_equal_truth(truth_run["tables"]["gold.city_network_metrics"], truth_run["city_year"])
    # the world is not trivial: every year has both networks, and betweenness is not all zero
    want = truth_run["city_year"]
    assert (want.groupby("year")["rsi"].sum() > 0).all() and (want.groupby("year")["gtr"].sum() > 0).all()
    assert want["BC"].max() > 0 and want["bc_gt"].max() > 0


def test_edges_equal_truth(truth_run):
    transfer = truth_run["tables"]["gold.transfer_edges"]
    assert_edges_equal_truth(truth_run["tables"]["gold.collab_edges"], transfer, truth_run["edges"])
    assert (transfer["is_local"] == (transfer["src"] == transfer["dst"])).all()


def test_pipeline_network_metrics_equal_truth(pipeline_warehouse, generated_world):
    """The same comparison on the whole pipeline's warehouse (classify, controls, networks run
    on the raw files of the shared world)."""
    from greenlink.ops.analyst import read_table

    warehouse = pipeline_warehouse

    truth = generated_world / "truth"
    assert_edges_equal_truth(read_table(warehouse, "gold.collab_edges"), read_table(warehouse, "gold.transfer_edges"),
                             pd.read_parquet(truth / "edges.parquet"))
    assert_metrics_equal_truth(read_table(warehouse, "gold.city_network_metrics"),
                               pd.read_parquet(truth / "city_year.parquet"))


def test_counts_reconcile_and_match_truth(truth_run):
    c = truth_run["counts"]
    # every applicant link of a network patent, every patent, every transfer row: once
    assert c["links.network"] == sum(c[f"links.{r}"] for r in S.LINK_REASONS)
    assert c["patents.network"] == sum(c[f"patents.network.{o}"] for o in S.PATENT_OUTCOMES)
    assert c["links.patent_city"] == sum(c[f"patent_cities.{r}"] for r in
                                         ("accepted", "duplicate", "city_not_in_sample", "null_field",
                                          "year_out_of_range"))
    assert c["links.unlocated"] == sum(v for k, v in c.items() if k.startswith("links.unlocated."))
    assert c["transfers.rows"] == c["transfers.network"] + sum(c[f"transfers.{r}"] for r in S.TRANSFER_REASONS)
    assert c["transfers.network"] == sum(c[f"transfers.network.{r}"] for r in
                                         ("accepted", "city_not_in_sample", "null_field", "year_out_of_range"))
    e = truth_run["edges"]
    assert c["collab.pairs"] == e.loc[e["network"] == "collab", "weight"].sum()
    assert c["transfers.network.accepted"] == e.loc[e["network"] == "transfer", "weight"].sum()
    assert c["transfers.local"] == e.loc[(e["network"] == "transfer") & (e["src"] == e["dst"]), "weight"].sum()
    # the transfers the stage uses are exactly truth's counted ones between sample cities
    t = truth_run["transfers"]
    sample = set(truth_run["sample"])
    assert c["transfers.network.accepted"] == (t["counted"] & t["from_city"].isin(sample)
                                               & t["to_city"].isin(sample)).sum()
    # the world exercises the filters: individuals, non-sample partners and non-network transfers
    assert c["links.not_organisation"] > 0 and c["patent_cities.city_not_in_sample"] > 0
    assert c["transfers.not_in_dump"] > 0 and c["transfers.not_green"] > 0
    assert c["patents.network.several_cities"] > 0
    assert c["city_network_metrics.rows"] == 278 * 11 and c["network_summary.rows"] == 2 * 11
    assert {f"phase_ms.{p}" for p in ("inputs", "edges", "betweenness", "metrics", "summary", "figures")} <= set(c)
    runs = truth_run["runs"]
    assert len(runs) == 1 and runs["status"].iloc[0] == "succeeded"
    assert runs["counts"].iloc[0]["collab.pairs"] == c["collab.pairs"]


def test_summary_and_figures(truth_run):
    s = truth_run["tables"]["gold.network_summary"]
    e = truth_run["edges"]
    assert sorted(zip(s["network"], s["year"])) == sorted((n, y) for n in nw.NETWORKS for y in range(2010, 2021))
    assert (s["n_cities"] == 278).all()
    graph = e[e["src"] != e["dst"]].groupby(["network", "year"]).size()
    for r in s.itertuples():
        assert r.edges == graph.get((r.network, r.year), 0)
    # reciprocity extension against the truth's transfer arcs (pairs with arcs both ways)
    arcs = e[(e["network"] == "transfer") & (e["src"] != e["dst"])]
    both = arcs.merge(arcs, left_on=["year", "src", "dst"], right_on=["year", "dst", "src"])
    pairs = both[both["src_x"] < both["dst_x"]].groupby("year").size()
    for r in s[s["network"] == "transfer"].itertuples():
        assert r.reciprocated_pairs == pairs.get(r.year, 0)
        linked = r.edges - r.reciprocated_pairs
        assert (pd.isna(r.reciprocity) if linked == 0 else abs(r.reciprocity - r.reciprocated_pairs / linked) < 1e-12)
    assert s.loc[s["network"] == "collab", "reciprocity"].isna().all()
    figs = sorted(p.name for p in truth_run["figures"].iterdir())
    assert figs == sorted(f"{n}_network_{y}.{ext}" for n in nw.NETWORKS for y in range(2010, 2021)
                          for ext in ("png", "svg"))
    assert truth_run["counts"]["figures.files"] == 44
    # drawn in a thread beside the graph phases: its own time is counted apart from the phase's
    assert truth_run["counts"]["figures.draw_ms"] > 0


def test_a_map_that_cannot_be_written_fails_the_run(spark, generated_world, fresh_warehouse, tmp_path, monkeypatch):
    """The maps are drawn in a thread beside the graph work; its failure is the run's failure,
    raised with its own message once the Spark work has ended, and recorded in _meta.runs."""
    from dataclasses import replace

    from greenlink.core.runs import runs_view
    from greenlink.gold.networks import figures

    def no_space(inputs, out_dir):
        raise OSError(f"no space left to write the maps in {out_dir}")

    monkeypatch.setattr(figures, "draw_figures", no_space)
    one_year = replace(NetworksSettings.load(), years=(2015, 2015))
    with pytest.raises(OSError, match="no space left to write the maps"):
        S.build_networks(spark, silver_from_truth(spark, generated_world), one_year, tmp_path / "networks")
    runs = runs_view(spark).where(F.col("job") == "networks").toPandas()
    assert list(runs["status"]) == ["failed"]
    assert "no space left" in runs["message"].iloc[0]
