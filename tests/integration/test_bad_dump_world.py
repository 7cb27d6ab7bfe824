"""Bad rows in the shared pipeline run (issue 15): a printable detail on every reject of every
stage, and every run built on bronze records the dump as complete (a dump with bad files and
bad rows: tests/integration/test_bad_dump_ingest.py)."""
from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# ---------------------------------------------------------------- every stage of the shared pipeline run

def test_no_reject_without_a_detail_in_the_pipeline_warehouse(pipeline_warehouse):
    from greenlink.ops.analyst import read_table

    for name in ("bronze.rejects", "bronze.control_rejects", "bronze.policy_rejects"):
        df = read_table(pipeline_warehouse, name)
        if name == "bronze.rejects":               # the generated world has row defects at both stages
            assert set(df["stage"]) == {"ingest", "classify"}
        empty = df[df["detail"].isna() | (df["detail"].astype(str).str.strip() == "")]
        assert empty.empty, (name, empty[["reason"]].value_counts().to_dict())
        assert not df["detail"].astype(str).str.contains(CONTROL).any(), name


def test_runs_built_on_bronze_record_the_dump_state(pipeline_warehouse):
    """The shared pipeline run read a complete dump: its parent `run`, ingest and the stages
    built on bronze (panel included) say so; bronze.file_rejects exists and is empty."""
    from greenlink.ops.analyst import read_table

    runs = read_table(pipeline_warehouse, "_meta.runs")
    ends = runs[runs["event"] == "end"]
    dumps = {job: dict(inputs).get("dump") for job, inputs in zip(ends["job"], ends["inputs"])}
    assert {j: dumps.get(j) for j in ("run", "ingest", "classify", "networks", "panel")} == \
        dict.fromkeys(("run", "ingest", "classify", "networks", "panel"), "complete")
    assert len(read_table(pipeline_warehouse, "bronze.file_rejects")) == 0
