"""What a stage's result depends on, and whether that changed since the stage last ran (issue 23).

A stage's *state* is a flat mapping of everything its tables are a function of besides the
code of Spark: the Delta versions of the tables it reads, the sha256 of the files and conf it
reads, the digest of its code (the greenlink modules its entry module imports, transitively)
and its settings. A run records the state in `_meta.runs` inputs (`state` = its digest and
`state.<part>` for every part, so that a later run can say what changed) and, at its end, the
version of every table it owns (`wrote.<table>`).

A stage has nothing to do when its last succeeded run had the same state digest and its tables
are still at the versions that run left them (`unchanged_since`): it records a `skipped` run
and writes no table, so a month whose dump did not change adds no Delta version anywhere.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import util as import_util
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from greenlink import __version__
from greenlink.core import tables
from greenlink.core.paths import CONF_DIR

_COMMIT = re.compile(r"^(\d{20})\.json$")
MODES = ("full", "incremental", "skipped")


# ------------------------------------------------------------------ parts of a state

def log_version(spark: SparkSession, name: str) -> int | None:
    """The table's latest Delta version from its log folder's listing (no Spark job, no
    snapshot: a stage asks this for every table it reads or writes); None when no table."""
    jvm = spark._jvm
    log = jvm.org.apache.hadoop.fs.Path(f"{tables.path(spark, name)}/_delta_log")
    fs = log.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(log):
        return None
    versions = [int(m[1]) for s in fs.listStatus(log) if (m := _COMMIT.match(s.getPath().getName()))]
    return max(versions) if versions else None


@lru_cache(maxsize=None)
def code_digest(module: str) -> str:
    """sha256 of the source of `module` and of every greenlink module it imports, transitively
    (imports inside functions included): a changed rule anywhere a stage's code reaches makes
    its next run a full one."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            found = import_util.find_spec(name)
        except (ImportError, AttributeError, ValueError):   # `from module import name`: not a module
            continue
        if found is None or not found.origin or not found.origin.endswith(".py"):
            continue
        seen[name] = Path(found.origin)
        tree = ast.parse(seen[name].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("greenlink")]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("greenlink"):
                todo.append(node.module)
                todo += [f"{node.module}.{a.name}" for a in node.names]     # `from pkg import module`
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(seen):
        digest.update(name.encode() + b"\0" + seen[name].read_bytes())
    return digest.hexdigest()


def file_digest(paths: Iterable[Path]) -> str:
    """sha256 over the contents of files and their names with their folder's name (not the
    whole path: next month's dump in another folder with the same policy files is unchanged);
    a missing file counts as absent."""
    digest = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        digest.update(f"{p.parent.name}/{p.name}".encode() + b"\0")
        if p.is_file():
            with p.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def conf_digest(*names: str) -> str:
    """`file_digest` of files under conf/ by name."""
    return file_digest(CONF_DIR / n for n in names)


# ------------------------------------------------------------------ the state

@dataclass(frozen=True)
class StageState:
    """Everything a stage's tables depend on (`parts`: name -> value) and the tables it owns."""

    job: str
    parts: Mapping[str, str]
    owns: tuple[str, ...] = ()
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        payload = json.dumps({"job": self.job, **self.parts}, sort_keys=True)
        object.__setattr__(self, "digest", hashlib.sha256(payload.encode()).hexdigest())

    def inputs(self) -> dict[str, str]:
        """The state as `_meta.runs` inputs."""
        return {"state": self.digest, **{f"state.{k}": v for k, v in self.parts.items()}}

    def changes_since(self, previous: Mapping[str, str]) -> list[str]:
        """The parts whose value differs from a previous run's inputs, by name."""
        old = {k[len("state."):]: v for k, v in previous.items() if k.startswith("state.")}
        return sorted(k for k in {*old, *self.parts} if old.get(k) != self.parts.get(k))


def stage_state(spark: SparkSession, job: str, module: str, *, reads: Sequence[str] = (),
                files: Mapping[str, str] | None = None, settings: Mapping[str, object] | None = None,
                owns: Sequence[str] = ()) -> StageState:
    """The state of `job` whose code is `module`: versions of the tables it `reads`, digests of
    its `files` (name -> digest) and its `settings` (JSON-encoded); `owns`: the tables it writes."""
    parts = {"code": code_digest(module)}
    parts.update({f"table:{t}": str(log_version(spark, t)) for t in reads})
    parts.update({f"file:{k}": v for k, v in (files or {}).items()})
    parts.update({f"setting:{k}": json.dumps(v, sort_keys=True, default=str) for k, v in (settings or {}).items()})
    return StageState(job, parts, tuple(owns))


def last_success(spark: SparkSession, job: str) -> dict | None:
    """The latest succeeded run of `job` as {run_id, inputs} (None when there is none)."""
    from greenlink.core.runs import RUNS  # local: runs imports this module's users

    if not tables.exists(spark, RUNS.name):
        return None
    row = (tables.read(spark, RUNS.name)
           .where((F.col("job") == job) & (F.col("event") == "end") & (F.col("status") == "succeeded"))
           .orderBy(F.col("at").desc()).select("run_id", "inputs").first())
    return {"run_id": row["run_id"], "inputs": dict(row["inputs"] or {})} if row else None


def wrote(spark: SparkSession, owns: Sequence[str]) -> dict[str, str]:
    """`wrote.<table>` = the table's current version, for every owned table."""
    return {f"wrote.{t}": str(log_version(spark, t)) for t in owns}


def unchanged_since(spark: SparkSession, state: StageState, previous: dict | None) -> str | None:
    """run_id of `previous` (a `last_success`) when it ran on the same state and every table
    the stage owns is still at the version that run left it; else None."""
    if not previous or previous["inputs"].get("state") != state.digest:
        return None
    held = wrote(spark, state.owns)
    if any(previous["inputs"].get(k) != v or v == "None" for k, v in held.items()):
        return None
    return previous["run_id"]


def plan(spark: SparkSession, st: StageState, previous: dict | None, full: bool, *,
         incremental_on: Sequence[str] = ()) -> tuple[str, str]:
    """How a stage runs, as (mode, reason), by one ladder for every stage: `full` on --full;
    `skipped` when its last succeeded run had this state and left its tables as they are;
    `full` when there is no earlier run, when anything but the tables in `incremental_on`
    changed (code, conf, settings, another input table), or when a table the stage owns was
    written since by something else; else `incremental`: only `incremental_on` tables changed,
    and the stage decides what to redo (or refines this into `full`, saying why)."""
    if full:
        return "full", "--full"
    done = unchanged_since(spark, st, previous)
    if done:
        return "skipped", f"inputs, conf and code unchanged since run {done}"
    if previous is None:
        return "full", f"no earlier {st.job} run"
    run_id, inputs = previous["run_id"], previous["inputs"]
    changed = st.changes_since(inputs)
    other = [c for c in changed if c not in {f"table:{t}" for t in incremental_on}]
    if other:
        return "full", f"{', '.join(other)} changed since run {run_id}"
    moved = [k[len("wrote."):] for k, v in wrote(spark, st.owns).items() if inputs.get(k) != v]
    if moved:
        return "full", f"{', '.join(moved)} written since run {run_id}"
    if not changed:     # an owned table is missing, or run_id recorded no state
        return "full", f"run {run_id} left no state this run can start from"
    return "incremental", f"{', '.join(c[len('table:'):] for c in changed)} changed since run {run_id}"


# ------------------------------------------------------------------ what a run changed

def change_counts(spark: SparkSession, name: str, since: int | None) -> dict[str, int]:
    """Rows added, changed and removed by the table's commits after version `since` (None:
    the table was created), from Delta's operation metrics: a MERGE counts its inserted,
    updated and deleted rows; an overwrite adds all the rows it wrote and removes all the
    rows the table held before it (a replaceWhere: those its predicate matched).

    Every run asks this for every table it owns, so a local warehouse's log is read with
    delta-rs (`_local_history`, `_local_rows_at`: the commit files and the file statistics,
    milliseconds) instead of Spark (a query or two: 0.5-1 s a table in a warm session; bench/
    bench_change_counts.py); a URI warehouse, or a log delta-rs cannot read, goes through Spark."""
    if not tables.exists(spark, name):
        return {}
    loc = tables.path(spark, name)
    local = _local_path(loc)
    history = _local_history(local, since) if local else None
    if history is None:
        history = [r.asDict() for r in DeltaTable.forPath(spark, loc).history()
                   .where(F.col("version") > (-1 if since is None else since))
                   .select("version", "operation", "operationParameters", "operationMetrics").collect()]
    out = {"added": 0, "changed": 0, "removed": 0}
    for h in sorted(history, key=lambda h: h["version"]):
        m = {k: int(v) for k, v in (h["operationMetrics"] or {}).items() if str(v).lstrip("-").isdigit()}
        if h["operation"] == "MERGE":
            out["added"] += m.get("numTargetRowsInserted", 0)
            out["changed"] += m.get("numTargetRowsUpdated", 0)
            out["removed"] += m.get("numTargetRowsDeleted", 0)
        elif h["operation"] in ("WRITE", "DELETE", "UPDATE"):
            params = h["operationParameters"] or {}
            whole = params.get("mode") == "Overwrite" and params.get("predicate") in (None, "", "[]")
            if whole and h["version"] > 0:
                before = _local_rows_at(local, h["version"] - 1) if local else None
                out["removed"] += before if before is not None else _rows_at(spark, name, h["version"] - 1)
            # a replaceWhere also writes again the rows of the files it rewrote (numCopiedRows)
            out["added"] += m.get("numOutputRows", 0) - m.get("numCopiedRows", 0)
            out["removed"] += m.get("numDeletedRows", 0)
            out["changed"] += m.get("numUpdatedRows", 0)
    return out


def _local_path(loc: str) -> str | None:
    """The table's folder when it is on the local file system (delta-rs reads it without
    credentials), else None."""
    if "://" in loc and not loc.startswith("file:"):
        return None
    return loc.removeprefix("file:")


def _local_history(path: str, since: int | None) -> list[dict] | None:
    """The commits after `since` (version, operation, operationParameters, operationMetrics),
    read by delta-rs from the log; None when it cannot read them all (then Spark does)."""
    try:
        from deltalake import DeltaTable as LocalTable  # local: delta-rs only for local tables

        table = LocalTable(path)
        first = 0 if since is None else since + 1
        wanted = table.version() - first + 1
        history = [h for h in table.history(wanted) if h.get("version", -1) >= first] if wanted > 0 else []
    except Exception:   # noqa: BLE001 - any doubt: let Spark read it
        return None
    if len(history) != max(wanted, 0):     # a commit missing from delta-rs's answer
        return None
    return [{"version": h["version"], "operation": h.get("operation"),
             "operationParameters": h.get("operationParameters") or {},
             "operationMetrics": h.get("operationMetrics") or {}} for h in history]


def _local_rows_at(path: str, version: int) -> int | None:
    """Rows of the local table at `version`, summed from its files' statistics by delta-rs;
    None when a file has no row count or a deletion vector, or the version cannot be read."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        from deltalake import DeltaTable as LocalTable  # local: delta-rs only for local tables

        files = pa.table(LocalTable(path, version=version).get_add_actions(flatten=True))
    except Exception:   # noqa: BLE001 - a version no longer readable: Spark decides
        return None
    names = files.schema.names
    if "num_records" not in names or files.column("num_records").null_count:
        return None
    if any("deletion" in n.lower() and files.column(n).null_count < files.num_rows for n in names):
        return None
    return int(pc.sum(files.column("num_records")).as_py() or 0)


def _rows_at(spark: SparkSession, name: str, version: int) -> int:
    """Rows of the table at `version` (Delta answers a count from its file statistics)."""
    try:
        return tables.read(spark, name, version=version).count()
    except Exception:      # noqa: BLE001 - a version no longer readable (vacuumed) counts as unknown
        return 0
