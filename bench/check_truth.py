"""A whole-pipeline warehouse against its generated world's truth, without Spark (issue 11:
"equality with truth at 1M and 8.6M").

    .venv/bin/python bench/check_truth.py --world ROOT/world --warehouse ROOT/warehouse [--json OUT]

Checks, with DuckDB on the Delta tables (delta-rs file lists) and the truth Parquet files:
- silver.patents holds exactly truth's accepted patents (`fate = 'accepted'`), with truth's
  `is_green` and categories (as sets);
- gold.city_year_panel has truth's city-years, every count variable equal and every ratio and
  centrality within 1e-12 (tests/integration/test_panel_world.py does the same on the test worlds).
Exit status 1 when anything differs; the JSON lists every figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
from deltalake import DeltaTable

EXACT = ("rsi", "ex", "rsi_ip", "gtr", "gtr_local", "gtr_other", "ex_gt", "gtr_ip", "app")
FLOATS = ("in", "DC", "BC", "in_gt", "dc_out", "dc_in", "bc_gt")


def delta_relation(con: duckdb.DuckDBPyConnection, table: Path, name: str) -> None:
    """A view `name` over the current version's Parquet files of a Delta table."""
    files = DeltaTable(str(table)).file_uris()
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = false)")


def check(world: Path, warehouse: Path, threads: int = 2) -> dict:
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    delta_relation(con, warehouse / "silver" / "patents", "patents")
    delta_relation(con, warehouse / "gold" / "city_year_panel", "panel")
    truth = world / "truth"
    con.execute(f"CREATE VIEW t_patents AS SELECT * FROM read_parquet('{truth / 'patents.parquet'}') "
                "WHERE fate = 'accepted'")
    con.execute(f"CREATE VIEW t_panel AS SELECT * FROM read_parquet('{truth / 'city_year.parquet'}')")
    out: dict = {}
    out["silver_patents"], out["truth_accepted"] = (int(v) for v in con.execute(
        "SELECT (SELECT count(*) FROM patents), (SELECT count(*) FROM t_patents)").fetchone())
    out["patents_only_in_silver"], out["patents_only_in_truth"], out["green_differs"], out["categories_differ"], \
        out["green"] = (int(v or 0) for v in con.execute("""
        SELECT count(*) FILTER (WHERE t.application_no IS NULL),
               count(*) FILTER (WHERE p.application_no IS NULL),
               count(*) FILTER (WHERE p.is_green IS DISTINCT FROM t.is_green AND p.application_no IS NOT NULL
                                AND t.application_no IS NOT NULL),
               count(*) FILTER (WHERE list_sort(list_distinct(coalesce(p.categories, [])))
                                      IS DISTINCT FROM list_sort(list_distinct(coalesce(t.categories, [])))
                                AND p.application_no IS NOT NULL AND t.application_no IS NOT NULL),
               count(*) FILTER (WHERE p.is_green)
        FROM patents p FULL JOIN t_patents t USING (application_no)""").fetchone())
    keys = "CAST(p.city_code AS VARCHAR) = CAST(t.city_code AS VARCHAR) AND p.year = t.year"
    out["panel_rows"], out["truth_rows"], out["panel_rows_matched"] = (int(v) for v in con.execute(
        f"SELECT (SELECT count(*) FROM panel), (SELECT count(*) FROM t_panel), "
        f"(SELECT count(*) FROM panel p JOIN t_panel t ON {keys})").fetchone())
    diffs = ", ".join([f'count(*) FILTER (WHERE p."{c}" IS DISTINCT FROM CAST(t."{c}" AS BIGINT))' for c in EXACT]
                      + [f'max(abs(p."{c}" - t."{c}"))' for c in FLOATS])
    row = con.execute(f"SELECT {diffs} FROM panel p JOIN t_panel t ON {keys}").fetchone()
    out["count_variables_differing_rows"] = {c: int(v) for c, v in zip(EXACT, row[:len(EXACT)])}
    out["max_abs_difference"] = {c: float(v or 0.0) for c, v in zip(FLOATS, row[len(EXACT):])}
    out["ok"] = (out["silver_patents"] == out["truth_accepted"] and out["patents_only_in_silver"] == 0
                 and out["patents_only_in_truth"] == 0 and out["green_differs"] == 0 and out["categories_differ"] == 0
                 and out["panel_rows"] == out["truth_rows"] == out["panel_rows_matched"]
                 and not any(out["count_variables_differing_rows"].values())
                 and all(v <= 1e-12 for v in out["max_abs_difference"].values()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--warehouse", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    t = time.monotonic()
    result = check(a.world, a.warehouse, a.threads)
    result["seconds"] = round(time.monotonic() - t, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
