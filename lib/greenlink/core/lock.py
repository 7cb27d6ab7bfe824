"""One writer per warehouse: the lock file `<warehouse>/_greenlink.lock`.

Delta makes every single commit atomic, but a stage writes several tables and reads what
earlier stages wrote; two runs interleaving on one warehouse could leave one run's bronze
under the other's silver. So every command that writes takes this lock (in `cli.main`,
before Spark starts): a second run fails at once with one line naming the holder, or
waits for it with `--lock-wait SECONDS` (then the runs serialise).

The lock is a JSON file created with O_CREAT|O_EXCL (atomic on POSIX file systems) holding
the owner's pid, host, process start time, job and acquisition time. A lock whose owner is
gone (same host; pid not alive, or alive but started at another time, i.e. reused) is
stale: the next run renames it to `_greenlink.lock.stale-<pid>` and takes the lock. That
renamed file is a tombstone: the next `Run` under the lock marks the dead process's
`running` rows of `_meta.runs` as `killed` and deletes it (`runs.Run`). A lock held on
another host is never broken automatically: the message says which file to remove.

Warehouses on object stores or HDFS (`s3a://`, `hdfs://`) have no local file to lock:
commands run without the lock there and the scheduler must serialise runs (docs/operations.md).
"""
from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import psutil

from greenlink.core.errors import UserError

LOCK_NAME = "_greenlink.lock"
TOMBSTONE_PREFIX = LOCK_NAME + ".stale-"
# A lock file that is still empty or half-written this long after its creation belongs to a
# process killed between create and write (a live owner writes it within milliseconds).
UNREADABLE_GRACE_S = 10.0
# An empty or half-written lock file is read again for this long before a refusal: its creator
# writes it right after creating it, so a second run started at the same moment names the holder
# instead of "a process that is starting" (seen when both runs start within milliseconds).
WRITING_S = 1.0


@dataclass(frozen=True)
class LockInfo:
    """Who holds a warehouse lock."""

    pid: int
    host: str
    job: str
    acquired_at: str            # UTC, ISO 8601
    proc_start: float | None    # the owner's process start time (psutil), to detect pid reuse
    argv: str = ""

    def describe(self) -> str:
        return f"`greenlink {self.job}` (pid {self.pid} on {self.host}, since {self.acquired_at[:19]}Z)"

    def acquired(self) -> datetime:
        """Acquisition time as a naive UTC datetime (the convention of `_meta.runs.at`)."""
        return datetime.fromisoformat(self.acquired_at).astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class Held:
    """A lock this process holds (`path` is None where the warehouse cannot be locked)."""

    path: Path | None
    info: LockInfo
    waited_s: float = 0.0
    runs_closed: bool = False   # the runs left `running` before it was taken are closed (core.runs)


def lock_path(warehouse: str) -> Path | None:
    """The lock file of a warehouse root, or None for URIs (hdfs://, s3a://): not lockable here."""
    if "://" in warehouse and not warehouse.startswith("file://"):
        return None
    return Path(warehouse.removeprefix("file://")).resolve() / LOCK_NAME


def me(job: str, argv: str = "") -> LockInfo:
    """A LockInfo describing this process."""
    pid = os.getpid()
    return LockInfo(pid=pid, host=socket.gethostname(), job=job,
                    acquired_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    proc_start=_proc_start(pid), argv=argv)


def _proc_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def process_alive(pid: int, proc_start: float | None) -> bool:
    """True when `pid` runs and (if known) started at `proc_start` (not a reused pid)."""
    now = _proc_start(pid)
    if now is None:
        return False
    return proc_start is None or abs(now - proc_start) < 1.0


def is_stale(holder: LockInfo, host: str, alive: Callable[[int, float | None], bool] = process_alive) -> bool:
    """A lock is stale only when its owner is on this host and provably gone."""
    return holder.host == host and not alive(holder.pid, holder.proc_start)


def parse(text: str) -> LockInfo | None:
    """The LockInfo in a lock file's text, None when empty or malformed."""
    try:
        data = json.loads(text)
        return LockInfo(**{k: data[k] for k in ("pid", "host", "job", "acquired_at", "proc_start")},
                        argv=str(data.get("argv", "")))
    except (ValueError, KeyError, TypeError):
        return None


def read_lock(path: Path) -> LockInfo | None:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _create(path: Path, info: LockInfo) -> bool:
    """Create the lock file atomically; False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(info), f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _break(path: Path, judged: str) -> bool:
    """Move a stale lock aside as a tombstone. Only the process whose rename succeeds breaks it;
    if the file changed since it was judged stale (someone else broke and retook it), put it back."""
    tomb = path.with_name(f"{TOMBSTONE_PREFIX}{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(path, tomb)
    except FileNotFoundError:
        return False
    if tomb.read_text(encoding="utf-8") != judged:
        try:
            os.link(tomb, path)          # atomic: fails if a new lock appeared meanwhile
        except FileExistsError:
            pass
        tomb.unlink()
        return False
    return True


def acquire(path: Path, info: LockInfo, wait_s: float = 0.0, poll_s: float = 0.5,
            alive: Callable[[int, float | None], bool] = process_alive) -> float:
    """Take the lock at `path` for `info`, breaking stale locks; wait up to `wait_s` seconds for
    a live holder. Returns the seconds waited; raises UserError (one line) when still held."""
    t0 = time.monotonic()
    while True:
        if _create(path, info):
            return time.monotonic() - t0
        try:
            text = path.read_text(encoding="utf-8")
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue                      # released between our create and read: try again
        holder = parse(text)
        if holder is None:
            if age > UNREADABLE_GRACE_S:
                _break(path, text)
                continue
            if time.monotonic() - t0 < WRITING_S:
                time.sleep(0.02)
                continue
        elif is_stale(holder, info.host, alive):
            _break(path, text)
            continue
        if time.monotonic() - t0 >= wait_s:
            who = holder.describe() if holder else "a process that is starting"
            raise UserError(
                f"warehouse {path.parent} is in use by {who}; wait for it (or pass --lock-wait SECONDS)"
                + (f", or remove {path} if that process is gone" if holder and holder.host != info.host else ""))
        time.sleep(poll_s)


def release(path: Path, info: LockInfo) -> None:
    """Remove the lock if it is still ours (never someone else's)."""
    holder = read_lock(path)
    if holder is not None and (holder.pid, holder.acquired_at) == (info.pid, info.acquired_at):
        path.unlink(missing_ok=True)


_HELD: dict[Path, Held] = {}


def held(warehouse: str) -> Held | None:
    """The lock this process holds on `warehouse`, if any."""
    p = lock_path(warehouse)
    return _HELD.get(p) if p is not None else None


@contextmanager
def warehouse_lock(warehouse: str, job: str, wait_s: float = 0.0, argv: str = "") -> Iterator[Held]:
    """Hold the warehouse lock for the duration of the block (re-entrant within a process)."""
    path = lock_path(warehouse)
    info = me(job, argv)
    if path is None:
        yield Held(None, info)
        return
    if path in _HELD:
        yield _HELD[path]
        return
    waited = acquire(path, info, wait_s)
    h = _HELD[path] = Held(path, info, waited)
    try:
        yield h
    finally:
        _HELD.pop(path, None)
        release(path, info)


def tombstones(warehouse: str) -> list[tuple[Path, LockInfo | None]]:
    """Stale locks broken on this warehouse whose runs are not yet marked killed."""
    p = lock_path(warehouse)
    if p is None or not p.parent.is_dir():
        return []
    return [(t, read_lock(t)) for t in sorted(p.parent.glob(TOMBSTONE_PREFIX + "*"))]
