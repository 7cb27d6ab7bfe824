"""The warehouse lock (greenlink.core.lock): one writer per warehouse, stale locks taken over,
runs of a dead process marked `killed`. Pure file-system tests except the last one."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from greenlink.core import lock
from greenlink.core.errors import UserError


def info(job="ingest", pid=None, host=None, start=None):
    base = lock.me(job)
    return dataclasses.replace(base, pid=pid or base.pid, host=host or base.host,
                               proc_start=start if start is not None else base.proc_start)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_second_writer_fails_with_one_line_naming_the_holder(tmp_path):
    wh = str(tmp_path / "wh")
    with lock.warehouse_lock(wh, "run") as h:
        assert h.path.exists() and json.loads(h.path.read_text())["job"] == "run"
        # a second writer: the holder (this live process) is not stale
        with pytest.raises(UserError) as exc:
            lock.acquire(lock.lock_path(wh), info("ingest"))
        msg = str(exc.value)
        assert "\n" not in msg and "in use by `greenlink run`" in msg and f"pid {os.getpid()}" in msg
        with lock.warehouse_lock(wh, "classify"):          # re-entrant within the holding process
            assert lock.held(wh) is h
    assert not (tmp_path / "wh" / lock.LOCK_NAME).exists() and lock.held(wh) is None


def test_waiting_writer_serialises_after_the_holder(tmp_path):
    path = tmp_path / lock.LOCK_NAME
    first = info("run")
    lock.acquire(path, first)
    threading.Timer(0.3, lock.release, (path, first)).start()
    waited = lock.acquire(path, info("ingest"), wait_s=10, poll_s=0.05)
    assert 0.2 < waited < 5 and lock.read_lock(path).job == "ingest"


def test_stale_lock_of_dead_process_is_taken_over_and_left_as_tombstone(tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    path = wh / lock.LOCK_NAME
    ghost = info("run", pid=dead_pid())
    lock.acquire(path, ghost)
    with lock.warehouse_lock(str(wh), "ingest"):
        assert lock.read_lock(path).pid == os.getpid()
        [(tomb, found)] = lock.tombstones(str(wh))
        assert found == ghost and tomb.name.startswith(lock.TOMBSTONE_PREFIX)


def test_reused_pid_is_stale_but_other_host_never(tmp_path):
    me = info()
    assert lock.is_stale(dataclasses.replace(me, proc_start=me.proc_start - 3600), me.host)   # pid reused
    assert not lock.is_stale(me, me.host)
    foreign = dataclasses.replace(me, host="elsewhere", pid=dead_pid())
    assert not lock.is_stale(foreign, me.host)
    path = tmp_path / lock.LOCK_NAME
    lock.acquire(path, foreign)
    with pytest.raises(UserError, match=f"or remove {path}"):
        lock.acquire(path, me)


def test_half_written_lock_is_held_briefly_then_stale(tmp_path):
    path = tmp_path / lock.LOCK_NAME
    path.write_text("")                           # a creator killed between create and write
    with pytest.raises(UserError, match="a process that is starting"):
        lock.acquire(path, info())
    old = time.time() - lock.UNREADABLE_GRACE_S - 1
    os.utime(path, (old, old))
    lock.acquire(path, info())
    assert lock.read_lock(path).pid == os.getpid()


def test_lock_being_written_names_its_holder(tmp_path):
    # a second run that finds the lock file created but not yet written waits for the holder's
    # details instead of refusing with "a process that is starting"
    path = tmp_path / lock.LOCK_NAME
    path.write_text("")
    holder = info("run")
    threading.Timer(0.2, path.write_text, (json.dumps(dataclasses.asdict(holder)),)).start()
    with pytest.raises(UserError, match=r"in use by `greenlink run` \(pid "):
        lock.acquire(path, info("ingest"))


def test_uri_warehouses_are_not_locked():
    assert lock.lock_path("s3a://bucket/wh") is None
    with lock.warehouse_lock("hdfs://nn/wh", "run") as h:
        assert h.path is None


@pytest.mark.slow
def test_runs_of_a_dead_holder_are_marked_killed(spark, fresh_warehouse):
    from greenlink.core.runs import Run, runs_view

    wh = str(fresh_warehouse)
    with lock.warehouse_lock(wh, "run"):
        with Run(spark, "done"):
            pass
    ghost = info("run", pid=dead_pid())
    path = lock.lock_path(wh)
    lock.acquire(path, ghost)
    Run(spark, "ingest").__enter__()                      # the dead process's run: start row only
    with lock.warehouse_lock(wh, "ingest"):              # breaks the stale lock
        with Run(spark, "ingest") as rerun:
            pass
    assert lock.tombstones(wh) == []
    status = {r["run_id"]: (r["job"], r["status"], r["message"]) for r in runs_view(spark).collect()}
    killed = [v for v in status.values() if v[1] == "killed"]
    assert len(killed) == 1 and killed[0][0] == "ingest"
    assert f"pid {ghost.pid}" in killed[0][2] and rerun.run_id in killed[0][2]
    assert sorted(v[1] for v in status.values()) == ["killed", "succeeded", "succeeded"]


@pytest.mark.slow
def test_a_run_that_could_not_record_its_end_is_closed_failed_by_the_next_lock(spark, fresh_warehouse):
    from greenlink.core.runs import Run, runs_view

    wh = str(fresh_warehouse)
    with lock.warehouse_lock(wh, "classify"):
        lost = Run(spark, "classify").__enter__()        # its end event never written (a full disk)
    unlocked = Run(spark, "generate").__enter__()        # generate takes no lock: it may be alive
    with lock.warehouse_lock(wh, "classify"):
        with Run(spark, "classify") as rerun:
            pass
    status = {r["run_id"]: (r["status"], r["message"]) for r in runs_view(spark).collect()}
    assert status[lost.run_id][0] == "failed" and rerun.run_id in status[lost.run_id][1]
    assert "without recording its end" in status[lost.run_id][1]
    assert status[unlocked.run_id][0] == "running" and status[rerun.run_id][0] == "succeeded"
    assert sorted(s for s, _ in status.values()) == ["failed", "running", "succeeded"]
