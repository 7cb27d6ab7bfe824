"""Faults a production run meets: two runs started at once, and a run killed with SIGKILL in
the middle of a Delta write (docs/operations.md).

One scenario, paid once (module fixture): two `greenlink run --stages ingest` processes start
together on an empty warehouse. The warehouse lock lets one through and the other fails at
once with one line. The winner's write of bronze.transfers_raw is stalled by the test hook
(`tests/stall_write.py`: data files open, nothing committed) and the process group is killed
with SIGKILL as soon as a data file of that write appears. Then each test checks one
guarantee: the loser's message, every table at its last committed version, and a rerun
that completes, marks the killed runs and equals a clean run.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import procs
import pytest

from greenlink.core import lock
from greenlink.ops.analyst import read_table, table_names
from greenlink.ops.diff import warehouse_differences

import paths

STALLED = "bronze.transfers_raw"
START_S = 900            # until the stalled write has opened a data file (two ingests' worth of slack)


@dataclass
class Killed:
    warehouse: Path
    world: Path
    loser: procs.Done
    winner_log: Path
    versions: dict[str, int]       # table -> last committed version when killed


def data_files(table_dir: Path) -> set[str]:
    return {str(p.relative_to(table_dir)) for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts}


def rows_in_finished_files(table_dir: Path, files: set[str]) -> int:
    """Rows in those data files whose writer has closed them (an open file has no footer yet)."""
    import pyarrow.parquet as pq

    rows = 0
    for f in files:
        try:
            rows += pq.ParquetFile(table_dir / f).metadata.num_rows
        except (OSError, ValueError):     # pyarrow.ArrowInvalid: still being written
            pass
    return rows


def last_version(table_dir: Path) -> int:
    return max(int(p.stem) for p in (table_dir / "_delta_log").glob("*.json"))


@pytest.fixture(scope="module")
def killed(generated_world, tmp_path_factory) -> Killed:
    tmp = tmp_path_factory.mktemp("faults")
    wh = tmp / "warehouse"
    cmd = [sys.executable, str(paths.TESTS / "stall_write.py"), STALLED, "run", "--stages", "ingest",
           "--input", str(generated_world), "--warehouse", str(wh), "--profile", "test"]
    a = procs.start(cmd, tmp / "a.log")
    b = procs.start(cmd, tmp / "b.log")
    stalled_dir = wh / "bronze" / "transfers_raw"
    try:
        t0 = time.monotonic()
        loser = None
        while time.monotonic() - t0 < START_S:
            for p, log in ((a, tmp / "a.log"), (b, tmp / "b.log")):
                if loser is None and p.poll() is not None:
                    loser = (p, procs.Done(p.returncode, log, time.monotonic() - t0))
            # the unstalled task has closed its file; the stalled one holds the commit back
            if stalled_dir.is_dir() and rows_in_finished_files(stalled_dir, data_files(stalled_dir)):
                break
            if a.poll() is not None and b.poll() is not None:
                break
            time.sleep(0.2)
        assert loser is not None, "neither run was refused while the other held the warehouse"
        winner, winner_log = (b, tmp / "b.log") if loser[0] is a else (a, tmp / "a.log")
        assert winner.poll() is None, "the winner ended before its write stalled:\n" + procs.Done(
            winner.returncode, winner_log, 0).tail()
        assert stalled_dir.is_dir() and rows_in_finished_files(stalled_dir, data_files(stalled_dir)), \
            f"no data file of {STALLED} was written in {START_S}s"
    finally:
        for p in (a, b):
            procs.kill_group(p, signal.SIGKILL)
    versions = {name: last_version(wh / name.replace(".", "/")) for name in table_names(wh)}
    return Killed(wh, generated_world, loser[1], winner_log, versions)


def test_second_run_started_at_once_fails_with_one_line(killed):
    assert killed.loser.returncode == 2
    lines = [ln for ln in killed.loser.log.read_text().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("greenlink run: warehouse ")
    assert "is in use by `greenlink run` (pid " in lines[0]
    assert killed.loser.seconds < 120          # refused before Spark starts


def test_kill_mid_write_leaves_every_table_at_its_last_commit(killed):
    wh = killed.warehouse
    stalled = wh / "bronze" / "transfers_raw"
    # the kill hit the write: rows reached data files that no commit references ...
    orphans = data_files(stalled) - procs.committed_files(stalled)
    assert rows_in_finished_files(stalled, orphans) > 0
    # ... and readers do not see them: the table is as created, without data
    assert read_table(wh, STALLED).empty
    assert len(read_table(wh, "bronze.patents_raw")) > 0  # the table written before is intact
    for name, version in killed.versions.items():
        assert last_version(wh / name.replace(".", "/")) == version
        read_table(wh, name)                              # every table readable at its last commit
    holder = lock.read_lock(wh / lock.LOCK_NAME)          # the dead process's lock stays behind
    assert holder is not None and holder.job == "run" and not lock.process_alive(holder.pid, holder.proc_start)
    runs = read_table(wh, "_meta.runs")
    assert set(runs["status"]) == {"running"} and set(runs["job"]) == {"run", "ingest"}


def test_rerun_after_kill_completes_equals_clean_run_and_marks_killed(killed, reference_warehouse, tmp_path):
    wh = killed.warehouse
    done = procs.run([*procs.GREENLINK, "run", "--stages", "ingest", "--input", str(killed.world),
                      "--warehouse", str(wh), "--profile", "test"], tmp_path / "rerun.log", START_S)
    assert done.returncode == 0, done.tail()
    assert not (wh / lock.LOCK_NAME).exists() and lock.tombstones(str(wh)) == []
    # the reference as it was when its own ingest ended (later stages add rows to bronze.rejects)
    ref_runs = read_table(reference_warehouse.path, "_meta.runs")
    ingest_end = ref_runs.query("job == 'ingest' and event == 'end' and status == 'succeeded'")["at"].max()
    assert warehouse_differences(reference_warehouse.path, wh, layers=("bronze",),
                                 a_as_of=ingest_end.to_pydatetime()) == {}
    runs = read_table(wh, "_meta.runs").sort_values("at")
    latest = runs.groupby("run_id").tail(1)
    assert sorted(zip(latest["job"], latest["status"])) == [
        ("ingest", "killed"), ("ingest", "succeeded"), ("run", "killed"), ("run", "succeeded")]
    assert latest[latest["status"] == "killed"]["message"].str.contains("stale warehouse lock").all()
