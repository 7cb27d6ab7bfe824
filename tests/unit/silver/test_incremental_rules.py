"""The incremental classify's rules on hand-made frames (silver/incremental.py; the whole
monthly path against a full run: tests/integration/test_incremental.py)."""
from __future__ import annotations


def test_changed_numbers_are_those_whose_set_of_records_differs(spark):
    from greenlink.silver.incremental import changed_numbers

    before = spark.createDataFrame([("A", "a1"), ("B", "b1"), ("B", "b2"), ("C", "c1"), ("D", "d1")],
                                   "application_no string, record_hash string")
    now = spark.createDataFrame([("A", "a1"),                 # unchanged
                                 ("B", "b2"), ("B", "b1"),    # same records, other order
                                 ("C", "c2"),                 # corrected
                                 ("E", "e1"),                 # new; D withdrawn
                                 ("F", "f1"), ("F", "f2")],   # new, two records
                                "application_no string, record_hash string")
    assert sorted(r[0] for r in changed_numbers(before, now).collect()) == ["C", "D", "E", "F"]
