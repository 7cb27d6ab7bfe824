"""The SparkSession every job uses: Delta Lake configured, warehouse and checkpoints set.

`get_spark("local")` starts Spark in-process with the project-local jar cache;
`get_spark("cluster")` joins whatever spark-submit set up (master, --packages) and only
adds SQL and Delta settings. The warehouse root is kept in the session conf under
`spark.greenlink.warehouse`, so library code finds tables without extra arguments.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from greenlink.core import console
from greenlink.core.config import Profile, check_stage_names, load_profile
from greenlink.core.errors import UserError
from greenlink.core.jars import coordinates, local_jars
from greenlink.core.paths import CONF_DIR

WAREHOUSE_KEY = "spark.greenlink.warehouse"
INTERPRETED_KEY = "spark.greenlink.interpretedStages"   # comma-separated stage names
SPARK_LOG_KEY = console.SPARK_LOG_KEY                     # the file Spark's log goes to (core.console)
NO_EXECUTOR_KEY = "spark.greenlink.noExecutorTimeout"     # seconds (profile `no_executor_timeout_s`)

# Spark's switches for evaluating queries without generating and compiling Java code. On
# thousands of rows, compiling each new query's code (and the JIT compiling the compiled
# classes) costs far more than it saves (docs/benchmarks.md, issue 11); a profile names the
# stages that run so (`interpreted_stages`), `stage_settings` applies them for a stage's run.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}

# Table features delta-rs and DuckDB cannot read stay off for every new table
# (docs/architecture.md, "Delta conventions").
_DELTA_DEFAULTS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    "spark.databricks.delta.properties.defaults.columnMapping.mode": "none",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.databricks.delta.retentionDurationCheck.enabled": "true",
}


def resolve_warehouse(path: str) -> str:
    """Absolute local path, or the URI unchanged when it has a scheme (hdfs://, s3a://)."""
    if "://" in path:
        return path.rstrip("/")
    return os.path.abspath(path)


def get_spark(profile: str | Profile = "local", warehouse: str | None = None,
              app_name: str = "greenlink") -> SparkSession:
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    wh = resolve_warehouse(warehouse or prof.warehouse)
    # PySpark's workers must run the same interpreter as the driver (venv on PATH or not).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    options = {"spark.app.name": app_name}
    if prof.master:
        log4j = CONF_DIR / "log4j2.properties"
        java_options = " ".join(filter(None, [f"-Dlog4j2.configurationFile=file:{log4j}", prof.driver_java_options]))
        options.update({"spark.master": prof.master,
                        "spark.jars": ",".join(str(p) for p in local_jars()),
                        "spark.driver.extraJavaOptions": java_options,
                        "spark.ui.enabled": "false"})
    if prof.driver_memory:
        options["spark.driver.memory"] = prof.driver_memory
    # Under spark-submit (profile without master), what the submitter set with --conf wins
    # over the profile's defaults: cluster tuning (shuffle partitions, …) happens there.
    given = submitted_conf() if not prof.master else {}
    profile_conf = {**_DELTA_DEFAULTS, **prof.spark_conf, INTERPRETED_KEY: ",".join(prof.interpreted_stages),
                    NO_EXECUTOR_KEY: f"{prof.no_executor_timeout_s:g}"}
    defaults = {k: v for k, v in profile_conf.items() if k not in given}
    conf = {**defaults,
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.warehouse.dir": f"{wh}/_catalog",
            WAREHOUSE_KEY: wh}
    options.update(conf)
    # A driver JVM started here writes its stdout and stderr (log4j's console appender, and what
    # the JVM prints before log4j starts) to a log file, not the console (core.console).
    spark_log = console.start_jvm(options, wh) if prof.master else None
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Runtime settings also apply when the session already existed (spark-submit, notebooks).
    for key, value in conf.items():
        if key.startswith(("spark.sql.shuffle", "spark.sql.session", "spark.databricks", "spark.greenlink.")):
            spark.conf.set(key, value)
    spark.sparkContext.setLogLevel(prof.log_level)
    if spark_log is None and not prof.master and SPARK_LOG_KEY not in given:
        # spark-submit's JVM (once per application); a --conf spark.greenlink.sparkLog=PATH
        # given to spark-submit says its log4j is set up already (and where it writes)
        spark_log = spark.conf.get(SPARK_LOG_KEY, None) or console.redirect_log4j(spark, wh, prof.log_level)
    if spark_log is not None:
        spark.conf.set(SPARK_LOG_KEY, str(spark_log))
    spark.sparkContext.setCheckpointDir(prof.checkpoint_dir or f"{wh}/_checkpoints")
    _check_delta(spark)
    return spark


def submitted_conf() -> dict[str, str]:
    """Settings spark-submit gave this driver (--conf, spark-defaults.conf); empty when the
    process was not launched by spark-submit (it then has no gateway to join)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())


def _check_delta(spark: SparkSession) -> None:
    from py4j.java_gateway import JavaClass

    if not isinstance(spark._jvm.io.delta.tables.DeltaTable, JavaClass):
        raise UserError(
            "Delta Lake classes are not on the Spark classpath: submit with "
            f"--packages {','.join(coordinates())} (or run `make setup` for local use)")


def warehouse_of(spark: SparkSession) -> str:
    """The warehouse root this session was started with."""
    wh = spark.conf.get(WAREHOUSE_KEY, None)
    if not wh:
        raise UserError("this SparkSession was not created by greenlink.core.session.get_spark (no warehouse set)")
    return wh


def reports_dir(spark: SparkSession, args: object | None = None) -> str:
    """Where a stage writes tables and figures: `args.reports` (the `--reports` option of
    ops.options.add_common) when set, else `<warehouse>/../reports` (DESIGN.md). A warehouse URI
    (hdfs://, s3a://) has no local parent folder: ./reports then."""
    given = getattr(args, "reports", None) if args is not None else None
    if given:
        return os.path.abspath(os.path.expanduser(str(given)))
    wh = warehouse_of(spark)
    if "://" in wh:
        return os.path.abspath("reports")
    return os.path.join(os.path.dirname(wh.rstrip("/")), "reports")


@contextmanager
def session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set SQL confs for the duration of a block, then restore what was there."""
    before = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


_CACHE_COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"


def persist_uncompressed(df: DataFrame, level: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> DataFrame:
    """`df.persist(level)` with its cached batches built uncompressed. Choosing a column
    encoding gathers statistics of every value (`CompressibleColumnBuilder`, boxed equality,
    hash-map growth): a tenth of ingest's read+check and of classify's locate phase at 1M
    (JFR, issue 22), for batches that are read a few times from local memory or disk."""
    with session_conf(df.sparkSession, {_CACHE_COMPRESSED: "false"}):
        return df.persist(level)


@contextmanager
def stage_settings(spark: SparkSession, stage: str) -> Iterator[None]:
    """The session settings a stage runs with: INTERPRETED when the session's profile lists the
    stage in `interpreted_stages` (or spark-submit's --conf spark.greenlink.interpretedStages=…)."""
    listed = [s.strip() for s in (spark.conf.get(INTERPRETED_KEY, "") or "").split(",") if s.strip()]
    check_stage_names(listed, INTERPRETED_KEY)   # spark-submit --conf bypasses the profile's check
    with session_conf(spark, INTERPRETED if stage in listed else {}):
        yield


@contextmanager
def job_description(spark: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs of a block (Spark UI, event logs: bench/profile_events.py)."""
    sc = spark.sparkContext
    before = sc.getLocalProperty("spark.job.description")
    sc.setJobDescription(text)
    try:
        yield
    finally:
        sc.setLocalProperty("spark.job.description", before)


class ExecutorWatchdog:
    """Cancels the application's jobs once it has had no executor for `timeout` seconds.

    Why: Spark standalone keeps an application whose last worker is gone waiting for one
    ("Initial job has not accepted any resources"), and no Spark setting fails it, so a run
    would wait for ever (docs/operations.md, "Cluster faults"). A daemon thread counts the
    executors (the block managers but the driver's) every few seconds while a run is open;
    once there has been none for `timeout` seconds, every job running then is cancelled
    (`SparkContext.cancelAllJobs`), at each look until an executor is back, and `lost` says for
    how long there was none: `core.runs.Run` then fails with one line instead of Spark's
    cancellation. Local masters run tasks in the driver: `start` watches nothing there."""

    def __init__(self, spark: SparkSession, timeout: float) -> None:
        self.spark = spark
        self.timeout = timeout
        self.interval = min(5.0, max(1.0, timeout / 4))   # a look every 1-5 s: one py4j call
        self.lost: float | None = None     # seconds without executor when jobs were first cancelled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, spark: SparkSession) -> "ExecutorWatchdog | None":
        """A running watchdog for a session on a cluster master (`spark.greenlink.noExecutorTimeout`
        seconds, the profile's `no_executor_timeout_s`); None on a local master."""
        if spark.sparkContext.master.startswith("local"):
            return None
        given = spark.conf.get(NO_EXECUTOR_KEY, None) or Profile.no_executor_timeout_s
        try:   # spark-submit's --conf bypasses the profile's check
            timeout = float(given)
        except ValueError:
            timeout = 0.0
        if not timeout > 0:
            raise UserError(f"{NO_EXECUTOR_KEY}: {given!r} is not a number of seconds above 0")
        dog = cls(spark, timeout)
        dog._thread = threading.Thread(target=dog._loop, name="greenlink-executor-watchdog", daemon=True)
        dog._thread.start()
        return dog

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def executors(self) -> int:
        """The application's live executors: its block managers but the driver's."""
        return self.spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1

    def _loop(self) -> None:
        sc = self.spark.sparkContext
        since = None                       # monotonic time the executors were last seen gone
        try:
            while not self._stop.wait(self.interval):
                if self.executors():
                    since = None
                    continue
                since = since if since is not None else time.monotonic()
                waited = time.monotonic() - since
                if waited >= self.timeout and sc.statusTracker().getActiveJobsIds():
                    self.lost = self.lost or waited
                    sc.cancelAllJobs()
        except Exception:   # noqa: BLE001 - a stopped context: nothing left to watch
            pass


def run_concurrently(*steps: Callable[[], None]) -> None:
    """Run `steps` (writes of different tables) at the same time in one SparkSession and wait
    for all of them; the first failure is raised once every step has ended.

    Why: a Delta write is a chain of small Spark jobs with driver work (planning, the log,
    the commit) between them, during which one write leaves the cores idle; the writes of
    independent tables fill each other's gaps. Each thread starts with the caller's local
    properties (`InheritableThread`), so job descriptions and the run's job tag follow."""
    from pyspark.util import InheritableThread

    errors: list[BaseException] = []

    def guarded(step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                step()
            except BaseException as exc:   # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
        return run

    threads = [InheritableThread(target=guarded(s), name=f"greenlink-write-{i}") for i, s in enumerate(steps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
