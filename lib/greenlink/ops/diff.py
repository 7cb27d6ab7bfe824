"""`greenlink diff`: what changed in tables between two Delta versions, row by natural key.

    greenlink diff --from-version N [--to-version M] [--tables gold.city_year_panel,gold.estimates]
    greenlink diff --run [RUN_ID]     (what a run changed: `greenlink.ops.changes`)

For each table, rows of version N and version M (default: the latest) are matched on the
table's natural key (`TableSpec.keys`); a row is added, removed, changed (and in which
columns) or unchanged. Floating-point columns count as changed only beyond a relative
tolerance (recomputation on another partitioning may move the last bits). Run-id columns
(`run`, `run_id`, `*_run_id`) are ignored: they change on every rewrite by design.
A negative version counts back from the latest (`--from-version -1`: the previous one).

The comparison runs in Spark (full outer join on the key, one aggregation), so it works
for tables of any size; only counts and a few example rows reach the driver. Each side
also says whether it was built from a partial dump: `bronze.file_rejects` as of the
version's commit time (time travel) holds the files ingest had quarantined then.

`warehouse_differences` compares whole warehouses (two runs of the pipeline) with delta-rs
and pandas; the cluster and fault tests use it (docs/operations.md).

Just over 400 lines: the Spark diff, its report and the Spark-free warehouse comparison share
the key and tolerance rules.
"""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.bronze.tables import FILE_REJECTS
from greenlink.core import catalog, session, tables
from greenlink.core.errors import UserError
from greenlink.core.tables import TableSpec
from greenlink.estimate.tables import ESTIMATES
from greenlink.gold.tables import PANEL
from greenlink.ops.options import add_common

DEFAULT_TABLES = (PANEL.name, ESTIMATES.name)
_RUN_COLUMN = re.compile(r"^(run|run_id|.+_run_id)$")


def is_run_column(name: str) -> bool:
    """Columns naming the run that wrote a row: different on every rewrite, never content."""
    return bool(_RUN_COLUMN.match(name))


# --------------------------------------------------------------------------- keys (from the catalog)

def natural_keys(name: str, registry: Mapping[str, TableSpec] | None = None) -> tuple[str, ...]:
    """The table's natural key: its TableSpec's `keys` (registry: name -> spec, default the catalog)."""
    spec = (registry if registry is not None else catalog.specs()).get(name)
    keys = tuple(getattr(spec, "keys", ()) or ())
    if not keys:
        raise UserError(f"{name} declares no natural key (TableSpec.keys): pass --keys col1,col2")
    return keys


# --------------------------------------------------------------------------- the diff (Spark)

@dataclass(frozen=True)
class TableDiff:
    """Rows of one table matched on `keys` between two versions."""

    table: str
    keys: tuple[str, ...]
    from_version: int
    to_version: int
    rows_from: int
    rows_to: int
    added: int
    removed: int
    changed: int
    column_changes: dict[str, int]                      # column -> changed rows, most first
    columns_added: tuple[str, ...] = ()
    columns_dropped: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    examples: list[tuple[str, tuple, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    # (kind: added/removed/changed, key values, {column: (old, new)} for changed rows)
    dumps: tuple[str, str] = ("", "")     # per side: complete / partial (N files refused) / "" unknown

    @property
    def unchanged(self) -> int:
        return self.rows_from - self.removed - self.changed


def _comparable(col, dtype):
    """A Column that `<=>` can compare: maps (not comparable in Spark) as sorted entries."""
    if isinstance(dtype, T.MapType):
        return F.array_sort(F.map_entries(col))
    return col


def _differs(o, n, dtype, rtol: float, atol: float):
    """Column: the old and new values differ (floats beyond the tolerance; nulls and NaNs equal)."""
    if isinstance(dtype, (T.DoubleType, T.FloatType)):
        same = ((o.isNull() & n.isNull()) | (F.isnan(o) & F.isnan(n))
                | (F.abs(o - n) <= F.lit(atol) + F.lit(rtol) * F.abs(n)))
        return ~F.coalesce(same, F.lit(False))
    return ~_comparable(o, dtype).eqNullSafe(_comparable(n, dtype))


def diff_frames(old, new, keys: Sequence[str], *, table: str = "", versions: tuple[int, int] = (0, 0),
                rtol: float = 1e-9, atol: float = 1e-12, examples: int = 10) -> TableDiff:
    """Compare two DataFrames row by `keys` (pure: no I/O besides Spark jobs on the inputs)."""
    keys = tuple(keys)
    for side, df in (("old", old), ("new", new)):
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise UserError(f"{table}: key column(s) {', '.join(missing)} missing in the {side} version")
        dup = df.groupBy(*keys).count().filter("count > 1").limit(1).collect()
        if dup:
            shown = ", ".join(f"{k}={dup[0][k]!r}" for k in keys)
            raise UserError(f"{table}: key ({', '.join(keys)}) is not unique in the {side} version "
                            f"({shown} appears {dup[0]['count']} times); pass --keys")
    ignored = tuple(c for c in dict.fromkeys([*old.columns, *new.columns]) if is_run_column(c) and c not in keys)
    common = [c for c in old.columns if c in new.columns and c not in keys and c not in ignored]
    types = {f.name: f.dataType for f in new.schema.fields}
    o = old.select(*keys, *[F.col(c).alias(f"o_{i}") for i, c in enumerate(common)], F.lit(True).alias("_o"))
    n = new.select(*[F.col(k).alias(f"k_{i}") for i, k in enumerate(keys)],
                   *[F.col(c).alias(f"n_{i}") for i, c in enumerate(common)], F.lit(True).alias("_n"))
    cond = [F.col(k).eqNullSafe(F.col(f"k_{i}")) for i, k in enumerate(keys)]
    j = o.join(n, cond, "full_outer")
    j = j.select(*[F.coalesce(F.col(k), F.col(f"k_{i}")).alias(k) for i, k in enumerate(keys)],
                 F.col("_o").isNotNull().alias("_in_old"), F.col("_n").isNotNull().alias("_in_new"),
                 *[F.col(f"o_{i}") for i in range(len(common))], *[F.col(f"n_{i}") for i in range(len(common))],
                 *[_differs(F.col(f"o_{i}"), F.col(f"n_{i}"), types[c], rtol, atol).alias(f"d_{i}")
                   for i, c in enumerate(common)])
    both = F.col("_in_old") & F.col("_in_new")
    any_change = F.lit(False)
    for i in range(len(common)):
        any_change = any_change | F.col(f"d_{i}")
    j = j.withColumn("_changed", both & any_change).persist()
    try:
        agg = j.agg(F.count(F.when(F.col("_in_old"), 1)).alias("rows_from"),
                    F.count(F.when(F.col("_in_new"), 1)).alias("rows_to"),
                    F.count(F.when(~F.col("_in_old"), 1)).alias("added"),
                    F.count(F.when(~F.col("_in_new"), 1)).alias("removed"),
                    F.count(F.when(F.col("_changed"), 1)).alias("changed"),
                    *[F.count(F.when(both & F.col(f"d_{i}"), 1)).alias(f"c_{i}") for i in range(len(common))]
                    ).first()
        per_col = {c: int(agg[f"c_{i}"]) for i, c in enumerate(common) if agg[f"c_{i}"]}
        shown: list[tuple[str, tuple, dict[str, tuple[Any, Any]]]] = []
        if examples > 0:
            kinds = F.when(~F.col("_in_old"), "added").when(~F.col("_in_new"), "removed").otherwise("changed")
            rows = (j.filter(F.col("_changed") | ~both).withColumn("_kind", kinds)
                    .orderBy(F.col("_kind").desc(), *keys).limit(examples).collect())
            for r in rows:
                cols = {c: (r[f"o_{i}"], r[f"n_{i}"]) for i, c in enumerate(common)
                        if r["_kind"] == "changed" and r[f"d_{i}"]}
                shown.append((r["_kind"], tuple(r[k] for k in keys), cols))
    finally:
        j.unpersist()
    return TableDiff(
        table=table, keys=keys, from_version=versions[0], to_version=versions[1],
        rows_from=int(agg["rows_from"]), rows_to=int(agg["rows_to"]), added=int(agg["added"]),
        removed=int(agg["removed"]), changed=int(agg["changed"]),
        column_changes=dict(sorted(per_col.items(), key=lambda kv: (-kv[1], kv[0]))),
        columns_added=tuple(c for c in new.columns if c not in old.columns and c not in ignored),
        columns_dropped=tuple(c for c in old.columns if c not in new.columns and c not in ignored),
        ignored=ignored, examples=shown)


def version_range(spark, name: str) -> tuple[int, int]:
    """(oldest, latest) Delta version still readable from the table's history."""
    if not tables.exists(spark, name):
        raise UserError(f"table {name} does not exist at {tables.path(spark, name)}")
    row = DeltaTable.forPath(spark, tables.path(spark, name)).history().agg(
        F.min("version").alias("lo"), F.max("version").alias("hi")).first()
    return int(row["lo"]), int(row["hi"])


def resolve_version(v: int | None, lo: int, hi: int, name: str, what: str) -> int:
    """A requested version (None: latest; negative: back from the latest) checked against [lo, hi]."""
    got = hi if v is None else (hi + v if v < 0 else v)
    if not lo <= got <= hi:
        raise UserError(f"{name} has versions {lo}..{hi}; {what} {v} is not one of them")
    return got


def diff_table(spark, name: str, from_version: int, to_version: int | None = None,
               keys: Sequence[str] | None = None, rtol: float = 1e-9, examples: int = 10) -> TableDiff:
    """Diff one warehouse table between two of its versions."""
    lo, hi = version_range(spark, name)
    v0 = resolve_version(from_version, lo, hi, name, "--from-version")
    v1 = resolve_version(to_version, lo, hi, name, "--to-version")
    key = tuple(keys) if keys else natural_keys(name)
    d = diff_frames(tables.read(spark, name, v0), tables.read(spark, name, v1), key, table=name,
                    versions=(v0, v1), rtol=rtol, examples=examples)
    return replace(d, dumps=(dump_at(spark, name, v0), dump_at(spark, name, v1)))


def dump_at(spark, name: str, version: int) -> str:
    """Whether `name` at `version` was built from a partial dump: the ingest file rejects as
    they stood when that version was committed ("" when no ingest had checked files by then)."""
    if not tables.exists(spark, FILE_REJECTS.name):
        return ""
    at = (DeltaTable.forPath(spark, tables.path(spark, name)).history()
          .where(F.col("version") == version).select("timestamp").first())
    # the last file_rejects version committed at or before it (Delta's timestampAsOf refuses
    # a time after the table's latest commit, the usual case for the newest version)
    before = (DeltaTable.forPath(spark, tables.path(spark, FILE_REJECTS.name)).history()
              .where(F.col("timestamp") <= F.lit(at["timestamp"])).agg(F.max("version")).first()[0]) if at else None
    if before is None:
        return ""
    n = tables.read(spark, FILE_REJECTS.name, int(before)).count()
    return f"partial dump ({n} input files refused, {FILE_REJECTS.name})" if n else "complete dump"


# --------------------------------------------------------------------------- rendering

def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.6g}"
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def render(d: TableDiff) -> str:
    """A readable block: counts, changed columns, then example rows as an aligned table."""
    n = lambda x: f"{x:,}"   # noqa: E731
    lines = [f"{d.table}  version {d.from_version} -> {d.to_version}  (key: {', '.join(d.keys)})",
             f"  rows {n(d.rows_from)} -> {n(d.rows_to)}:  added {n(d.added)}  removed {n(d.removed)}  "
             f"changed {n(d.changed)}  unchanged {n(d.unchanged)}"]
    if d.columns_added or d.columns_dropped:
        lines.append(f"  columns added: {', '.join(d.columns_added) or '-'}; dropped: {', '.join(d.columns_dropped) or '-'}")
    if d.column_changes:
        lines.append("  changed columns: " + ", ".join(f"{c} ({n(k)} rows)" for c, k in d.column_changes.items()))
    if d.ignored:
        lines.append(f"  ignored (run ids): {', '.join(d.ignored)}")
    if any(d.dumps):
        lines.append(f"  built from: {d.dumps[0] or 'unknown'} -> {d.dumps[1] or 'unknown'}")
    table = [("", " | ".join(d.keys), "column", "old", "new")]
    for kind, key, cols in d.examples:
        k = " | ".join(_fmt(v) for v in key)
        if kind == "changed":
            for i, (c, (old, new)) in enumerate(cols.items()):
                table.append((kind if i == 0 else "", k if i == 0 else "", c, _fmt(old), _fmt(new)))
        else:
            table.append((kind, k, "", "", ""))
    if len(table) > 1:
        widths = [max(len(r[i]) for r in table) for i in range(5)]
        lines.append("")
        for r in table:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        shown = sum(1 for _ in d.examples)
        total = d.added + d.removed + d.changed
        if shown < total:
            lines.append(f"  ... {total - shown:,} more (first {shown} shown)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- warehouses (pandas)

def _canon(value: Any, typ) -> Any:
    """A hashable, order-independent-for-maps form of one Arrow value."""
    if value is None:
        return None
    if pa.types.is_map(typ):
        return tuple(sorted(((_canon(k, typ.key_type), _canon(v, typ.item_type)) for k, v in value), key=repr))
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return tuple(_canon(v, typ.value_type) for v in value)
    if pa.types.is_struct(typ):
        return tuple(_canon(value[f.name], f.type) for f in typ)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def canonical_frame(arrow_table, drop: Sequence[str] = ()):
    """A pandas frame with comparable values (maps as sorted entries, lists as tuples), rows in a
    canonical order: non-float columns first, then floats rounded for the tie-break."""
    cols = [f for f in arrow_table.schema if f.name not in drop]
    # object columns: pandas would turn a nullable integer column into floats with NaN
    data = {f.name: pd.Series([_canon(v, f.type) for v in arrow_table.column(f.name).to_pylist()], dtype=object)
            for f in cols}
    frame = pd.DataFrame(data, columns=[f.name for f in cols])
    floats = [f.name for f in cols if pa.types.is_floating(f.type)]
    exact = [f.name for f in cols if f.name not in floats]

    def order(i: int) -> tuple:
        return (tuple(repr(frame.at[i, c]) for c in exact)
                + tuple(f"{frame.at[i, c]:.6g}" if frame.at[i, c] is not None else "" for c in floats))

    frame = frame.loc[sorted(range(len(frame)), key=order)].reset_index(drop=True)
    return frame, floats


def frames_differences(a, b, floats: Sequence[str], rtol: float = 1e-7, atol: float = 1e-9) -> list[str]:
    """Differences between two canonical frames with the same columns (empty: equal)."""
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{len(a)} rows != {len(b)} rows"]
    out = []
    for c in a.columns:
        if c in floats:
            x = a[c].astype("float64").to_numpy()
            y = b[c].astype("float64").to_numpy()
            bad = ~np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = np.array([u != v for u, v in zip(a[c], b[c])], dtype=bool)
        if bad.any():
            i = int(np.argmax(bad))
            out.append(f"column {c}: {int(bad.sum())} row(s) differ, e.g. {a.at[i, c]!r} != {b.at[i, c]!r}")
    return out


def _table_as_of(path: Path, as_of: datetime | None):
    """The Delta table at `path` (as it was at `as_of`, naive UTC), or None if it did not exist then."""
    from deltalake import DeltaTable as RustDeltaTable  # local: delta-rs, for the Spark-free comparison only

    dt = RustDeltaTable(str(path))
    if as_of is not None:
        when = as_of.replace(tzinfo=timezone.utc)
        first = min(h["timestamp"] for h in dt.history())          # ms since the epoch
        if first > when.timestamp() * 1000:
            return None                                             # created after as_of
        dt.load_as_version(when)
    return dt


def warehouse_differences(a: str | Path, b: str | Path, layers: Sequence[str] = ("bronze", "silver", "gold"),
                          rtol: float = 1e-7, atol: float = 1e-9, a_as_of: datetime | None = None) -> dict[str, list[str]]:
    """Compare every table of two warehouses by content (rows in any order, run-id columns
    ignored, floats within tolerance); {table: problems}, empty when the warehouses are equal.
    `a_as_of` compares `a` as it was at that time (naive UTC), e.g. right after one stage ran."""
    from greenlink.ops.analyst import table_names, table_path  # local: loads duckdb and delta-rs

    at_a = {t: _table_as_of(table_path(a, t), a_as_of) for t in table_names(a) if t.partition(".")[0] in layers}
    names_a = {t for t, dt in at_a.items() if dt is not None}
    names_b = {t for t in table_names(b) if t.partition(".")[0] in layers}
    out: dict[str, list[str]] = {}
    for t in sorted(names_a ^ names_b):
        out[t] = [f"only in {a if t in names_a else b}"]
    for t in sorted(names_a & names_b):
        ta = at_a[t].to_pyarrow_table()
        tb = _table_as_of(table_path(b, t), None).to_pyarrow_table()
        drop = [c for c in ta.column_names if is_run_column(c)]
        sa, sb = ({f.name: str(f.type) for f in x.schema if f.name not in drop} for x in (ta, tb))
        if sa != sb:
            out[t] = [f"schema {sa} != {sb}"]
            continue
        fa, floats = canonical_frame(ta, drop)
        fb, _ = canonical_frame(tb, drop)
        problems = frames_differences(fa, fb, floats, rtol, atol)
        if problems:
            out[t] = problems
    return out


# --------------------------------------------------------------------------- command

def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--from-version", type=int, default=None,
                        help="Delta version to compare from (negative: back from the latest)")
    parser.add_argument("--run", nargs="?", const="latest", default=None, metavar="RUN_ID",
                        help="instead: the rows a run (default: the latest `greenlink run`) inserted, updated "
                             "and deleted in each silver and gold table, from their change data feed")
    parser.add_argument("--to-version", type=int, default=None, help="version to compare to (default: latest)")
    parser.add_argument("--tables", default=",".join(DEFAULT_TABLES),
                        help="comma-separated layer.name tables (default: %(default)s)")
    parser.add_argument("--keys", default=None, help="natural key columns (default: from the TableSpec)")
    parser.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for float columns")
    parser.add_argument("--examples", type=int, default=10, help="example rows shown per table (default 10)")


def main(args: argparse.Namespace) -> int:
    if args.run is not None:
        from greenlink.ops.changes import render as render_changes, run_changes

        spark = session.get_spark(args.profile, args.warehouse)
        print(render_changes(*run_changes(spark, None if args.run == "latest" else args.run, args.examples)))
        return 0
    if args.from_version is None:
        raise UserError("--from-version N is required (or --run [RUN_ID] for what a run changed)")
    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    if not names:
        raise UserError("--tables names no table")
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else None
    spark = session.get_spark(args.profile, args.warehouse)   # looked up at call time: tests substitute it
    blocks = [render(diff_table(spark, name, args.from_version, args.to_version, keys, args.rtol, args.examples))
              for name in names]
    print("\n\n".join(blocks))
    return 0
