"""Errors a user can act on. The CLI prints them as one line, without a traceback."""
from __future__ import annotations

import errno
import os

NO_SPACE = "No space left on device"     # strerror(ENOSPC), also in Hadoop's and the JVM's IOException


class UserError(Exception):
    """A problem with inputs, configuration or set-up that the user can fix."""


class DiskFull(UserError):
    """A write ran out of space: `writing <table>: no space left on <mount> (<free> MB free)`."""

    @classmethod
    def writing(cls, table: str, location: str) -> "DiskFull":
        return cls(f"writing {table}: {space_left(location)}")


def space_left(location: str) -> str:
    """`no space left on <mount point> (<free> MB free)` for a local path (file: URIs too);
    `no space left on <location>` for another file system (hdfs://, s3a://), whose free space
    is not known here."""
    local = location[len("file:"):] if location.startswith("file:") else location
    if "://" in local:
        return f"no space left on {location}"
    path = os.path.abspath(local)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        st = os.statvfs(path)
    except OSError:
        return f"no space left on {location}"
    mount = path
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    return f"no space left on {mount} ({st.f_bavail * st.f_frsize / 2**20:.1f} MB free)"


def _java_messages(exc: BaseException) -> list[str]:
    """The messages of a Py4J or PySpark-captured Java exception and of its causes."""
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    out: list[str] = []
    try:
        while java is not None and len(out) < 50:
            out.append(str(java.toString()))
            java = java.getCause()
    except Exception:   # noqa: BLE001 - a gone JVM: the Python message is all there is
        pass
    return out


def chain(exc: BaseException | None) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling (__cause__, __context__)."""
    out: list[BaseException] = []
    while exc is not None and not any(e is exc for e in out):
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is a write that found no space left: an
    OSError ENOSPC in Python, or a Java IOException `No space left on device` (a Spark task's
    data file, a Delta commit) reported through Py4J."""
    for e in chain(exc):
        if isinstance(e, DiskFull) or (isinstance(e, OSError) and e.errno == errno.ENOSPC):
            return True
        try:
            text = str(e)
        except Exception:   # noqa: BLE001
            text = ""
        if NO_SPACE in text or any(NO_SPACE in m for m in _java_messages(e)):
            return True
    return False


def disk_full_in(exc: BaseException) -> DiskFull | None:
    """The DiskFull `exc` was raised while handling, if any: a failed write's cleanup (a run's
    `end` record) can find no space either, and must not hide the table that ran out."""
    return next((e for e in chain(exc) if isinstance(e, DiskFull)), None)
