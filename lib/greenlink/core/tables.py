"""Delta tables of the warehouse: naming, creation with constraints, idempotent writes.

A table `layer.name` lives at `<warehouse>/<layer>/<name>` (e.g. `gold.city_year_panel`),
so any Delta reader finds it by path; `register_all` also names them in the Spark catalog.
Each table is declared once as a `TableSpec` (schema, partitioning, NOT NULL columns,
CHECK constraints); writers go through `write`, which creates the table on first use and
then replaces its content (whole table, `replaceWhere` slice, or MERGE on natural keys),
so rerunning a stage on the same input leaves the same table and never duplicates rows.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType, BooleanType, MapType, StructField, StructType

from greenlink.core.errors import DiskFull, UserError, is_disk_full
from greenlink.core.session import job_description, persist_uncompressed, warehouse_of

LAYERS = ("bronze", "silver", "gold", "_meta")
STATS_COLUMNS = "delta.dataSkippingStatsColumns"
CHANGE_FEED = "delta.enableChangeDataFeed"
# Layers whose tables keep Delta's change data feed: what a monthly run changed in them can be
# read with `table_changes` (docs/operations.md). Readers stay at protocol version 1.
CHANGE_FEED_LAYERS = ("silver", "gold")
_NO_STATS_TYPES = (BooleanType, BinaryType, ArrayType, MapType, StructType)


@dataclass(frozen=True)
class TableSpec:
    """Declaration of one Delta table. `schema` lists every column in order."""

    name: str                                   # "layer.table"
    schema: StructType
    partition_by: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    checks: dict[str, str] = field(default_factory=dict)   # constraint name -> SQL boolean
    comment: str = ""
    keys: tuple[str, ...] = ()                  # natural key: one row per value (MERGE, `greenlink diff`)
    # Columns Delta keeps min/max/null statistics for (data skipping). Empty: Delta's default,
    # the first 32 columns. Row-scale tables name their key columns only: statistics of long
    # raw strings cost every write CPU (4.7 µs a row measured on bronze.patents_raw) and skip nothing.
    stats_columns: tuple[str, ...] = ()
    # Columns written without Parquet dictionary encoding: values unique per row (hashes, numbers,
    # row positions), where the writer hashes every value into a dictionary it then drops
    # (`Binary.hashCode`/`equals` were a third of the bronze write's task time, issue 22). Text
    # that repeats (applicant names, addresses, IPC fields) keeps its dictionary: read back plain,
    # it cost classify more than the write saved.
    plain_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        layer, _, table = self.name.partition(".")
        if layer not in LAYERS or not table:
            raise ValueError(f"table name {self.name!r} must be <layer>.<name>, layer in {LAYERS}")
        cols = set(self.schema.fieldNames())
        for c in (*self.partition_by, *self.not_null, *self.keys, *self.stats_columns, *self.plain_columns):
            if c not in cols:
                raise ValueError(f"{self.name}: column {c!r} is not in the schema")
        for c in self.stats_columns:        # Delta keeps no min/max for these (and refuses them)
            if isinstance(self.schema[c].dataType, _NO_STATS_TYPES):
                raise ValueError(f"{self.name}: Delta keeps no statistics for {c!r} "
                                 f"({self.schema[c].dataType.simpleString()})")

    def properties(self) -> dict[str, str]:
        """Delta table properties the spec sets."""
        props = {CHANGE_FEED: "true"} if self.name.partition(".")[0] in CHANGE_FEED_LAYERS else {}
        if self.stats_columns:
            props[STATS_COLUMNS] = ",".join(c for c in self.stats_columns if c not in self.partition_by)
        return props

    def table_schema(self) -> StructType:
        return StructType([
            StructField(f.name, f.dataType, f.nullable and f.name not in self.not_null, f.metadata)
            for f in self.schema.fields
        ])


def path(spark: SparkSession, name: str) -> str:
    layer, _, table = name.partition(".")
    return f"{warehouse_of(spark)}/{layer}/{table}"


def exists(spark: SparkSession, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path(spark, name))


def read(spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
    """The table as a DataFrame (optionally as of an earlier version: time travel)."""
    if not exists(spark, name):
        raise UserError(f"table {name} does not exist at {path(spark, name)}: run the stage that writes it first")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path(spark, name))


def latest_version(spark: SparkSession, name: str) -> int | None:
    """The table's current Delta version (None when it does not exist)."""
    if not exists(spark, name):
        return None
    return int(DeltaTable.forPath(spark, path(spark, name)).history(1).select("version").first()[0])


# Tables this process has already created or checked, per Spark application: `ensure` is on
# every write path, and looking a table up costs Delta a snapshot (a Spark job) each time.
_ENSURED: set[tuple[str, str, str]] = set()


def _log_exists(spark: SparkSession, loc: str) -> bool:
    """Whether `<loc>/_delta_log` exists (a file-system call, no Delta snapshot)."""
    jvm = spark._jvm
    log = jvm.org.apache.hadoop.fs.Path(f"{loc}/_delta_log")
    return bool(log.getFileSystem(spark._jsc.hadoopConfiguration()).exists(log))


def _constraint_key(name: str) -> str:
    # Delta stores a constraint as a table property under its lower-cased name
    return f"delta.constraints.{name.lower()}"


def _define(spark: SparkSession, spec: TableSpec, loc: str, *, replace: bool) -> None:
    """Create (or REPLACE) the table's definition in ONE commit: columns, NOT NULL,
    partitioning, comment, properties and CHECK constraints. A CHECK given as its
    `delta.constraints.<name>` property at creation is enforced like one added by ALTER TABLE;
    adding each by ALTER costs a commit and a scan job (all 25 catalog tables: 6.8 s vs
    44.8 s, bench/bench_delta_fixed_costs.py in docs/benchmarks.md)."""
    start = DeltaTable.replace if replace else DeltaTable.createIfNotExists
    builder = start(spark).location(loc).addColumns(spec.table_schema())
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    if spec.comment:
        builder = builder.comment(spec.comment)
    for k, v in {**spec.properties(), **{_constraint_key(c): e for c, e in spec.checks.items()}}.items():
        builder = builder.property(k, v)
    builder.execute()


def ensure(spark: SparkSession, spec: TableSpec, *, replace_changed: bool = False) -> None:
    """Create the table if missing (NOT NULL columns, partitioning, properties, CHECKs) in one
    commit; on an existing table add missing CHECKs and properties. replace_changed: when the
    table's columns are not the spec's (a spec that gained or lost columns), REPLACE its
    definition — a new version of an empty table, history kept; only for a write that
    replaces every row. Done once per table and Spark application while the table's log
    stays in place."""
    loc = path(spark, spec.name)
    key = (spark.sparkContext.applicationId, loc, repr(spec))
    present_log = _log_exists(spark, loc)
    if key in _ENSURED and present_log:
        return
    if not present_log or not exists(spark, spec.name):    # a log folder without a commit is no table yet
        _define(spark, spec, loc, replace=False)
        _ENSURED.add(key)
        return
    columns = read(spark, spec.name).columns
    if replace_changed and columns != spec.schema.fieldNames():
        _define(spark, spec, loc, replace=True)
        _ENSURED.add(key)
        return
    # a table created by an older version of the spec: add what the spec gained
    props = dict(spark.sql(f"SHOW TBLPROPERTIES delta.`{loc}`").collect())
    for cname, expr in spec.checks.items():
        if _constraint_key(cname) not in props:
            spark.sql(f"ALTER TABLE delta.`{loc}` ADD CONSTRAINT {cname} CHECK ({expr})")
    changed = {k: v for k, v in spec.properties().items() if props.get(k) != v}
    if changed:
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in changed.items())
        spark.sql(f"ALTER TABLE delta.`{loc}` SET TBLPROPERTIES ({pairs})")
    if columns == spec.schema.fieldNames():
        _ENSURED.add(key)


WriteMode = Literal["overwrite", "replace_where", "merge"]


def write(df: DataFrame, spec: TableSpec, *, mode: WriteMode = "overwrite",
          replace_where: str | None = None, keys: tuple[str, ...] = (),
          delete_missing: bool = False) -> None:
    """Write `df` (columns of `spec.schema`, any order) idempotently.

    overwrite      the table becomes exactly `df`
    replace_where  rows matching the predicate become exactly `df` (all rows of `df` must match it)
    merge          upsert on `keys`; rows whose other columns are unchanged are not rewritten;
                   with delete_missing, target rows absent from `df` are deleted (full-dump refresh)
    """
    spark = df.sparkSession
    cols = spec.schema.fieldNames()
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{spec.name}: DataFrame lacks column(s) {missing}")
    df = df.select(*[F.col(c).cast(spec.schema[c].dataType) for c in cols])
    loc = path(spark, spec.name)
    with disk_full_names(spec.name, loc):
        # a spec that gained or lost columns (e.g. a new metric) cannot be written into the old
        # table; an overwrite replaces every row anyway, so it replaces the definition first
        ensure(spark, spec, replace_changed=mode == "overwrite")
        with job_description(spark, f"write {spec.name} ({mode})"), parquet_plain(spark, spec.plain_columns):
            _write(df, spec, loc, mode, replace_where, keys, delete_missing)


@contextmanager
def disk_full_names(name: str, loc: str) -> Iterator[None]:
    """A write of table `name` that runs out of space fails with one line naming the table and
    the space left (`DiskFull`: `writing silver.patents: no space left on /data (0.2 MB free)`)
    instead of the JVM's stack trace. Nothing was committed: Delta commits a write only after
    every data file is written, so the table stays at its last version (the data files already
    written are never read, and `VACUUM` removes them)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFull.writing(name, loc) from exc


_DICTIONARY = "parquet.enable.dictionary#"
_plain_lock = threading.Lock()
_plain_holders: dict[str, int] = {}       # column -> blocks (of any thread) that need it plain


@contextmanager
def parquet_plain(spark: SparkSession, columns: Sequence[str]) -> Iterator[None]:
    """Parquet files written in the block store `columns` without dictionary encoding.

    Parquet reads per-column settings (`parquet.enable.dictionary#<column>`) from the Hadoop
    configuration of the write job, which Spark builds from the SparkContext's; Delta drops
    such keys given as write options. Set for the block, then unset when no block (writes of
    several tables may run at once, `session.run_concurrently`) needs it any more."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    with _plain_lock:
        for c in columns:
            _plain_holders[c] = _plain_holders.get(c, 0) + 1
            conf.set(_DICTIONARY + c, "false")
    try:
        yield
    finally:
        with _plain_lock:
            for c in columns:
                _plain_holders[c] -= 1
                if not _plain_holders[c]:
                    del _plain_holders[c]
                    conf.unset(_DICTIONARY + c)


def _write(df: DataFrame, spec: TableSpec, loc: str, mode: WriteMode, replace_where: str | None,
           keys: tuple[str, ...], delete_missing: bool) -> None:
    spark = df.sparkSession
    cols = spec.schema.fieldNames()
    if mode == "overwrite":
        df.write.format("delta").mode("overwrite").save(loc)
    elif mode == "replace_where":
        if not replace_where:
            raise ValueError("replace_where mode needs a predicate")
        df.write.format("delta").mode("overwrite").option("replaceWhere", replace_where).save(loc)
    elif mode == "merge":
        if not keys:
            raise ValueError("merge mode needs natural keys")
        on, changed = _merge_conditions(cols, keys)
        m = (DeltaTable.forPath(spark, loc).alias("t").merge(df.alias("s"), on)
             .whenMatchedUpdateAll(condition=changed).whenNotMatchedInsertAll())
        if delete_missing:
            m = m.whenNotMatchedBySourceDelete()
        m.execute()
    else:
        raise ValueError(f"unknown write mode {mode!r}")


def _merge_conditions(cols: Sequence[str], keys: Sequence[str]) -> tuple[str, str]:
    """(match on the keys, NULL-safe; some other column differs) for a MERGE of t with s."""
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in cols if c not in keys) or "false"
    return on, changed


# Most rows of changes `merge_rows` broadcasts to the MERGE's join (a 1 % month at 1M patents
# merged 20,230 silver.patents rows).
MERGE_BROADCAST_ROWS = 500_000


def merge_rows(df: DataFrame, spec: TableSpec, *, delete_flag: str) -> None:
    """`df` (the spec's columns + boolean `delete_flag`) applied on `spec.keys`: a flagged row
    deletes its match; any other row updates its match where a column differs (rows that are
    equal are not rewritten, and do not show in the change feed) or is inserted.

    Two MERGEs, not one: a MERGE with an insert clause joins source and target with a full
    outer join, which shuffles every row of the target (457 MB for silver.patents at 1M);
    without one the join keeps only the target's side, so the source (a month's changes, small)
    is broadcast and the target is read in place. The rows with new keys then go in through an
    insert-only MERGE (an anti join on the keys, no file rewritten). Both are idempotent: a run
    stopped between them and run again reaches the same table."""
    spark = df.sparkSession
    cols = spec.schema.fieldNames()
    on, changed = _merge_conditions(cols, spec.keys)
    values = {f"`{c}`": f"s.`{c}`" for c in cols}
    loc = path(spark, spec.name)
    with disk_full_names(spec.name, loc), parquet_plain(spark, spec.plain_columns):
        ensure(spark, spec)
        # the changes are computed once for their count and both MERGEs
        source = persist_uncompressed(df)
        try:
            # a month of changes is broadcast; a month that changed most of the table is not
            # (the driver would hold it whole): Spark then shuffles both sides, as before
            small = source.count() <= MERGE_BROADCAST_ROWS
            with job_description(spark, f"write {spec.name} (merge changes)"):
                (DeltaTable.forPath(spark, loc).alias("t")
                 .merge((F.broadcast(source) if small else source).alias("s"), on)
                 .whenMatchedDelete(condition=f"s.`{delete_flag}`")
                 .whenMatchedUpdate(condition=f"NOT s.`{delete_flag}` AND ({changed})", set=values)
                 .execute())
            with job_description(spark, f"write {spec.name} (insert new keys)"):
                (DeltaTable.forPath(spark, loc).alias("t").merge(source.where(~F.col(delete_flag)).alias("s"), on)
                 .whenNotMatchedInsert(values=values)
                 .execute())
        finally:
            source.unpersist()


def register_all(spark: SparkSession) -> list[str]:
    """Name every Delta table under the warehouse in the session catalog (`gold.city_year_panel`)."""
    wh = warehouse_of(spark)
    jvm = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(wh)
    fs = hpath.getFileSystem(spark._jsc.hadoopConfiguration())
    names = []
    for layer in LAYERS:
        lp = jvm.org.apache.hadoop.fs.Path(f"{wh}/{layer}")
        if not fs.exists(lp):
            continue
        for status in fs.listStatus(lp):
            table = status.getPath().getName()
            name = f"{layer}.{table}"
            if status.isDirectory() and exists(spark, name):
                spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`")
                spark.sql(f"CREATE TABLE IF NOT EXISTS `{layer}`.`{table}` USING delta LOCATION '{path(spark, name)}'")
                names.append(name)
    return names


def protocol(spark: SparkSession, name: str) -> tuple[int, int]:
    """(minReaderVersion, minWriterVersion): readers version 1 keep delta-rs and DuckDB working."""
    row = DeltaTable.forPath(spark, path(spark, name)).detail().select("minReaderVersion", "minWriterVersion").first()
    return int(row[0]), int(row[1])
