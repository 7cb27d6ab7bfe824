"""`_meta.runs`: one record of every job run (inputs, row counts, status, timings).

The table is an append-only event log (a `start` and an `end` row per run), so that
concurrent jobs only ever append and never conflict; `runs_view` shows the latest state
of each run. A run killed mid-way keeps its `start` row with status `running` until the
next run under the warehouse lock finds the dead process's stale lock and appends an `end`
row with status `killed` for it (greenlink.core.lock); a run that ended without recording its
end (its end event could not be written: a full disk) is closed as `failed` the same way.

Runs of the stages that build on bronze (`DUMP_AWARE_JOBS`) record in `inputs` whether the
current bronze came from a partial dump (`dump` = `partial`, `files_rejected` = N: the ingest
quarantined N refused files, listed in bronze.file_rejects) or a complete one.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink import __version__
from greenlink.core import console, lock, stages, state, tables
from greenlink.core.errors import UserError
from greenlink.core.printable import printable_lines
from greenlink.core.session import SPARK_LOG_KEY, ExecutorWatchdog, job_description, stage_settings, warehouse_of

log = logging.getLogger("greenlink")
if not log.handlers:
    _h = logging.StreamHandler(sys.stderr)
    _h.setFormatter(logging.Formatter("%(asctime)s greenlink %(message)s", "%H:%M:%S"))
    _h.addFilter(console.ClearProgressLine())     # a progress line on the terminal is erased first
    log.addHandler(_h)
    log.setLevel(logging.INFO)
    log.propagate = False

RUNS = tables.TableSpec(
    name="_meta.runs",
    schema=T.StructType([
        T.StructField("run_id", T.StringType()),
        T.StructField("parent_run_id", T.StringType()),
        T.StructField("job", T.StringType()),
        T.StructField("event", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("at", T.TimestampType()),
        T.StructField("duration_s", T.DoubleType()),
        T.StructField("inputs", T.MapType(T.StringType(), T.StringType())),
        T.StructField("counts", T.MapType(T.StringType(), T.LongType())),
        T.StructField("message", T.StringType()),
        T.StructField("args", T.StringType()),
        T.StructField("greenlink_version", T.StringType()),
    ]),
    not_null=("run_id", "job", "event", "status", "at"),
    checks={"event_kind": "event IN ('start', 'end')",
            "status_kind": "status IN ('running', 'succeeded', 'failed', 'killed')"},
    comment="greenlink job runs: append-only start/end events",
    keys=("run_id", "event"),
)


JOB_PROPERTY = "greenlink.job"   # Spark local property naming the greenlink job of a Spark job
# bronze.tables.FILE_REJECTS.name: core may not import bronze, and every run of DUMP_AWARE_JOBS
# records the dump state (`dump_state`), so the name is spelled here; tests/unit/core checks it.
FILE_REJECTS_TABLE = "bronze.file_rejects"
DUMP_AWARE_JOBS = frozenset({"classify", "networks", "panel", "estimate"})
# The executor watchdog of the outermost open run of this process (on a cluster master), which
# the runs inside it share: None when no run is open or the master is local.
_watchdog: ExecutorWatchdog | None = None


def dump_state(spark: SparkSession) -> dict[str, str]:
    """`{"dump": "partial", "files_rejected": "N"}` when the ingest that wrote the current bronze
    quarantined N refused files, `{"dump": "complete"}` when it refused none, {} before any ingest
    that checked files."""
    if not tables.exists(spark, FILE_REJECTS_TABLE):
        return {}
    n = tables.read(spark, FILE_REJECTS_TABLE).count()
    return {"dump": "partial", "files_rejected": str(n)} if n else {"dump": "complete"}


class Run:
    """Context manager recording one job run; `count()` accumulates row counts."""

    def __init__(self, spark: SparkSession, job: str, inputs: dict[str, str] | None = None,
                 args: dict | None = None, parent_run_id: str | None = None) -> None:
        self.spark = spark
        self.job = job
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.parent_run_id = parent_run_id
        self.inputs = {k: str(v) for k, v in (inputs or {}).items()}
        # the file Spark's and the JVM's log of this process go to (core.console)
        self.spark_log = spark.conf.get(SPARK_LOG_KEY, None) or None
        if self.spark_log:
            self.inputs["spark_log"] = self.spark_log
        self.args = json.dumps(args or {}, default=str, sort_keys=True)
        self.counts: dict[str, int] = {}
        self._t0 = 0.0
        self._outer_job: str | None = None
        self._settings = ExitStack()
        self._tracked: tuple[state.StageState, str, dict[str, int | None]] | None = None
        self._phase: str | None = None
        self._owns_watchdog = False

    def count(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + int(n)

    def track(self, st: state.StageState, *, full: bool = False, mode: str | None = None,
              reason: str | None = None) -> str:
        """Record the stage's state and how it runs (`mode`: full, incremental or skipped, with
        the `reason`, in inputs); returns the mode. Without a mode given: `skipped` when the
        state is that of the stage's last succeeded run and its tables are as that run left
        them (core.state), else `full` (always with `full`). At a successful end the run records
        the versions of the tables the stage owns and the rows each gained, changed and lost
        (`rows.<table>.added|changed|removed`)."""
        if mode is None:     # a stage without an incremental path: skipped or full
            mode, reason = state.plan(self.spark, st, state.last_success(self.spark, self.job), full)
        if mode not in state.MODES:
            raise ValueError(f"unknown run mode {mode!r}")
        self.inputs.update({**st.inputs(), "mode": mode, "reason": reason or ""})
        self._tracked = (st, mode, {t: state.log_version(self.spark, t) for t in st.owns})
        self.log(f"{mode}: {reason}")
        return mode

    def _record_changes(self) -> None:
        st, mode, before = self._tracked
        self.inputs.update(state.wrote(self.spark, st.owns))
        # the versions before the run: `table_changes(t, from + 1, wrote)` is what it changed
        self.inputs.update({f"from.{t}": str(v) for t, v in before.items()})
        if mode != "skipped":
            for table, version in before.items():
                for kind, n in state.change_counts(self.spark, table, version).items():
                    self.count(f"rows.{table}.{kind}", n)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A named part of the run: its Spark jobs carry `<job>: <name>` as their description
        (event logs, bench/profile_events.py), its progress is reported while it runs
        (`progress`) and its wall time is counted as `phase_ms.<name>`."""
        t, outer = time.monotonic(), self._phase
        self._phase = name      # kept when the phase fails: the failure names it
        with job_description(self.spark, f"{self.job}: {name}"), self.progress(name):
            yield
        self._phase = outer
        self.count(f"phase_ms.{name}", int((time.monotonic() - t) * 1000))

    def progress(self, name: str) -> console.Progress:
        """`with run.progress(name):` reports the running Spark stages' tasks done of total and rows
        read every few seconds on a terminal, every minute otherwise (core.console.Progress)."""
        return console.Progress(self.spark, f"{self.job}: {name}")

    def log(self, message: str) -> None:
        log.info("%s: %s (%.1fs)", self.job, printable_lines(message), time.monotonic() - self._t0)

    def _append(self, event: str, status: str, message: str | None) -> None:
        row = (self.run_id, self.parent_run_id, self.job, event, status, datetime.now(timezone.utc).replace(tzinfo=None),
               time.monotonic() - self._t0 if event == "end" else None,
               self.inputs, self.counts if event == "end" else {}, message, self.args, __version__)
        if _watchdog is not None and _watchdog.lost:    # no executor to run a Spark job
            _append_without_spark(tables.path(self.spark, RUNS.name), [row])
            return
        df = self.spark.createDataFrame([row], RUNS.schema)
        tables.ensure(self.spark, RUNS)
        df.write.format("delta").mode("append").save(tables.path(self.spark, RUNS.name))

    def __enter__(self) -> "Run":
        global _watchdog
        self._t0 = time.monotonic()
        if _watchdog is None:
            _watchdog = ExecutorWatchdog.start(self.spark)
            self._owns_watchdog = _watchdog is not None
        # Spark jobs started inside the run carry its job name (event logs, bench/profile_events.py).
        sc = self.spark.sparkContext
        self._outer_job = sc.getLocalProperty(JOB_PROPERTY)
        sc.setLocalProperty(JOB_PROPERTY, self.job)
        try:
            self._settings.enter_context(stage_settings(self.spark, self.job))
            self._reap_killed()
            if self.job in DUMP_AWARE_JOBS:
                self.inputs.update(dump_state(self.spark))
            self._append("start", "running", None)
        except BaseException as exc:
            sc.setLocalProperty(JOB_PROPERTY, self._outer_job)
            self._settings.close()
            failure = self._executors_lost(exc)
            self._stop_watchdog()
            if failure is not None:
                raise failure from exc
            raise
        if self.spark_log and self.parent_run_id is None:
            log.info("%s: started run %s; Spark's log: %s", self.job, self.run_id, self.spark_log)
        else:
            log.info("%s: started run %s", self.job, self.run_id)
        return self

    def _reap_killed(self) -> None:
        """Close the runs no process will end. Only under the lock: then no other run of this
        warehouse can still be alive. A process that died holding the lock left a stale lock:
        its runs are `killed`. Any other run still `running` that started before this process
        took the lock ended without recording its end (its last write failed, e.g. on a full
        disk, where the end event could not be written either): `failed`, once per lock taken."""
        wh = warehouse_of(self.spark)
        held = lock.held(wh)
        if held is None:
            return
        for tomb, info in lock.tombstones(wh):
            if tables.exists(self.spark, RUNS.name):
                who = info.describe() if info else "an unknown process"
                since = info.acquired() - timedelta(seconds=1) if info else None
                for run_id in mark_ended(self.spark, f"killed: {who} died before finishing; "
                                                     f"stale warehouse lock found by run {self.run_id}", since=since):
                    log.info("%s: marked run %s killed (its process is gone)", self.job, run_id)
            tomb.unlink(missing_ok=True)
        if not held.runs_closed:
            held.runs_closed = True
            if _may_hold_open_runs(tables.path(self.spark, RUNS.name)):
                for run_id in mark_ended(self.spark, "failed: the run ended without recording its end (its last "
                                                     f"write failed, e.g. on a full disk); found by run {self.run_id}",
                                         before=held.info.acquired(), status="failed", skip_jobs=stages.UNLOCKED_JOBS):
                    log.info("%s: marked run %s failed (it ended without recording its end)", self.job, run_id)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.spark.sparkContext.setLocalProperty(JOB_PROPERTY, self._outer_job)
        self._settings.close()
        try:
            self._end(exc)
        finally:
            self._stop_watchdog()

    def _stop_watchdog(self) -> None:
        global _watchdog
        if self._owns_watchdog and _watchdog is not None:
            _watchdog.stop()
            _watchdog = None

    def _executors_lost(self, exc: BaseException | None) -> UserError | None:
        """The one-line failure of a run whose Spark jobs the watchdog cancelled (instead of
        Spark's cancellation); None otherwise, or when a run inside this one said it already."""
        lost = _watchdog.lost if _watchdog is not None else None
        if not lost or exc is None or isinstance(exc, UserError):
            return None
        phase = f" ({self._phase})" if self._phase else ""
        return UserError(f"{self.job}{phase}: no Spark executor for {lost:.0f} s (no_executor_timeout_s "
                         f"{_watchdog.timeout:g} s), its Spark jobs cancelled: start the cluster's workers and "
                         "rerun the same command (every table is at its last commit)")

    def _end(self, exc: BaseException | None) -> None:
        failure = self._executors_lost(exc)
        self._record_end(failure or exc)
        if failure is not None:
            raise failure from exc

    def _record_end(self, exc: BaseException | None) -> None:
        if exc is None:
            if self._tracked:
                self._record_changes()
            self._append("end", "succeeded", None)
            log.info("%s: succeeded in %.1fs", self.job, time.monotonic() - self._t0)
        else:
            where = f" (Spark's log: {self.spark_log})" if self.spark_log else ""
            self._append("end", "failed", printable_lines(f"{type(exc).__name__}: {exc}")[:2000 - len(where)] + where)
            log.info("%s: failed after %.1fs%s", self.job, time.monotonic() - self._t0, where)


def runs_view(spark: SparkSession) -> DataFrame:
    """Latest state of every run: one row per run_id, newest first."""
    df = tables.read(spark, RUNS.name)
    w = Window.partitionBy("run_id").orderBy(F.col("at").desc(), F.col("event").asc())
    started = df.filter("event = 'start'").select("run_id", F.col("at").alias("started_at"))
    return (df.withColumn("_r", F.row_number().over(w)).filter("_r = 1").drop("_r", "event")
            .join(started, "run_id", "left").orderBy(F.col("started_at").desc()))


def _append_without_spark(loc: str, rows: list[tuple]) -> None:
    """Append `rows` (RUNS.schema's order) to the `_meta.runs` at `loc` with delta-rs, from the
    driver alone: a run whose application has no executor left (ExecutorWatchdog) records its
    end so. A URI warehouse delta-rs cannot write (no credentials here) keeps the run `running`
    until the next run under the lock closes it as `failed` (Run._reap_killed)."""
    try:
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake  # local: only for this fallback

        schema = pa.schema(DeltaTable(loc).schema().to_arrow())
        data = [{f: (list(v.items()) if isinstance(v, dict) else v) for f, v in zip(RUNS.schema.names, row)}
                for row in rows]
        write_deltalake(loc, pa.Table.from_pylist(data, schema=schema), mode="append")
    except Exception as exc:   # noqa: BLE001 - the run's own failure is what must be shown
        log.info("could not record the run's end in %s without Spark (%s)", RUNS.name, printable_lines(str(exc))[:300])


def _may_hold_open_runs(loc: str) -> bool:
    """False when the `_meta.runs` at `loc` has no run without an `end` event (or no table),
    read by delta-rs from the log and one small file: no Spark job for the common case (a Spark
    query costs seconds per command). True when it has one, or cannot be read that way (a URI
    delta-rs is not given credentials for): then Spark looks."""
    if "://" in loc and not loc.startswith("file:"):
        return True
    path = Path(loc.removeprefix("file:"))
    if not (path / "_delta_log").is_dir():
        return False
    try:
        from deltalake import DeltaTable  # local: only for this check

        # whole table: a projection (`columns=`) read twice in one process aborts the
        # interpreter at exit under deltalake 1.6.6 ("terminate called without an active exception")
        events = DeltaTable(str(path)).to_pyarrow_table().select(["run_id", "event"]).to_pylist()
    except Exception:   # noqa: BLE001 - any doubt: let Spark read it
        return True
    ended = {e["run_id"] for e in events if e["event"] == "end"}
    return any(e["event"] == "start" and e["run_id"] not in ended for e in events)


def mark_ended(spark: SparkSession, message: str, *, since: datetime | None = None,
               before: datetime | None = None, status: str = "killed", skip_jobs: Sequence[str] = ()) -> list[str]:
    """Append an `end` event with `status` for every run still `running` that started at or
    after `since` and before `before` (naive UTC; None: no bound), but for runs of `skip_jobs`.
    Returns their run ids."""
    view = runs_view(spark).filter((F.col("status") == "running") & ~F.col("job").isin(list(skip_jobs)))
    if since is not None:
        view = view.filter(F.col("started_at") >= F.lit(since))
    if before is not None:
        view = view.filter(F.col("started_at") < F.lit(before))
    dead = view.select("run_id", "parent_run_id", "job", "inputs", "args", "started_at").collect()
    if not dead:
        return []
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [(r["run_id"], r["parent_run_id"], r["job"], "end", status, now,
             (now - r["started_at"]).total_seconds(), r["inputs"], {}, message[:2000], r["args"], __version__)
            for r in dead]
    spark.createDataFrame(rows, RUNS.schema).write.format("delta").mode("append").save(
        tables.path(spark, RUNS.name))
    return [r["run_id"] for r in dead]
