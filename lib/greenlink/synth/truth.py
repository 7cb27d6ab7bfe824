"""truth/: what a correct pipeline must compute, derived from the generated records.

The city-year truth is computed from the records that survive the documented rejects
(docs/raw_formats.md), with the SPEC §1 location rules applied to what each record shows:

- a first applicant is located by its address (verified cpca forms) or, when the address is
  missing, by its name or by its other records (every applicant organisation has an anchor
  record, so all three give its home city); foreign and non-city-unit applicants stay
  unlocated; individuals are located only as first applicants (by their address);
- collaboration (SPEC §4, project decisions): accepted granted green inventions, organisation
  applicants (not individuals) located in sample cities, weight of {a, b} = number of such
  patents with applicants in both; year = application year;
- transfers: accepted transfer rows of accepted green inventions, from the first owner
  before's city to the first owner after's city (address), year = effective year;
- app: accepted applications (all types) by the located first applicant's city and year.

Near duplicates and exact duplicate rows change no count. The network variables come from
the same `netmetrics` definitions the system uses; tests compare them with networkx and
with the system's panel.
"""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from greenlink.synth import netmetrics
from greenlink.synth.plan import REJECT_KINDS
from greenlink.synth.records import Gen, _lit_array

CLASSIFY_REASONS = ("no_parseable_ipc", "no_applicant")
OUTCOMES = {
    "duplicate_row": "rejected at ingest (duplicate_row): byte-identical repeat of an earlier row",
    "near_duplicate": "accepted; same application number and meaning as another row: collapsed in silver",
    "malformed_ipc": "accepted; the garbage symbol is dropped, the others classify",
    "missing_address": "accepted; first applicant located by its name or its other records",
    "foreign_address": "accepted; first applicant unlocated (foreign_address)",
    "noncity_address": "accepted; first applicant unlocated (not_a_city_unit)",
    "no_parseable_ipc": "rejected at classify (no_parseable_ipc)",
    "no_applicant": "rejected at classify (no_applicant)",
    "bad_application_date": "rejected at ingest (bad_application_date)",
    "bad_grant_date": "rejected at ingest (bad_grant_date)",
    "unknown_patent_type": "rejected at ingest (unknown_patent_type)",
    "missing_application_no": "rejected at ingest (missing_application_no)",
    "malformed_row": "rejected at ingest (malformed_row): too few fields",
    "bad_effective_date": "rejected at ingest (bad_effective_date)",
    "missing_owners": "rejected at ingest (missing_owners)",
    "gbk_encoding": "accepted; the file is GBK-encoded",
}


def fate(defect: str) -> F.Column:
    return F.when(F.col(defect).isin(*REJECT_KINDS), F.col(defect)).otherwise(F.lit("accepted"))


def patents_truth(gen: Gen, rec: DataFrame) -> DataFrame:
    pool = gen.pool
    cats = _lit_array(["|".join(c) for c in pool["categories"]], "string")
    tops = _lit_array(["|".join(t) for t in pool["topics"]], "string")

    def labels(arr):
        flat = F.flatten(F.transform("symbols", lambda i: F.split(arr[i], "\\|")))
        return F.array_sort(F.array_distinct(F.filter(flat, lambda x: x != "")))
    return rec.select(
        "pid", "application_no", F.col("ptype").alias("patent_type"), "year", "granted",
        F.col("green").alias("is_green"), labels(cats).alias("categories"), labels(tops).alias("topics"),
        fate("defect").alias("fate"), "stratum")


def links_truth(rec: DataFrame, lk: DataFrame) -> DataFrame:
    """One row per applicant link: true city and whether (and how) a correct pipeline locates it."""
    p = rec.select("pid", "application_no", "defect")
    d = lk.join(p, "pid")
    domestic_org = (F.col("e_kind") == "domestic") & (F.col("e_org_type") != "individual")
    by_name_or_records = F.when(F.col("e_name_place") == "city", F.lit("name")).otherwise(F.lit("first_applicant"))
    first = F.col("ord") == 0
    via = F.when(F.col("e_kind") != "domestic", F.lit(None).cast("string")) \
        .when(first & (F.col("defect") == "missing_address"), by_name_or_records) \
        .when(first, F.lit("address")) \
        .when(domestic_org, by_name_or_records) \
        .otherwise(F.lit(None).cast("string"))
    return d.select("pid", "application_no", (F.col("ord") + 1).alias("applicant_order"),
                    F.col("e_name").alias("org_name"), F.col("e_org_type").alias("org_type"),
                    F.when(F.col("e_kind") == "domestic", F.col("e_city_code")).alias("city_code"),
                    via.isNotNull().alias("locatable"), via.alias("via"), "entity_id")


def city_year(gen: Gen, pt: DataFrame, links: DataFrame, tr: DataFrame) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                   pd.DataFrame]:
    """(city_year panel, collaboration edges, transfer edges) from the records."""
    w = gen.plan.world
    sample = w.cities.loc[w.cities["sample"], ["city_code", "province_code"]].reset_index(drop=True)
    codes = sample["city_code"].tolist()
    acc = pt.where(F.col("fate") == "accepted")
    ggi = acc.where((F.col("patent_type") == "invention") & F.col("granted") & F.col("is_green"))
    lo = links.where(F.col("locatable") & (F.col("org_type") != "individual") & F.col("city_code").isin(codes))
    pc = ggi.select("pid", "year").join(lo.select("pid", "city_code"), "pid").distinct()
    pairs = pc.alias("a").join(pc.alias("b"), (F.col("a.pid") == F.col("b.pid")) & (F.col("a.city_code") < F.col("b.city_code")))
    collab = pairs.groupBy(F.col("a.year").alias("year"), F.col("a.city_code").alias("city_a"),
                           F.col("b.city_code").alias("city_b")).count().withColumnRenamed("count", "weight") \
        .toPandas()
    # transfers: accepted rows of accepted green inventions, both ends located in the sample
    green_inv = ggi.select("pid")
    t = tr.where(F.col("fate") == "accepted").join(green_inv, "pid") \
        .where(F.col("from_city").isin(codes) & F.col("to_city").isin(codes))
    transfers = t.groupBy(F.col("year"), F.col("from_city").alias("src"),
                          F.col("to_city").alias("dst")).count().withColumnRenamed("count", "weight").toPandas()
    # app: accepted applications by the located first applicant's city
    first = links.where((F.col("applicant_order") == 1) & F.col("locatable")).select("pid", "city_code")
    app = acc.join(first, "pid").groupBy("city_code", "year").count().withColumnRenamed("count", "app").toPandas()
    years = w.years
    m = netmetrics.city_year_metrics(collab, transfers, sample, years)
    m = m.merge(app, on=["city_code", "year"], how="left").fillna({"app": 0})
    m["app"] = m["app"].astype("int64")
    cols = ["city_code", "year", "rsi", "ex", "in", "DC", "BC", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt",
            "in_gt", "dc_out", "dc_in", "bc_gt", "gtr_ip", "app"]
    return m[cols].sort_values(["city_code", "year"]).reset_index(drop=True), \
        collab.sort_values(["year", "city_a", "city_b"]).reset_index(drop=True), \
        transfers.sort_values(["year", "src", "dst"]).reset_index(drop=True)


def transfers_truth(tr: DataFrame, pt: DataFrame) -> DataFrame:
    """Every transfer record (not the duplicate copies): its true ends and whether the
    networks count it."""
    ok = pt.select("pid", F.col("fate").alias("patent_fate"), "patent_type", "is_green")
    d = tr.join(ok, "pid", "left")
    counted = (F.col("fate") == "accepted") & (F.col("patent_fate") == "accepted") & \
        (F.col("patent_type") == "invention") & F.col("is_green") & F.col("in_dump")
    return d.select("tid", "pid", "application_no", F.col("t_year").alias("year"), "kind", "in_dump", "from_city", "to_city",
                    "fate", (counted & F.col("counted")).alias("counted"))


def orgs_truth(entities: pd.DataFrame) -> pd.DataFrame:
    e = entities.copy()
    loc = pd.Series("none", index=e.index)
    dom_org = (e["kind"] == "domestic") & (e["org_type"] != "individual")
    loc[dom_org & (e["pool"] == "app")] = "first_applicant"
    loc[dom_org & (e["pool"] == "app") & (e["name_place"] == "city")] = "name"
    loc[dom_org & (e["pool"] == "recip")] = "address"
    loc[(e["org_type"] == "individual") & (e["pool"] == "lead")] = "address"
    return pd.DataFrame({"org_name": e["name"], "org_type": e["org_type"], "city_code": e["city_code"],
                         "locatable": loc, "kind": e["kind"], "pool": e["pool"], "name_place": e["name_place"]})
