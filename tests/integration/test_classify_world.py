"""The classify stage on the shared pipeline warehouse: agreement with the generator's truth/
(green flags and categories exact, applicant cities, reject reasons) and counts that reconcile
with bronze (hand-built records: tests/unit/silver/test_classify.py)."""
from __future__ import annotations

import pandas as pd
import pytest

from greenlink.bronze.tables import PATENTS_RAW, REJECTS
from greenlink.core import tables
from greenlink.core.runs import RUNS
from greenlink.silver.tables import APPLICANTS, PATENTS, TRANSFERS


# ------------------------------------------------------------------ on the generated world

@pytest.fixture(scope="module")
def silver(spark, pipeline_warehouse, use_warehouse, generated_world):
    with use_warehouse(pipeline_warehouse):
        runs = tables.read(spark, RUNS.name).where("job = 'classify' AND event = 'end'").toPandas()
        return {
            "patents": tables.read(spark, PATENTS.name).toPandas(),
            "applicants": tables.read(spark, APPLICANTS.name).toPandas(),
            "transfers": tables.read(spark, TRANSFERS.name).toPandas(),
            "rejects": (tables.read(spark, REJECTS.name).where("stage = 'classify'")
                        .join(tables.read(spark, PATENTS_RAW.name).select("source_file", "source_row", "application_no"),
                              ["source_file", "source_row"], "left").toPandas()),
            "bronze": tables.read(spark, PATENTS_RAW.name).count(),
            "counts": runs.iloc[-1]["counts"],
            "truth": generated_world / "truth",
        }


def test_green_flags_and_categories_equal_truth(silver):
    truth = pd.read_parquet(silver["truth"] / "patents.parquet")
    accepted = truth[truth.fate == "accepted"]
    got = silver["patents"]
    assert set(got.application_no) == set(accepted.application_no)
    m = accepted.merge(got, on="application_no", suffixes=("_t", "_s"))
    assert (m.is_green_t == m.is_green_s).all()
    assert all(sorted(a) == sorted(b) for a, b in zip(m.categories_t, m.categories_s))
    assert all(sorted(a) == sorted(b) for a, b in zip(m.topics_t, m.topics_s))
    assert (m.patent_type_t == m.patent_type_s).all() and (m.granted_t == m.granted_s).all()
    assert (m.year_t == m.year_s).all()
    assert m.is_green_s.sum() > 0


def test_rejects_have_truth_reasons(silver):
    truth = pd.read_parquet(silver["truth"] / "patents.parquet")
    expected = truth[truth.fate.isin(["no_parseable_ipc", "no_applicant"])].set_index("application_no").fate
    got = silver["rejects"]
    assert len(expected) > 0
    assert got.application_no.notna().all()          # every reject points at its bronze record
    assert dict(zip(got.application_no, got.reason)) == expected.to_dict()


def test_applicant_cities_match_truth(silver):
    links = pd.read_parquet(silver["truth"] / "links.parquet")
    m = links.merge(silver["applicants"], on=["application_no", "applicant_order"], suffixes=("_t", "_s"))
    locatable = m[m.locatable.astype(bool)]
    assert len(locatable) > 1000
    assert (locatable.city_code_t == locatable.city_code_s).mean() >= 0.99
    # nothing unlocatable is given a city, and every unlocated link carries its reason
    assert m[~m.locatable.astype(bool)].city_code_s.isna().all()
    unlocated = silver["applicants"][silver["applicants"].method == "unlocated"]
    assert unlocated.unlocated_reason.notna().all()
    assert (m.org_type_t == m.org_type_s).mean() >= 0.99


def test_counts_reconcile_with_bronze(silver):
    c, p = silver["counts"], silver["patents"]
    assert c["patents.records_in"] == silver["bronze"]
    assert c["patents.accepted"] == len(p)
    assert c["patents.accepted"] + c["patents.collapsed_duplicates"] + c["patents.rejected.no_parseable_ipc"] \
        + c["patents.rejected.no_applicant"] == silver["bronze"]
    assert len(silver["rejects"]) == c["patents.rejected.no_parseable_ipc"] + c["patents.rejected.no_applicant"]
    assert p.n_records.sum() == c["patents.accepted"] + c["patents.collapsed_duplicates"]
    # applicant links: the methods add up, and the unlocated reasons add up to unlocated
    methods = sum(v for k, v in c.items() if k.startswith("applicants.method."))
    reasons = sum(v for k, v in c.items() if k.startswith("applicants.unlocated."))
    assert methods == c["applicants.links"] == len(silver["applicants"])
    assert reasons == c.get("applicants.method.unlocated", 0)


def test_transfers_carry_patent_flags(silver):
    t, p = silver["transfers"], silver["patents"].set_index("application_no")
    inside = t[t.in_dump]
    assert len(inside) > 0 and (~t.in_dump).sum() > 0       # the world transfers some pre-2010 patents
    assert (inside.is_green.values == p.loc[inside.application_no, "is_green"].values).all()
    assert t[~t.in_dump].is_green.isna().all()
    # green invention transfers with both ends located are exactly truth's network transfers
    # (`source` units; those touching a degraded city are dropped later, by the sample)
    truth = pd.read_parquet(silver["truth"] / "transfers.parquet")
    source = truth[truth.kind == "source"]
    got = inside[inside.is_green & (inside.patent_type == "invention") & inside.from_city.notna() & inside.to_city.notna()]
    assert sorted(zip(got.application_no, got.from_city, got.to_city)) == \
        sorted(zip(source.application_no, source.from_city, source.to_city))
