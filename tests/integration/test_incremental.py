"""Monthly reruns (issue 23, docs/operations.md "Monthly runs"): on a warehouse holding last
month's dump, `greenlink run` on this month's dump classifies incrementally, skips the stages
whose inputs did not change, and leaves exactly the tables a full run on this month's dump
writes — after one month, after two, and after a run that died between two merges.

Last month is the shared `pipeline_warehouse` (the generated world); the following months are
written by `synth.nextmonth.next_month` (corrections that flip green flags and move patents,
withdrawals, new grants, rows reordered and a file re-cut).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import pipeline_fixture_stages
from greenlink.ops.analyst import read_table
from greenlink.ops.diff import warehouse_differences


# Stages that read the same files every month (the monthly runs skip them: asserted below).
SAME_EVERY_MONTH = ("policy", "controls")


def run_month(spark, use_warehouse, warehouse: Path, dump: Path,
              stages: list[str] | None = None) -> dict[str, dict]:
    """`greenlink run` of `stages` (the fixture's) on `dump`; returns each stage's end-row inputs."""
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    with use_warehouse(warehouse):
        parent = run_stages(spark, stages or pipeline_fixture_stages(),
                            PipelineConfig(input=str(dump), reports=str(warehouse.parent / "reports")))
    runs = read_table(warehouse, "_meta.runs")
    ended = runs[(runs["parent_run_id"] == parent) & (runs["event"] == "end")]
    assert set(ended["status"]) == {"succeeded"}
    return {r["job"]: {"inputs": dict(r["inputs"]), "counts": dict(r["counts"])} for _, r in ended.iterrows()}


def versions(spark, use_warehouse, warehouse: Path) -> dict[str, int | None]:
    from greenlink.core import state
    from greenlink.core.catalog import declared

    with use_warehouse(warehouse):
        return {t: state.log_version(spark, t) for t in declared() if t != "_meta.runs"}


@pytest.fixture(scope="module")
def months(generated_world, tmp_path_factory) -> dict[str, Path]:
    """Two following months of the generated world's dump: the first changes records of every
    year, the second only patents applied for and transfers registered in 2016."""
    from greenlink.synth.nextmonth import next_month

    root = tmp_path_factory.mktemp("months")
    next_month(generated_world, root / "month1", share=0.03, seed=11)
    next_month(root / "month1", root / "month2", share=0.01, seed=12, years=(2016, 2016))
    return {"root": root, "month1": root / "month1", "month2": root / "month2"}


def written_by(warehouse: Path, jobs: tuple[str, ...]) -> set[str]:
    """The tables `jobs` wrote in `warehouse` (their `rows.<table>.*` counts in _meta.runs)."""
    runs = read_table(warehouse, "_meta.runs")
    ended = runs[(runs["event"] == "end") & runs["job"].isin(jobs)]
    return {k.removeprefix("rows.").rsplit(".", 1)[0] for c in ended["counts"] for k in dict(c) if k.startswith("rows.")}


@pytest.fixture(scope="module")
def full_runs(spark, use_warehouse, pipeline_warehouse, months) -> dict[str, Path]:
    """A full pipeline run on each month's dump, each in a fresh warehouse. The stages that read
    the same files every month are not run again: their tables are copied from
    `pipeline_warehouse`, a full run of them on those same files (a rerun writes the same
    content: test_panel_world's rerun test), which saves two runs of each per test session."""
    from greenlink.ops.analyst import table_path

    copied = written_by(pipeline_warehouse, SAME_EVERY_MONTH)
    assert len(copied) >= 2 * len(SAME_EVERY_MONTH), copied
    stages = [s for s in pipeline_fixture_stages() if s not in SAME_EVERY_MONTH]
    out = {}
    for month in ("month1", "month2"):
        wh = months["root"] / f"full_{month}" / "warehouse"
        for t in sorted(copied):
            shutil.copytree(table_path(pipeline_warehouse, t), table_path(wh, t))
        runs = run_month(spark, use_warehouse, wh, months[month], stages)
        assert {r["inputs"].get("mode") for r in runs.values()} == {"full"}, runs
        out[month] = wh
    return out


@pytest.fixture(scope="module")
def monthly(spark, use_warehouse, pipeline_warehouse, months) -> dict:
    """Last month's warehouse brought to month 1, then to month 2, incrementally; what each run
    did and the warehouse's content after month 1 (a copy)."""
    root = months["root"] / "monthly"
    wh = root / "warehouse"
    shutil.copytree(pipeline_warehouse, wh)
    first = run_month(spark, use_warehouse, wh, months["month1"])
    after_first = root / "after_month1"
    shutil.copytree(wh, after_first)
    second = run_month(spark, use_warehouse, wh, months["month2"])
    return {"wh": wh, "after_first": after_first, "month1": first, "month2": second}


def test_a_month_runs_incrementally_and_equals_a_full_run(monthly, full_runs, months):
    runs = monthly["month1"]
    assert runs["ingest"]["inputs"]["patents.action"] == "written"
    assert runs["classify"]["inputs"]["mode"] == "incremental", runs["classify"]["inputs"]["reason"]
    counts = runs["classify"]["counts"]
    assert 0 < counts["incremental.changed_numbers"] < counts["patents.accepted"] / 4
    # the policy documents and controls are the same files: nothing to do
    assert runs["policy"]["inputs"]["mode"] == "skipped"
    assert runs["controls"]["inputs"]["mode"] == "skipped"
    # the copied warehouse draws its maps elsewhere: a changed setting, so in full
    assert runs["networks"]["inputs"]["mode"] == "full"
    assert "setting:figures_dir" in runs["networks"]["inputs"]["reason"]
    # what the run changed in silver.patents, by Delta's operation metrics
    assert counts["rows.silver.patents.changed"] > 0 and counts["rows.silver.patents.removed"] > 0
    assert warehouse_differences(monthly["after_first"], full_runs["month1"]) == {}


def test_two_incremental_months_equal_a_full_run_on_the_second(monthly, full_runs, months):
    import json

    assert monthly["month2"]["classify"]["inputs"]["mode"] == "incremental"
    # the generator kept month 2's patent changes to 2016 (the number carries the filing year)
    info = json.loads((months["month2"] / "NEXT_MONTH.json").read_text(encoding="utf-8"))
    changed = [n for k, v in info["changes"].items() if k.startswith("patents.") for n in v["application_nos"]]
    assert info["years"] == [2016, 2016] and changed and {n[:4] for n in changed} == {"2016"}
    # month 2 changed 2016's records only: the networks are built again for the years that
    # reached (2016, the years of organisations placed anew, of new grants' transfers), not all
    net = monthly["month2"]["networks"]
    assert net["inputs"]["mode"] == "incremental", net["inputs"]["reason"]
    built = [int(y) for y in net["inputs"]["years.built"].split(",")]
    assert 2016 in built and len(built) < 11 and net["counts"]["years.built"] == len(built)
    rows = net["counts"]["sample.cities"] * len(built)
    assert net["counts"]["city_network_metrics.rows"] == rows
    # those years' rows replaced, the others kept (not counted as written again)
    assert net["counts"]["rows.gold.city_network_metrics.added"] == rows
    assert net["counts"]["rows.gold.city_network_metrics.removed"] == rows
    assert warehouse_differences(monthly["wh"], full_runs["month2"]) == {}


@pytest.mark.parametrize("patent_year", ["application", "grant"])
def test_the_years_a_month_touches_are_those_its_network_facts_changed_in(spark, use_warehouse, monthly,
                                                                          patent_year):
    """`gold.networks.stage.changed_years` (from the change feeds) equals the years of the network
    facts that differ between the silver tables month 1's networks run read and those month 2's
    read, compared whole: network patents in their network year, network transfers in their
    registration year, a patent whose located organisation cities changed in its network year."""
    from greenlink.core import tables
    from greenlink.gold.networks.inputs import network_patents, network_transfers, transfer_rows
    from greenlink.gold.networks.settings import NetworksSettings
    from greenlink.gold.networks.stage import SILVER_INPUTS, changed_years
    from pyspark.sql import functions as F

    org_types = NetworksSettings.load().org_types
    before = {t: int(monthly["month1"]["networks"]["inputs"][f"state.table:{t}"]) for t in SILVER_INPUTS}
    after = {t: int(monthly["month2"]["networks"]["inputs"][f"state.table:{t}"]) for t in SILVER_INPUTS}
    with use_warehouse(monthly["wh"]):
        got = changed_years(spark, before, patent_year, org_types)

        def diff(name, facts):
            old, new = (facts(tables.read(spark, name, version=v[name])) for v in (before, after))
            return old.exceptAll(new).unionByName(new.exceptAll(old))

        located = F.col("org_type").isin(list(org_types)) & F.col("city_code").isNotNull()
        numbers = diff("silver.applicants", lambda d: d.where(located).select("application_no", "city_code"))
        parts = [diff("silver.patents", lambda d: network_patents(d, patent_year)).select("year"),
                 diff("silver.transfers", lambda d: network_transfers(transfer_rows(d))).select("year")]
        parts += [network_patents(tables.read(spark, "silver.patents", version=v["silver.patents"]), patent_year)
                  .join(numbers, "application_no", "left_semi").select("year") for v in (before, after)]
        want = {int(r[0]) for part in parts for r in part.where(F.col("year").isNotNull()).distinct().collect()}
    assert want and got == want


def test_the_change_feed_holds_the_month_s_corrections(spark, use_warehouse, monthly, months):
    """silver.patents' change data feed over month 1's classify run (the versions its run
    record names): withdrawn patents deleted, new grants inserted, the IPC corrections that made
    a patent green updated to green."""
    import json

    from greenlink.core import tables

    info = json.loads((months["month1"] / "NEXT_MONTH.json").read_text(encoding="utf-8"))["changes"]
    inputs = monthly["month1"]["classify"]["inputs"]
    lo, hi = int(inputs["from.silver.patents"]) + 1, int(inputs["wrote.silver.patents"])
    with use_warehouse(monthly["after_first"]):
        changes = (spark.read.format("delta").option("readChangeFeed", "true")
                   .option("startingVersion", lo).option("endingVersion", hi)
                   .load(tables.path(spark, "silver.patents"))
                   .select("application_no", "is_green", "_change_type").toPandas())
    kinds = changes.groupby("_change_type")["application_no"].apply(set).to_dict()
    assert set(info["patents.withdrawn"]["application_nos"]) <= kinds["delete"]
    assert set(info["patents.new"]["application_nos"]) & kinds["insert"]
    post = changes[changes["_change_type"] == "update_postimage"].set_index("application_no")["is_green"]
    flipped = set(info["patents.ipc"]["now_green"]) & set(post.index)
    assert flipped and all(post[n] for n in flipped)


def test_diff_run_reports_what_the_month_changed(spark, use_warehouse, monthly):
    """`greenlink diff --run`: per silver and gold table, the change feed's rows over the
    latest run, equal to the rows the run recorded from Delta's operation metrics."""
    from greenlink.ops.changes import render, run_changes

    with use_warehouse(monthly["after_first"]):
        run_id, changes = run_changes(spark)
    by_table = {c.table: c for c in changes}
    counts = monthly["month1"]["classify"]["counts"]
    for table in ("silver.patents", "silver.applicants"):
        got = by_table[table].counts
        assert got == {"inserted": counts[f"rows.{table}.added"], "updated": counts[f"rows.{table}.changed"],
                       "deleted": counts[f"rows.{table}.removed"]}, table
    assert "gold.city_year_panel" in by_table and "gold.policy_tools" not in by_table     # policy was skipped
    text = render(run_id, changes)
    assert run_id in text and "silver.patents" in text


def test_an_identical_dump_changes_no_table(spark, use_warehouse, monthly, months):
    before = versions(spark, use_warehouse, monthly["wh"])
    runs = run_month(spark, use_warehouse, monthly["wh"], months["month2"])
    assert versions(spark, use_warehouse, monthly["wh"]) == before
    assert {job: r["inputs"]["mode"] for job, r in runs.items()} == {job: "skipped" for job in runs}


def test_a_run_that_dies_between_two_merges_then_reruns_equals_a_full_run(
        spark, use_warehouse, pipeline_warehouse, months, full_runs, monkeypatch, tmp_path):
    """classify's merge of silver.applicants fails while silver.patents' is committed (the
    merges run at once: a killed process leaves some committed, some not); the rerun sees a
    silver table written after the last good run, runs in full, and ends equal to a full run."""
    from greenlink.bronze.stage import ingest
    from greenlink.silver import incremental, stage as silver_stage

    wh = tmp_path / "warehouse"
    shutil.copytree(pipeline_warehouse, wh)
    merges = []
    real = incremental.apply_changes

    def dies_on_second(spec, upserts, deleted):
        merges.append(spec.name)
        if spec.name == "silver.applicants":
            raise RuntimeError("killed between two merges")
        real(spec, upserts, deleted)

    with use_warehouse(wh):
        ingest(spark, months["month1"])
        monkeypatch.setattr(incremental, "apply_changes", dies_on_second)
        with pytest.raises(RuntimeError, match="killed between"):
            silver_stage.classify(spark)
        monkeypatch.setattr(incremental, "apply_changes", real)
        counts = silver_stage.classify(spark)
    assert {"silver.patents", "silver.applicants"} <= set(merges)
    runs = read_table(wh, "_meta.runs")
    last = dict(runs[(runs["job"] == "classify") & (runs["event"] == "end")].sort_values("at").iloc[-1]["inputs"])
    assert last["mode"] == "full" and re.match(r"silver\.patents(, silver\.\w+)* written since run", last["reason"])
    assert counts["patents.accepted"] > 0
    assert warehouse_differences(wh, full_runs["month1"], layers=("silver",)) == {}


@pytest.mark.parametrize("conf_file", ["ipc_green_inventory.csv", "cities.yaml"])
def test_a_changed_inventory_or_gazetteer_makes_classify_run_in_full(spark, use_warehouse, monthly, monkeypatch,
                                                                    tmp_path, conf_file):
    from greenlink.core import config, state
    from greenlink.core.paths import CONF_DIR
    from greenlink.silver import stage as silver_stage

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    with (conf / conf_file).open("a", encoding="utf-8") as fh:
        fh.write("\n")                       # any change to the file: its digest is part of the state
    with use_warehouse(monthly["wh"]):
        unchanged = silver_stage.plan(spark, silver_stage.stage_state(spark), state.last_success(spark, "classify"), False)
        monkeypatch.setattr(config, "CONF_DIR", conf)
        monkeypatch.setattr(state, "CONF_DIR", conf)
        mode, reason, before = silver_stage.plan(spark, silver_stage.stage_state(spark),
                                             state.last_success(spark, "classify"), False)
    assert unchanged[0] == "skipped"
    assert (mode, before) == ("full", None) and "file:conf" in reason

