"""Spark-free access to a warehouse for analysts and notebooks: pandas through delta-rs
(`deltalake`) and SQL through DuckDB's delta extension.

Tables are found by path, `<warehouse>/<layer>/<name>` holding a `_delta_log` (the layout of
greenlink.core.tables), so nothing here needs a SparkSession or a catalog. Both readers need the
tables at Delta reader version 1 (docs/architecture.md, "Delta conventions").

    from greenlink.ops.analyst import read_table, duckdb_connection
    panel = read_table("warehouse", "gold.city_year_panel")
    con = duckdb_connection("warehouse")
    con.sql("SELECT year, avg(ln_gtr) FROM gold.city_year_panel GROUP BY year").df()
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import duckdb_extension_delta
import pandas as pd
from deltalake import DeltaTable

from greenlink.core.errors import UserError

# The layers of greenlink.core.tables.LAYERS (not imported: this module must not load PySpark).
LAYERS = ("bronze", "silver", "gold", "_meta")
WAREHOUSE_ENV = "GREENLINK_WAREHOUSE"


def warehouse_root(warehouse: str | Path | None = None) -> Path:
    """The warehouse given, else $GREENLINK_WAREHOUSE, else ./warehouse (the local default)."""
    root = Path(warehouse or os.environ.get(WAREHOUSE_ENV) or "warehouse").expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"warehouse {root} does not exist: run the pipeline or set {WAREHOUSE_ENV}")
    return root


def table_path(warehouse: str | Path, name: str) -> Path:
    """`<warehouse>/<layer>/<table>` for `layer.table`."""
    layer, _, table = name.partition(".")
    if layer not in LAYERS or not table:
        raise UserError(f"table name {name!r} must be <layer>.<name>, layer in {LAYERS}")
    return Path(warehouse) / layer / table


def table_names(warehouse: str | Path) -> list[str]:
    """Every Delta table under the warehouse, as `layer.name`, sorted."""
    root = Path(warehouse)
    return sorted(f"{layer}.{d.name}" for layer in LAYERS if (root / layer).is_dir()
                  for d in (root / layer).iterdir() if (d / "_delta_log").is_dir())


def _existing(warehouse: str | Path, name: str) -> Path:
    p = table_path(warehouse, name)
    if not (p / "_delta_log").is_dir():
        raise UserError(f"table {name} does not exist at {p}: run the stage that writes it first")
    return p


def read_table(warehouse: str | Path, name: str, version: int | None = None,
               columns: list[str] | None = None) -> pd.DataFrame:
    """The table (optionally as of a Delta version) as pandas, read by delta-rs."""
    dt = DeltaTable(str(_existing(warehouse, name)), version=version)
    return dt.to_pandas(columns=columns)


def table_version(warehouse: str | Path, name: str) -> int:
    """The table's current Delta version."""
    return int(DeltaTable(str(_existing(warehouse, name))).version())


def delta_extension() -> Path:
    """The DuckDB delta extension shipped by the `duckdb-extension-delta` package (no download)."""
    path = (Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}"
            / "delta.duckdb_extension")
    if not path.exists():
        raise UserError(f"no DuckDB delta extension for duckdb {duckdb.__version__} at {path}: "
                        "duckdb-extension-delta must have the same version as duckdb")
    return path


def duckdb_connection(warehouse: str | Path | None = None, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every table of the warehouse as a view `layer.name` over
    `delta_scan` (views read the table's latest version each time they are queried)."""
    root = warehouse_root(warehouse)
    con = duckdb.connect(database)
    con.execute(f"LOAD '{delta_extension()}'")
    for name in table_names(root):
        layer, _, table = name.partition(".")
        path = str(table_path(root, name)).replace("'", "''")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
        con.execute(f'CREATE OR REPLACE VIEW "{layer}"."{table}" AS SELECT * FROM delta_scan(\'{path}\')')
    return con
