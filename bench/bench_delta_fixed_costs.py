"""Fixed cost of Delta table operations on a fresh warehouse (issue 11; not a test).

    .venv/bin/python bench/bench_delta_fixed_costs.py [--root /tmp/bdelta] [--repeat 3]

A demo run or a test writes dozens of small tables into an empty warehouse, so what a table
costs before its first row (defining it, its CHECK constraints) and per small write is paid
over and over. For every table of the catalog this times, in one SparkSession:

- `define`: `tables.ensure` on a fresh path — one commit carrying columns, partitioning,
  properties and the CHECKs as `delta.constraints.*` properties;
- `define_by_alter`: the same definition made the way `ensure` did before issue 11 — create,
  then one `ALTER TABLE … ADD CONSTRAINT` per CHECK (each a commit and a scan job);
- `overwrite_empty`: `tables.write` of an empty frame into the defined table (the write
  path's snapshot, commit and file listing without the data).

Prints one line per table and the totals as JSON (`--json OUT` to keep them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from delta.tables import DeltaTable

from greenlink.core import catalog, tables
from greenlink.core.session import get_spark


def define_by_alter(spark, spec: tables.TableSpec, loc: str) -> None:
    """The definition as two-step DDL: create, then ALTER per CHECK constraint."""
    builder = DeltaTable.createIfNotExists(spark).location(loc).addColumns(spec.table_schema())
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    for k, v in spec.properties().items():
        builder = builder.property(k, v)
    builder.execute()
    spark.sql(f"SHOW TBLPROPERTIES delta.`{loc}`").collect()
    for name, expr in spec.checks.items():
        spark.sql(f"ALTER TABLE delta.`{loc}` ADD CONSTRAINT {name} CHECK ({expr})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/bdelta")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    root = Path(a.root)
    shutil.rmtree(root, ignore_errors=True)
    spark = get_spark("local", str(root / "warehouse"))
    spark.range(1).count()                       # JVM warm before the first timing
    specs = catalog.specs()
    rows, totals = [], {"define": 0.0, "define_by_alter": 0.0, "overwrite_empty": 0.0}
    for rep in range(a.repeat):
        for spec in specs.values():
            t = time.monotonic()
            tables.ensure(spark, spec)
            define = time.monotonic() - t
            t = time.monotonic()
            tables.write(spark.createDataFrame([], spec.schema), spec)
            write = time.monotonic() - t
            t = time.monotonic()
            define_by_alter(spark, spec, str(root / f"alter{rep}" / spec.name))
            alter = time.monotonic() - t
            row = {"rep": rep, "table": spec.name, "checks": len(spec.checks), "define_s": round(define, 2),
                   "define_by_alter_s": round(alter, 2), "overwrite_empty_s": round(write, 2)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            if rep == a.repeat - 1:
                totals["define"] += define
                totals["define_by_alter"] += alter
                totals["overwrite_empty"] += write
        shutil.rmtree(root / "warehouse", ignore_errors=True)
        tables._ENSURED.clear()
    out = {"command": " ".join(["python", *sys.argv]), "tables": len(specs),
           "last_repeat_totals_s": {k: round(v, 1) for k, v in totals.items()},
           "load_avg_1min": os.getloadavg()[0], "rows": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
