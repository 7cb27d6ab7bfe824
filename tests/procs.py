"""Subprocess helpers for the tests that run greenlink as users do (cluster, faults):
every child runs in its own process group, so a timeout or a kill reaches the JVM and the
Python workers it started, and logs go to files (a Spark run prints a lot). Also what a killed
or failed write leaves in a Delta table's folder (`committed_files`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GREENLINK = [sys.executable, "-m", "greenlink.ops.cli"]


@dataclass
class Done:
    returncode: int
    log: Path
    seconds: float

    def tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    f = open(log, "w")
    return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            cwd=ROOT, start_new_session=True)


def kill_group(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    p.wait()


def run(cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None) -> Done:
    """Run to completion; on timeout kill the whole process group and fail loudly."""
    t0 = time.monotonic()
    p = start(cmd, log, env)
    try:
        rc = p.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise AssertionError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}\n"
                             + Done(-9, log, timeout).tail()) from None
    return Done(rc, log, time.monotonic() - t0)


def committed_files(table_dir: Path) -> set[str]:
    """Data files the Delta log references (add minus remove), as paths relative to the table."""
    live: set[str] = set()
    for commit in sorted((table_dir / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            elif "remove" in action:
                live.discard(action["remove"]["path"])
    return live


def wait_until(check, timeout: float, what: str, every: float = 0.5):
    """Poll `check()` until it returns something truthy (returned); fail naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def executor_pids(worker_pid: int, app_id: str = "") -> list[int]:
    """The executor JVMs (CoarseGrainedExecutorBackend) a Spark standalone worker started for
    application `app_id` (any when empty): its child processes (ops/cluster.sh's pid file names
    the worker's JVM)."""
    import psutil

    try:
        children = psutil.Process(worker_pid).children()
    except psutil.NoSuchProcess:
        return []
    pids = []
    for c in children:
        try:
            argv = c.cmdline()
            if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in argv and (not app_id or app_id in argv):
                pids.append(c.pid)
        except psutil.Error:
            pass
    return pids
