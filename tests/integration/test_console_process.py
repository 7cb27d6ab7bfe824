"""The console of a greenlink process (issue 26, item 5; docs/operations.md): a fresh Python
process with its own JVM, as a command runs, sends Spark's and the JVM's log to a file per run,
named in `_meta.runs` and in a failed run's message, and prints no JVM warning on its console.
The console's parts in the shared session: tests/unit/core/test_console.py."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
