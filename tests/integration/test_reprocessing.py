"""Reprocessing a newer full dump (issue 7, docs/operations.md): every table reflects the dump
exactly, whatever the warehouse held before.

A copy of the pipeline warehouse first takes an *older* dump of the same world: one year-file
not yet published (Patsnap_2019-2020.parquet), five rows whose IPC symbols were later
corrected, and ten patents that were later withdrawn (an extra file). The dump-dependent stages
(ingest, classify, networks, panel) run on it, then on the current dump; the warehouse must
then equal the clean run on the current dump (`pipeline_warehouse`) table by table.
"""
from __future__ import annotations

import csv
import importlib
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from greenlink.ops.analyst import read_table
from greenlink.ops.diff import warehouse_differences
from greenlink.reference.ids import check_digit

DUMP_STAGES = ("ingest", "classify", "networks", "panel")
LATER_FILE = "patents/Patsnap_2019-2020.parquet"
CORRECTED_FILE = "patents/CNIPA_2014-2016.csv"
WITHDRAWN_FROM = "patents/CNIPA_2010-2013.csv"
WRONG_IPC = "A01B 1/00"          # a valid, non-green symbol
N_CORRECTED, N_WITHDRAWN = 5, 10


def read_csv(path: Path) -> tuple[list[str], list[list[str]], dict[str, int]]:
    """Header, rows and the column index of each canonical column (conf/headers.yaml aliases)."""
    from greenlink.bronze.layout import load_conf, match_columns

    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    columns = match_columns(rows[0], load_conf().kinds["patents"], path.name)
    return rows[0], rows[1:], columns


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def normalised(raw: str) -> str | None:
    """The silver.patents form of a well-formed `CN201221111164.4` (None for other forms)."""
    m = re.fullmatch(r"(?:CN)?([0-9]{12})\.([0-9X])", raw.strip())
    return f"{m[1]}.{m[2]}" if m else None


def older_dump(world: Path, dest: Path, current: set[str]) -> dict[str, list[str]]:
    """The world's raw inputs as an earlier dump had them; returns the application numbers
    (silver form) of the corrected rows and of the withdrawn patents. `current`: the numbers
    in the clean run's silver.patents (rows are picked among accepted ones)."""
    shutil.copytree(world, dest, ignore=shutil.ignore_patterns("truth"))
    (dest / LATER_FILE).unlink()

    header, body, col = read_csv(dest / CORRECTED_FILE)
    corrected = []
    for row in body:
        app = normalised(row[col["application_no"]])
        if app in current and len(corrected) < N_CORRECTED:
            row[col["ipc"]] = WRONG_IPC
            corrected.append(app)
    write_csv(dest / CORRECTED_FILE, [header, *body])

    header, body, col = read_csv(dest / WITHDRAWN_FROM)
    withdrawn, extra = [], []
    for row in body:
        app = normalised(row[col["application_no"]])
        if app not in current or len(extra) == N_WITHDRAWN:
            continue
        digits = app[:5] + f"99999{len(extra):02d}"        # same year and type, an unused serial
        number = f"{digits}.{check_digit(digits)}"
        assert number not in current
        extra.append([f"CN{number}" if i == col["application_no"] else v for i, v in enumerate(row)])
        withdrawn.append(number)
    write_csv(dest / "patents" / "withdrawn_later.csv", [header, *extra])
    assert len(corrected) == N_CORRECTED and len(withdrawn) == N_WITHDRAWN
    return {"corrected": corrected, "withdrawn": withdrawn}


def run_dump_stages(spark, use_warehouse, warehouse: Path, dump: Path, reports: Path) -> None:
    from greenlink.ops.cli import COMMANDS
    from greenlink.ops.pipeline import PipelineConfig, stage_config

    args = PipelineConfig(reports=str(reports), input=str(dump))
    with use_warehouse(warehouse):
        for stage in DUMP_STAGES:
            ns = stage_config(stage, args)
            if hasattr(ns, "figures"):
                ns = replace(ns, figures=False)   # maps are files, not table content
            importlib.import_module(COMMANDS[stage][0]).run(spark, ns)


@pytest.fixture(scope="module")
def reprocessed(spark, pipeline_warehouse, generated_world, use_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("reprocess")
    wh = root / "warehouse"
    shutil.copytree(pipeline_warehouse, wh)
    current = set(read_table(pipeline_warehouse, "silver.patents")["application_no"])
    changes = older_dump(generated_world, root / "older", current)
    run_dump_stages(spark, use_warehouse, wh, root / "older", root / "reports")
    older = {t: read_table(wh, t) for t in ("silver.patents", "gold.city_year_panel")}
    run_dump_stages(spark, use_warehouse, wh, generated_world, root / "reports")
    return {"wh": wh, "changes": changes, "older": older}


def test_older_dump_is_what_the_warehouse_held(reprocessed, pipeline_warehouse):
    """Not a vacuous comparison: before the current dump the warehouse held the older one."""
    older = reprocessed["older"]["silver.patents"].set_index("application_no")
    current = read_table(pipeline_warehouse, "silver.patents").set_index("application_no")
    changes = reprocessed["changes"]
    assert set(changes["withdrawn"]) <= set(older.index)
    assert not set(changes["withdrawn"]) & set(current.index)
    # a corrected number may also stand in another file (duplicates): most keep the wrong symbol
    wrong = [app for app in changes["corrected"] if list(older.loc[app, "ipc_symbols"]) == [WRONG_IPC]]
    assert wrong and all(list(current.loc[app, "ipc_symbols"]) != [WRONG_IPC] for app in wrong)
    published_later = current[~current.index.isin(older.index)]     # in the year-file added since
    assert len(published_later) > 0 and set(published_later["year"]) <= {2019, 2020}
    panel_now = read_table(pipeline_warehouse, "gold.city_year_panel")
    assert reprocessed["older"]["gold.city_year_panel"]["app"].sum() < panel_now["app"].sum()


def test_current_dump_after_an_older_one_equals_a_clean_run(reprocessed, pipeline_warehouse):
    assert warehouse_differences(pipeline_warehouse, reprocessed["wh"], layers=("bronze", "silver", "gold")) == {}
    runs = read_table(reprocessed["wh"], "_meta.runs")
    ended = runs[runs["event"] == "end"]
    assert set(ended["status"]) == {"succeeded"}
