"""What a run prints: greenlink's own lines on the console, Spark's and the JVM's log in a file.

The log file (`spark_log_path`): a session that starts its own driver JVM (local masters,
`core.session.get_spark`) starts it with the JVM's stdout and stderr sent to
`<warehouse>/_logs/spark-<UTC time>-<pid>.log` (`$GREENLINK_LOG_DIR` instead when set), so
that what the JVM prints before log4j is configured (`Using incubator modules`, JDK
warnings) and log4j's console appender (conf/log4j2.properties, stderr) go there and not to
the terminal. Under spark-submit the JVM exists before Python runs: its log4j is pointed at the
same kind of file when the session is built (`redirect_log4j`); what the JVM printed before
stays with spark-submit. The session keeps the path in `spark.greenlink.sparkLog`; every run
records it in `_meta.runs` (`inputs.spark_log`) and a failed run names it (core.runs).

Progress (`Progress`, started by `core.runs.Run.phase`): while a phase runs, a daemon thread
reads Spark's status tracker every few seconds and reports the tasks done of the running
stages' total and the rows those stages have read so far. On a terminal it rewrites one line
(carriage return); otherwise (cron, Airflow) it writes one line per minute. It never raises:
a failure to read the tracker ends the reporter, not the job.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

LOG_DIR_ENV = "GREENLINK_LOG_DIR"
SPARK_LOG_KEY = "spark.greenlink.sparkLog"      # session conf: the file Spark's log goes to
PROGRESS_ENV = "GREENLINK_PROGRESS"             # "off": no progress lines
TERMINAL_INTERVAL = 3.0                         # seconds between updates of the terminal line
LOG_INTERVAL = 60.0                             # seconds between progress lines off a terminal

_jvm_log: Path | None = None                    # the log file of the JVM this process started


def spark_log_path(warehouse: str) -> Path:
    """A new log file's path for this process: under `$GREENLINK_LOG_DIR`, else
    `<warehouse>/_logs` (a local warehouse), else the temporary directory (a URI warehouse)."""
    given = os.environ.get(LOG_DIR_ENV)
    if given:
        folder = Path(given).expanduser()
    elif "://" not in warehouse:
        folder = Path(warehouse) / "_logs"
    else:
        folder = Path(tempfile.gettempdir()) / "greenlink-logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve() / f"spark-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}.log"


def start_jvm(options: dict[str, str], warehouse: str) -> Path | None:
    """Start the driver JVM (spark-submit's py4j gateway) with `options` as its `--conf`s and its
    stdout and stderr appended to a new log file; returns the file. Does nothing (returns the
    running JVM's file, or None) when a JVM is already there or PySpark is to join one that
    spark-submit started (PYSPARK_GATEWAY_PORT)."""
    global _jvm_log
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return _jvm_log
    path = spark_log_path(warehouse)
    conf = SparkConf(loadDefaults=False)
    for key, value in options.items():
        conf.set(key, value)
    with open(path, "ab") as out:      # the JVM keeps its own descriptor; ours closes here
        gateway = launch_gateway(conf, popen_kwargs={"stdout": out, "stderr": out})
    SparkContext._ensure_initialized(gateway=gateway)
    _jvm_log = path
    return path


def redirect_log4j(spark: Any, warehouse: str, level: str) -> Path | None:
    """Point log4j of a JVM greenlink did not start (spark-submit) at a new log file: the root
    logger's appenders are replaced by one file appender (`level` and above). None when log4j
    cannot be reconfigured (another logging backend): the log then stays where it was."""
    try:
        path = spark_log_path(warehouse)
        jvm = spark._jvm
        cfg = jvm.org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory.newConfigurationBuilder()
        layout = cfg.newLayout("PatternLayout").addAttribute("pattern", "%d{HH:mm:ss} %p %c{1}: %m%n%ex")
        cfg.add(cfg.newAppender("file", "File").addAttribute("fileName", str(path))
                .addAttribute("append", True).add(layout))
        cfg.add(cfg.newLogger("org.apache.spark.sql.delta", jvm.org.apache.logging.log4j.Level.ERROR))
        cfg.add(cfg.newRootLogger(jvm.org.apache.logging.log4j.Level.toLevel(level))
                .add(cfg.newAppenderRef("file")))
        jvm.org.apache.logging.log4j.core.config.Configurator.reconfigure(cfg.build())
        return path
    except Exception:   # noqa: BLE001 - the log stays on the console, the run goes on
        return None


# --------------------------------------------------------------------------- progress

def _enabled() -> bool:
    return os.environ.get(PROGRESS_ENV, "").lower() not in ("off", "0", "false", "no")


_line_lock = threading.Lock()
_shown: dict[str, Any] = {"stream": None, "width": 0}     # the progress line on a terminal now


def clear_line() -> None:
    """Erase the progress line shown on a terminal, if any (before another line is written)."""
    with _line_lock:
        stream, width = _shown["stream"], _shown["width"]
        if stream is not None and width:
            try:
                stream.write("\r" + " " * width + "\r")
                stream.flush()
            except (OSError, ValueError):
                pass
        _shown["stream"], _shown["width"] = None, 0


class ClearProgressLine(logging.Filter):
    """A logging filter that erases the terminal's progress line before a record is written
    (greenlink's console handler carries it: core.runs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        clear_line()
        return True


def _fmt_elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Reports the progress of Spark's running stages while a block runs:

        with Progress(spark, "classify: locate"):
            ...

    Lines look like `classify: locate: 37/200 tasks, 1,234,567 rows read (1m05s)`. `terminal`
    (default: whether `stream` is one) rewrites one line every `interval` seconds (default
    TERMINAL_INTERVAL), else one line every `interval` (default LOG_INTERVAL). The first report
    comes after one interval: a short phase prints nothing."""

    def __init__(self, spark: Any, label: str, *, stream: IO[str] | None = None,
                 interval: float | None = None, terminal: bool | None = None) -> None:
        self.spark = spark
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if terminal is None:
            try:
                terminal = self.stream.isatty()
            except (AttributeError, ValueError):
                terminal = False
        self.terminal = terminal
        self.interval = interval if interval is not None else (TERMINAL_INTERVAL if terminal else LOG_INTERVAL)
        self.reports = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def __enter__(self) -> "Progress":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not _enabled():
            return
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"greenlink-progress {self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.terminal:
            clear_line()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                line = self.line()
                if line is not None and not self._stop.is_set():
                    self._emit(line)
        except Exception:   # noqa: BLE001 - progress is never worth a failed job
            logging.getLogger("greenlink.progress").debug("progress reporter stopped", exc_info=True)

    def status(self) -> tuple[int, int, int, int | None]:
        """(running stages, tasks done, tasks in total, rows read so far or None) of the stages
        Spark runs now."""
        sc = self.spark.sparkContext
        tracker = sc.statusTracker()
        stages = [s for s in (tracker.getStageInfo(i) for i in tracker.getActiveStageIds()) if s is not None]
        done = sum(s.numCompletedTasks for s in stages)
        total = sum(s.numTasks for s in stages)
        return len(stages), done, total, _rows_read(sc)

    def line(self) -> str | None:
        """The current progress line; None when Spark runs no stage (driver-side work)."""
        running, done, total, rows = self.status()
        elapsed = _fmt_elapsed(time.monotonic() - self._t0)
        if not running:
            return f"{self.label}: working on the driver ({elapsed})"
        stages = f" in {running} stages" if running > 1 else ""
        read = f", {rows:,} rows read" if rows else ""
        return f"{self.label}: {done:,}/{total:,} tasks{stages}{read} ({elapsed})"

    def _emit(self, line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        text = f"{stamp} greenlink {line}"
        with _line_lock:
            if self.terminal:   # one line: cut to the terminal's width (a wrapped line would stay)
                text = text[:max(20, shutil.get_terminal_size().columns - 1)]
                width = max(_shown["width"], len(text))
                self.stream.write("\r" + text.ljust(width))
                _shown["stream"], _shown["width"] = self.stream, width
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        self.reports += 1


def _rows_read(sc: Any) -> int | None:
    """Rows the running stages have read so far (input and shuffle records, from Spark's status
    store: finished tasks, and running ones as of their last heartbeat); None when unavailable."""
    try:
        stages = sc._jsc.sc().statusStore().activeStages()
        rows = 0
        for i in range(stages.size()):
            s = stages.apply(i)
            rows += int(s.inputRecords()) + int(s.shuffleReadRecords())
        return rows
    except Exception:   # noqa: BLE001 - the line then shows tasks only
        return None
