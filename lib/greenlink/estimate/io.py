"""Read a city-year panel from a file (CSV, Parquet) or a Delta table path, without Spark.

Delta tables are read with the `deltalake` package (delta-rs), which needs the table to stay
at reader version 1 (docs/architecture.md, Delta conventions).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from greenlink.core.errors import UserError


def read_panel(path: str | Path) -> pd.DataFrame:
    """The panel as a pandas DataFrame; the format follows the path (a folder with _delta_log
    is a Delta table, *.parquet/*.pq Parquet, *.csv/*.tsv delimited text)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"panel not found: {p}")
    try:
        if p.is_dir():
            if not (p / "_delta_log").is_dir():
                raise UserError(f"{p} is a folder but not a Delta table (no _delta_log)")
            from deltalake import DeltaTable  # local: delta-rs only for a Delta panel

            return DeltaTable(str(p)).to_pandas()
        suffix = p.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
    except UserError:
        raise
    except Exception as exc:  # parser and reader errors of pandas / pyarrow / delta-rs
        raise UserError(f"cannot read panel {p}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    raise UserError(f"panel {p}: unknown format {p.suffix!r} (use .csv, .tsv, .parquet or a Delta table folder)")
