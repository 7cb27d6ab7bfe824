"""The classify stage on hand-built records: duplicate collapsing and reject rules (on the
generated world: tests/integration/test_classify_world.py)."""
from __future__ import annotations

from datetime import date

import pytest

from greenlink.bronze.tables import PATENTS_RAW
from greenlink.silver.green import load_inventory
from greenlink.silver.stage import best_records, classified_records, reject_reason


def record(no, row, *, ipc="F03D 1/06", applicants="甲公司", grant=None, pub="CN1", address="江苏省苏州市", file="a.csv"):
    return (no, no, date(2015, 3, 1), 2015, pub, grant, "invention", "发明", ipc, applicants, address,
            file, row, "0" * 64, bytes(32), "r")


@pytest.fixture(scope="module")
def chosen(spark):
    rows = [
        # one application in three exports: the granted, complete copy must win
        record("201510000001.1", 1, grant=None),
        record("201510000001.1", 1, grant=date(2017, 1, 1), file="b.csv"),
        record("201510000001.1", 1, grant=date(2017, 1, 1), pub=None, file="c.csv"),
        # a damaged copy (garbage IPC) never wins over a clean one, whatever the file order
        record("201510000002.X", 2, ipc="N/A;未知"),
        record("201510000002.X", 2, ipc="h02j 3/38", file="b.csv"),
        # patents that must be rejected ((source_file, source_row) is unique in bronze)
        record("201510000003.5", 3, ipc="#REF!;--"),
        record("201510000004.3", 4, applicants=" ; "),
        record("201510000005.1", 5, ipc="", applicants=";"),
    ]
    raw = spark.createDataFrame(rows, PATENTS_RAW.schema)
    records = classified_records(raw, load_inventory(spark))
    out = best_records(records).withColumn("reason", reject_reason()).toPandas()
    return out.set_index("application_no")


def test_duplicates_collapse_to_granted_complete_record(chosen):
    r = chosen.loc["201510000001.1"]
    assert (r.n_records, r.source_file) == (3, "b.csv")


def test_clean_copy_wins_over_damaged_one(chosen):
    r = chosen.loc["201510000002.X"]
    assert (r.n_records, r.source_file, r.reason) == (2, "b.csv", None)
    assert list(r.ipc_symbols) == ["H02J 3/38"] and r.is_green


def test_reject_reasons(chosen):
    assert chosen.loc["201510000003.5", "reason"] == "no_parseable_ipc"
    assert chosen.loc["201510000004.3", "reason"] == "no_applicant"
    # both defects: the IPC reason comes first (documented order)
    assert chosen.loc["201510000005.1", "reason"] == "no_parseable_ipc"
    assert chosen.loc["201510000001.1", "reason"] is None
