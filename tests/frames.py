"""DataFrame equality for the tests (chispa's idea, written small): `assert_frame_equal(actual,
expected)` compares the schema (names and types, nullability ignored) and the rows, in any order
(as a multiset: a row twice must be there twice), and on failure says which columns and which
rows differ instead of printing two lists. `expected` may be a DataFrame or rows (tuples), then
only the rows are compared. `table_contents` reads tables into pandas in a canonical row order."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd
from pyspark.sql import DataFrame, Row
from pyspark.sql import types as T

SHOWN = 10          # rows of each side listed in a failure
_NAN = float("nan")  # every NaN cell as this one object: equal to itself in a Counter


def _plain(value):
    """A cell as a hashable, comparable value: Rows and lists as tuples, maps as sorted pairs."""
    if isinstance(value, float) and value != value:
        return _NAN
    if isinstance(value, (Row, list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((_plain(k), _plain(v)) for k, v in value.items()))
    return value


def rows_of(df: DataFrame | Iterable) -> list[tuple]:
    """The rows of a DataFrame (collected) or of an iterable of rows, as plain tuples."""
    return [_plain(r) for r in (df.collect() if isinstance(df, DataFrame) else df)]


def _fields(schema: T.StructType) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def schema_differences(actual: T.StructType, expected: T.StructType) -> list[str]:
    """Columns missing, unexpected, of another type or in another order; nullability ignored."""
    a, e = _fields(actual), _fields(expected)
    if a == e:
        return []
    a_types, e_types = dict(a), dict(e)
    out = [f"missing column {n} {t}" for n, t in e if n not in a_types]
    out += [f"unexpected column {n} {t}" for n, t in a if n not in e_types]
    out += [f"column {n}: {a_types[n]}, expected {t}" for n, t in e if n in a_types and a_types[n] != t]
    if not out:
        out.append(f"columns in another order: {[n for n, _ in a]}, expected {[n for n, _ in e]}")
    return out


def _sortable(row: tuple):
    return tuple((v is None, str(type(v)), v if isinstance(v, (int, float, str)) else repr(v)) for v in row)


def row_differences(actual: Iterable, expected: Iterable) -> list[str]:
    """Rows only in `expected` (missing) and only in `actual` (unexpected), counted as multisets."""
    a, e = Counter(map(_plain, actual)), Counter(map(_plain, expected))
    missing, extra = sorted((e - a).elements(), key=_sortable), sorted((a - e).elements(), key=_sortable)
    out = []
    for label, rows in (("missing", missing), ("unexpected", extra)):
        if rows:
            out.append(f"{len(rows)} {label} row(s):")
            out += [f"  {r!r}" for r in rows[:SHOWN]] + ([f"  … {len(rows) - SHOWN} more"] if len(rows) > SHOWN else [])
    return out


def assert_frame_equal(actual: DataFrame, expected: DataFrame | Iterable, *, check_schema: bool = True) -> None:
    """Same schema (when `expected` is a DataFrame and `check_schema`) and the same rows in any order."""
    problems = []
    if check_schema and isinstance(expected, DataFrame):
        problems += schema_differences(actual.schema, expected.schema)
    problems += row_differences(rows_of(actual), rows_of(expected))
    if problems:
        raise AssertionError("DataFrames differ:\n" + "\n".join(problems))


def table_contents(spark, specs) -> dict[str, pd.DataFrame]:
    """Every row of each table (TableSpecs) of the session's warehouse in pandas, sorted by the
    table's natural key, arrays as tuples (comparable cell by cell)."""
    from greenlink.core import tables

    out = {}
    for spec in specs:
        df = tables.read(spark, spec.name).toPandas()
        for c in df.columns:
            if df[c].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
                df[c] = df[c].map(lambda v: None if v is None else tuple(v))
        keys = list(spec.keys) or list(df.columns[:2])
        out[spec.name] = df.sort_values(keys).reset_index(drop=True)
    return out
