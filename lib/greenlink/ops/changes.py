"""What one run changed, from Delta's change data feed (issue 23, docs/operations.md).

    greenlink diff --run [RUN_ID]        (default: the latest `greenlink run`)

Every stage run records, per table it owns, the version before it (`from.<table>`) and after
it (`wrote.<table>`) in `_meta.runs`; silver and gold tables keep Delta's change data feed
(`tables.CHANGE_FEED_LAYERS`). The rows a run inserted, updated and deleted in a table are
`table_changes(table, from + 1, wrote)`: this module counts them per change type and shows a
few keys of each. A skipped stage changed nothing; bronze keeps no feed (its counts are the
run's `rows.<table>.*`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from greenlink.core import catalog, tables
from greenlink.core.errors import UserError
from greenlink.core.runs import RUNS

_KINDS = {"insert": "inserted", "update_postimage": "updated", "delete": "deleted"}


@dataclass(frozen=True)
class TableChanges:
    """Rows of one table a stage run inserted, updated and deleted (its change feed)."""

    table: str
    job: str
    versions: tuple[int, int]                     # first and last version the run wrote
    counts: dict[str, int]                        # inserted / updated / deleted
    examples: dict[str, list[str]] = field(default_factory=dict)    # kind -> keys shown


def target_run(spark: SparkSession, run_id: str | None) -> str:
    """`run_id`, or the latest `greenlink run` that succeeded."""
    runs = tables.read(spark, RUNS.name).where((F.col("event") == "end") & (F.col("status") == "succeeded"))
    if run_id:
        if not runs.where((F.col("run_id") == run_id) | (F.col("parent_run_id") == run_id)).limit(1).count():
            raise UserError(f"no succeeded run {run_id} in {RUNS.name}")
        return run_id
    row = runs.where(F.col("job") == "run").orderBy(F.col("at").desc()).select("run_id").first()
    if row is None:
        raise UserError(f"no succeeded `greenlink run` in {RUNS.name}: pass --run RUN_ID")
    return row["run_id"]


def written_tables(spark: SparkSession, run_id: str) -> list[tuple[str, str, int, int]]:
    """(job, table, from version, wrote version) of every table the run (or its stages) changed."""
    rows = (tables.read(spark, RUNS.name)
            .where(((F.col("run_id") == run_id) | (F.col("parent_run_id") == run_id)) & (F.col("event") == "end"))
            .orderBy("at").select("job", "inputs").collect())
    out = []
    for r in rows:
        inputs = dict(r["inputs"] or {})
        for key, wrote in inputs.items():
            if not key.startswith("wrote."):
                continue
            table = key[len("wrote."):]
            before = inputs.get(f"from.{table}")
            if wrote not in (None, "None") and before != wrote:
                out.append((r["job"], table, -1 if before in (None, "None") else int(before), int(wrote)))
    return out


def table_changes(spark: SparkSession, job: str, table: str, before: int, wrote: int,
                  examples: int = 5) -> TableChanges:
    """The change feed of `table` over versions before+1..wrote, counted and sampled by key."""
    keys = list(catalog.spec(table).keys)
    feed = (spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", before + 1).option("endingVersion", wrote)
            .load(tables.path(spark, table)).where(F.col("_change_type").isin(*_KINDS)))
    counts = {_KINDS[r["_change_type"]]: int(r["count"]) for r in feed.groupBy("_change_type").count().collect()}
    shown: dict[str, list[str]] = {}
    for kind, name in _KINDS.items():
        if counts.get(name):
            rows = feed.where(F.col("_change_type") == kind).select(*keys).orderBy(*keys).limit(examples).collect()
            shown[name] = [", ".join(str(v) for v in r) for r in rows]
    return TableChanges(table, job, (before + 1, wrote), {k: counts.get(k, 0) for k in _KINDS.values()}, shown)


def run_changes(spark: SparkSession, run_id: str | None = None, examples: int = 5) -> tuple[str, list[TableChanges]]:
    """(run id, the changes of every silver and gold table the run wrote)."""
    run_id = target_run(spark, run_id)
    out = []
    for job, table, before, wrote in written_tables(spark, run_id):
        if table.partition(".")[0] in tables.CHANGE_FEED_LAYERS:
            out.append(table_changes(spark, job, table, before, wrote, examples))
    return run_id, out


def render(run_id: str, changes: list[TableChanges]) -> str:
    if not changes:
        return f"run {run_id} changed no silver or gold table"
    lines = [f"run {run_id}: rows changed per table (Delta change data feed)"]
    width = max(len(c.table) for c in changes)
    for c in changes:
        n = c.counts
        lines.append(f"  {c.table.ljust(width)}  {c.job:<9} versions {c.versions[0]}-{c.versions[1]}  "
                     f"+{n['inserted']:,} ~{n['updated']:,} -{n['deleted']:,}")
        for kind, keys in c.examples.items():
            lines.append(f"      {kind}: {'; '.join(keys)}{' ...' if n[kind] > len(keys) else ''}")
    return "\n".join(lines)
