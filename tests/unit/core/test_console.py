"""The console (issue 26, item 5; docs/operations.md): Spark's and the JVM's log go to a file per
run, named in `_meta.runs` and in a failed run's message; a long phase reports its progress; a
greenlink command prints no JVM warning on its console."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

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


# A process as a greenlink command runs (session of the local profile, Spark's log level WARN):
# one run that makes Spark warn, one that fails.
RUNS_SCRIPT = """
import sys
from greenlink.core.runs import Run
from greenlink.core.session import get_spark

spark = get_spark("local", sys.argv[1])
spark.conf.set("spark.sql.shuffle.partitions", "2")
with Run(spark, "console_check") as run:
    spark.range(3).hint("broadcast").collect()     # a hint outside any join: HintErrorLogger warns
try:
    with Run(spark, "console_check"):
        raise RuntimeError("boom")
except RuntimeError:
    pass
"""


def test_spark_log_goes_to_a_file_the_runs_name_and_not_to_the_console(tmp_path):
    from greenlink.ops.analyst import read_table

    wh = tmp_path / "warehouse"
    done = subprocess.run([sys.executable, "-c", RUNS_SCRIPT, str(wh)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    lines = done.stdout.splitlines()
    assert not [line for line in lines if re.search(r"\bWARN(ING)?\b", line)], done.stdout
    ends = read_table(wh, "_meta.runs").query("event == 'end'").sort_values("at")
    logs = {dict(inputs)["spark_log"] for inputs in ends["inputs"]}
    assert len(logs) == 1
    log = Path(logs.pop())
    assert log.parent == wh / "_logs" and log.is_file()
    assert any(line.endswith(f"greenlink console_check: started run {ends['run_id'].iloc[0]}; Spark's log: {log}")
               for line in lines), done.stdout
    assert list(ends["status"]) == ["succeeded", "failed"]
    assert ends["message"].iloc[1].startswith("RuntimeError: boom") and f"(Spark's log: {log})" in ends["message"].iloc[1]
    assert "console_check: failed after" in done.stdout and f"(Spark's log: {log})" in done.stdout
    # the file holds Spark's log lines and what the JVM printed before log4j started
    text = log.read_text(errors="replace")
    assert re.search(r"^\d\d:\d\d:\d\d WARN HintErrorLogger: ", text, re.M), text[-3000:]
    assert "Setting default log level" in text
