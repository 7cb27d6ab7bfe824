"""A full disk (issue 26, docs/operations.md): the warehouse on a small file system that runs out
of space in the middle of a stage's Delta write.

The shared `pipeline_warehouse` is copied, without the four silver tables classify writes, onto
a tmpfs mounted for the test, and a ballast file leaves `FREE_KB` free: classify's first writes
(its run records, the classify rows of bronze.rejects) fit, silver.patents (about 0.8 MB) runs
out partway. The shared session runs classify there (`use_warehouse`; Spark's local dirs and its
log stay on the big disk). The run fails with one line naming the table and the space left (what
`greenlink run` prints, `cli.error_lines`), every table stays at its last commit (versions and
content by delta-rs; the data files the failed write left are in no commit), and after the
ballast is deleted the rerun equals the clean run. Needs root (to mount); skipped otherwise.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import procs
import pytest

from greenlink.ops.analyst import read_table, table_names, table_path
from greenlink.ops.diff import is_run_column, warehouse_differences

CLASSIFY_SILVER = ("silver.patents", "silver.applicants", "silver.org_locations", "silver.transfers")
TMPFS_MB = 32
FREE_KB = 400        # left by the ballast: less than silver.patents needs, more than what classify writes first


def mount_tmpfs(mnt: Path, size_mb: int) -> str | None:
    """Mount a size-limited tmpfs at `mnt`; the reason it cannot be done, or None."""
    if os.geteuid() != 0:
        return ("mounting a size-limited tmpfs needs root (the in-process SparkSession cannot see a mount "
                "made in an unshared user namespace)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"mount -t tmpfs failed: {done.stderr.strip()}"
    return None


def unmount(mnt: Path) -> None:
    """Unmount, waiting a little for processes that still hold files there; lazily at last."""
    for _ in range(20):
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(path: Path, leave_bytes: int) -> None:
    """Write a file of zeros that leaves `leave_bytes` free on path's file system."""
    st = os.statvfs(path.parent)
    left = st.f_bavail * st.f_frsize - leave_bytes
    chunk = bytes(2**20)
    with open(path, "wb") as f:
        while left > 0:
            left -= f.write(chunk[:min(left, len(chunk))])


def fingerprint(wh: Path, name: str) -> tuple[int, int, str]:
    """(latest version, rows, checksum of the rows in any order; run-id columns left out), by delta-rs."""
    from deltalake import DeltaTable

    dt = DeltaTable(str(table_path(wh, name)))
    table = dt.to_pyarrow_table()
    rows = table.drop_columns([c for c in table.column_names if is_run_column(c)]).to_pylist()
    digest = sum(int.from_bytes(hashlib.blake2b(repr(sorted(r.items())).encode(), digest_size=8).digest(), "big")
                 for r in rows) % 2**64
    return int(dt.version()), len(rows), f"{digest:016x}"


def test_full_disk_fails_with_one_line_keeps_last_commits_and_rerun_equals_clean_run(
        spark, use_warehouse, pipeline_warehouse, tmp_path):
    from greenlink.core.lock import warehouse_lock
    from greenlink.ops import cli
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    mnt = tmp_path / "small"
    mnt.mkdir()
    reason = mount_tmpfs(mnt, TMPFS_MB)
    if reason:
        if os.environ.get("CI"):    # CI runs as root: there the behaviour must be checked, not skipped
            pytest.fail(f"CI cannot test a full disk: {reason}")
        pytest.skip(reason)
    try:
        wh = mnt / "warehouse"
        shutil.copytree(pipeline_warehouse, wh, ignore=shutil.ignore_patterns("_logs"))
        for name in CLASSIFY_SILVER:
            shutil.rmtree(table_path(wh, name))
        before = {t: fingerprint(wh, t) for t in table_names(wh) if t != "_meta.runs"}
        reference = {t: fingerprint(pipeline_warehouse, t) for t in CLASSIFY_SILVER}
        fill(mnt / "ballast", FREE_KB * 1024)
        config = PipelineConfig(reports=str(tmp_path / "reports"))   # reports stay on the big disk

        with use_warehouse(wh), pytest.raises(Exception) as failed:
            run_stages(spark, ["classify"], config)

        # one line naming the table and the space left, as `greenlink run` prints it (status 2)
        lines = cli.error_lines("run", failed.value, str(wh))
        assert lines is not None, f"not reported as a full disk: {failed.value!r}"
        assert len(lines) == 1, lines
        m = re.fullmatch(rf"greenlink run: writing (\S+): no space left on {re.escape(str(mnt))} "
                         r"\((\d+\.\d) MB free\)", lines[0])
        assert m, lines[0]
        table, free_mb = m.group(1), float(m.group(2))
        assert table in (*CLASSIFY_SILVER, "bronze.rejects") and free_mb < 1, lines[0]

        # the write ran out partway: data files of it are on disk, in no commit
        written = {str(p.relative_to(table_path(wh, table))) for p in table_path(wh, table).rglob("*.parquet")
                   if "_delta_log" not in p.parts}
        assert written - procs.committed_files(table_path(wh, table)), f"{table}: no data file was written"

        # every table at its last commit: the tables classify did not write as they were, the ones it
        # rewrote before running out with the same rows, the one that ran out as committed before its
        # write (created empty), the ones after it not written
        after = {t: fingerprint(wh, t) for t in table_names(wh) if t != "_meta.runs"}
        for t, (version, rows, digest) in before.items():
            assert after[t][1:] == (rows, digest), f"{t} changed: {before[t]} -> {after[t]}"
            assert after[t][0] in (version, version + 1), f"{t}: {before[t]} -> {after[t]}"
        assert after[table][1] == 0 or table == "bronze.rejects", after[table]
        for t in CLASSIFY_SILVER:
            if t in after and t != table:
                assert after[t][1:] == reference[t][1:], f"{t}: {after[t]} is not the clean run's {reference[t]}"

        # space freed: the same warehouse path, the rerun equals the clean run
        (mnt / "ballast").unlink()
        with use_warehouse(wh), warehouse_lock(str(wh), "run"):     # under the lock, as `greenlink run`
            run_stages(spark, ["classify"], config)
        assert warehouse_differences(pipeline_warehouse, wh) == {}
        # the run that ran out is not left `running` (its end event may have found no space either)
        runs = read_table(wh, "_meta.runs").sort_values(["at", "event"]).groupby("run_id").last()
        assert not (runs["status"] == "running").any(), runs.loc[runs["status"] == "running", ["job", "message"]]
        assert (runs["status"] == "failed").sum() >= 1, runs[["job", "status", "message"]]
    finally:
        unmount(mnt)
