"""CPU time of the Spark JVM by thread kind, for any command that starts one (not a test).

    python bench/jvm_thread_cpu.py [--top 12] -- COMMAND ...

Runs COMMAND, samples /proc/<pid>/task/*/stat of every Spark JVM it starts once a second, and
at the end prints each thread's last CPU time (user + system) summed by thread name with the
trailing number dropped: "C2 CompilerThre" (the JIT's optimising compiler), "Executor task
launch worker" (Spark tasks), "Thread" (py4j: the driver's planning and Delta commits), "GC
Thread", …. JVM options go in through JAVA_TOOL_OPTIONS, Spark settings through
PYSPARK_SUBMIT_ARGS (docs/benchmarks.md has the runs). Linux only.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def spark_jvms() -> list[str]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"java") and any(b"spark" in a for a in argv):
            pids.append(pid)
    return pids


def sample(last: dict) -> None:
    """Latest (name, CPU ticks) of every thread of every Spark JVM, keyed by (pid, tid)."""
    for pid in spark_jvms():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            last[(pid, tid)] = (name, int(fields[11]) + int(fields[12]))   # utime + stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("give the command to run after --")
    proc = subprocess.Popen(cmd)
    last: dict = {}
    while proc.poll() is None:
        sample(last)
        time.sleep(1)
    by_kind = collections.Counter()
    for name, ticks in last.values():
        by_kind[re.sub(r"[#\-]?\d+$", "", name)] += ticks
    print(f"Spark JVM CPU: {sum(by_kind.values()) / TICKS:.1f} s", file=sys.stderr)
    for kind, ticks in by_kind.most_common(a.top):
        print(f"{ticks / TICKS:8.1f} s  {kind}", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
