"""The console (issue 26, item 5; docs/operations.md): Spark's and the JVM's log go to a file per
run, named in `_meta.runs` and in a failed run's message; a long phase reports its progress; a
greenlink command prints no JVM warning on its console."""
from __future__ import annotations

import io
import re
import threading
import time

import pytest
from pyspark.sql import functions as F

from greenlink.core import console
from greenlink.core.runs import Run


def slow_job(spark, seconds: float = 2.0, parts: int = 4) -> None:
    """A Spark job of `parts` tasks that each sleep seconds/parts (in the JVM: no Python worker)."""
    ms = int(seconds * 1000 / parts)
    nap = F.expr(f"java_method('java.lang.Thread', 'sleep', CAST({ms} AS BIGINT))")
    spark.range(0, parts, numPartitions=parts).select(nap.alias("x")).agg(F.count("x")).collect()


def test_progress_lines_for_a_long_job_off_a_terminal(spark):
    out = io.StringIO()
    with console.Progress(spark, "test: slow", stream=out, interval=0.2, terminal=False):
        slow_job(spark)
    text = out.getvalue()
    lines = text.splitlines()
    assert len(lines) >= 2 and "\r" not in text
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d greenlink test: slow: .+ \(\d+s\)", line) for line in lines), lines
    assert any(re.search(r"test: slow: \d/4 tasks", line) for line in lines), lines
    time.sleep(0.6)                               # the reporter stopped with its block
    assert out.getvalue() == text
    # off a terminal the default is a line a minute
    assert console.Progress(spark, "x", stream=io.StringIO()).interval == console.LOG_INTERVAL == 60


def test_progress_on_a_terminal_rewrites_one_line_and_never_fails_the_job(spark):
    out = io.StringIO()
    with console.Progress(spark, "test: slow", stream=out, interval=0.2, terminal=True) as p:
        slow_job(spark, seconds=1.2)
    assert p.reports >= 2 and "\n" not in out.getvalue()
    assert out.getvalue().startswith("\r") and out.getvalue().endswith("\r")    # erased at the end
    # a status tracker that fails ends the reporter, not the block; an error in the block stops it
    broken = console.Progress(object(), "test: broken", stream=io.StringIO(), interval=0.05, terminal=False)
    with broken:
        time.sleep(0.3)
    with pytest.raises(ZeroDivisionError):
        with console.Progress(spark, "test: failing", stream=io.StringIO(), interval=0.05, terminal=False):
            1 / 0
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name.startswith("greenlink-progress")]


def test_a_run_phase_reports_progress(spark, capsys, monkeypatch):
    monkeypatch.setattr(console, "LOG_INTERVAL", 0.2)        # pytest's stderr is no terminal
    with Run(spark, "console_test").phase("slow"):
        slow_job(spark)
    assert re.search(r"^\d\d:\d\d:\d\d greenlink console_test: slow: \d/4 tasks", capsys.readouterr().err, re.M)
