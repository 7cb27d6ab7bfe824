"""Reject and duplicate rules every input stage shares (ingest, controls, policy).

A checked row carries a reason (NULL = accepted) and a detail: the first check in a stage's
order that fails gives both (`first_problem`). Among the rows that pass, a later row of the
same group (same record hash, same city-year, same policy id) is a repeat of the group's
first row by position in the input (`mark_first`): each stage then says what a repeat is
(duplicate_row, conflicting_rows, duplicate_policy_id). Accepted rows go to the stage's
table (`accepted_rows`), the others to its rejects table.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def first_problem(*checks: tuple[Column, Column]) -> tuple[Column, Column]:
    """(reason, detail) of the first (reason, detail) pair whose reason is not NULL: checks run
    in the order given."""
    return F.coalesce(*[r for r, _ in checks]), F.coalesce(*[F.when(r.isNotNull(), d) for r, d in checks])


def mark_first(df: DataFrame, keys: Sequence[str], ok: Column,
               position: Sequence[str] = ("source_file", "source_row"), carry: Sequence[str] = ()) -> DataFrame:
    """Adds `_first`: struct(*position, *carry) of the group's first `ok` row by `position`
    (NULL when no row of the group is ok), and `_repeat`: an ok row that is not that first one.

    An unordered window (a min over the group) rather than a ranking: one pass, no sort within
    the group, which matters on ingest's row counts. `position` must identify a row."""
    first = F.min(F.when(ok, F.struct(*position, *carry))).over(Window.partitionBy(*keys))
    df = df.withColumn("_first", first)
    here = F.struct(*[F.col(c) for c in position])
    at = F.struct(*[F.col(f"_first.{c}").alias(c) for c in position])
    return df.withColumn("_repeat", ok & (at != here))


def first_at(sep: str = ":", position: Sequence[str] = ("source_file", "source_row")) -> Column:
    """`<file><sep><row>` of the `_first` row that `mark_first` added."""
    return F.concat_ws(sep, *[F.col(f"_first.{c}") for c in position])


def accepted_rows(checked: DataFrame, columns: Sequence[str], reason: str = "reason") -> DataFrame:
    """The rows without a reason, as `columns` (a table's schema order)."""
    return checked.where(F.col(reason).isNull()).select(*columns)
