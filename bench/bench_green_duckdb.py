"""Single-machine reference: the SPEC §2 green classification as ONE DuckDB SQL query.

Reads Parquet files with columns (application_no, ipc) and returns, per patent,
n_ipc_valid, is_green, categories, topics, green_entries — the same values as
`greenlink.silver.green.classify_green` on Spark (tests/unit/silver/test_green.py checks this on a
sample). The normaliser is the same data (`greenlink.reference.ipc.TOKEN_STEPS`, character map,
CANONICAL pattern) written in DuckDB's RE2 dialect; the inventory is the same parsed rule
table (`inventory.inventory_rows`), registered as the relation `inventory`.

    .venv/bin/python bench/bench_green_duckdb.py --patents 'DIR/*.parquet' [--threads 2] [--out FILE.parquet]

prints one JSON line: rows, green, seconds (query incl. materialising the result),
rows_per_s, peak_rss_mb of this process.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from greenlink.reference import ipc
from greenlink.reference.inventory import Rule, inventory_rows, read_inventory
from greenlink.silver.green import INVENTORY_SCHEMA

_ARROW_TYPES = {"IntegerType": pa.int32(), "LongType": pa.int64(), "StringType": pa.string()}


def _lit(s: str) -> str:
    """SQL string literal (patterns are inlined so DuckDB compiles each regex once)."""
    return "'" + s.replace("'", "''") + "'"


def _translate_sql(expr: str) -> str:
    """ipc's character map. DuckDB's translate() is slow with a long character set, so it
    only runs on strings holding a character the map changes: anything outside printable
    ASCII, or a lower-case letter. The map leaves every other character as it is, so the
    guard does not change the result."""
    return (f"CASE WHEN regexp_matches({expr}, '[^ -`{{-~]') "
            f"THEN translate({expr}, {_lit(ipc.TRANSLATE_FROM)}, {_lit(ipc.TRANSLATE_TO)}) ELSE {expr} END")


def _normalise_sql(expr: str) -> str:
    """DuckDB version of ipc.normalise_ipc: canonical symbol or '' (invalid)."""
    s = _translate_sql(expr)
    for pattern, repl in ipc.TOKEN_STEPS:
        s = f"regexp_replace({s}, {_lit(pattern)}, {_lit(repl)}, 'g')"
    return f"regexp_extract({s}, {_lit(ipc.CANONICAL)}, 1)"


def green_query(patents: str | None = None, relation: str | None = None) -> str:
    """The whole classification as one SQL statement over `read_parquet(patents)`, or over
    the table or view `relation` (columns application_no, ipc; application_no unique)."""
    source = relation if relation else f"read_parquet({_lit(patents)})"
    mapped = _translate_sql("coalesce(ipc, '')")
    field = (f"regexp_replace({mapped}, "
             f"{_lit(ipc.FIELD_SPLIT_INSERT[0])}, {_lit(ipc.FIELD_SPLIT_INSERT[1])}, 'g')")
    return f"""
WITH patents AS (
    SELECT application_no, ipc FROM {source}
), tokens AS (
    SELECT application_no, unnest(string_split_regex({field}, {_lit(ipc.FIELD_SEPARATORS)})) AS token
    FROM patents
), symbols AS (
    SELECT DISTINCT application_no, {_normalise_sql('token')} AS symbol
    FROM tokens
    WHERE replace(token, ' ', '') <> ''
), valid AS (
    SELECT application_no, symbol,
           symbol[1:3] AS ipc_class,
           CASE WHEN length(symbol) >= 4 THEN symbol[1:4] END AS subclass,
           CASE WHEN contains(symbol, ' ') THEN
               CAST(regexp_extract(symbol, ' ([0-9]+)/', 1) AS BIGINT) * {ipc.KEY_SCALE}
               + CAST(rpad(split_part(symbol, '/', 2), {ipc.SUBGROUP_DIGITS}, '0') AS BIGINT)
           END AS sort_key
    FROM symbols
    WHERE symbol <> ''
), matched AS (
    SELECT v.application_no, i.rule_id, i.part, i.n_parts
    FROM valid v JOIN inventory i
      ON v.ipc_class = i.ipc_class
     AND (i.level = 'class'
          OR (v.subclass = i.subclass
              AND (i.key_lo IS NULL OR (v.sort_key >= i.key_lo AND v.sort_key < i.key_hi))))
), satisfied AS (
    -- a combined rule needs both of its parts on the patent
    SELECT application_no, rule_id
    FROM matched
    GROUP BY application_no, rule_id
    HAVING count(DISTINCT part) = max(n_parts)
), labels AS (
    SELECT s.application_no,
           list_sort(list_distinct(flatten(list(r.categories)))) AS categories,
           list_sort(list_distinct(flatten(list(r.topics)))) AS topics,
           list_sort(list_distinct(list(r.entry))) AS green_entries
    FROM satisfied s
    JOIN (SELECT DISTINCT rule_id, entry, categories, topics FROM inventory) r USING (rule_id)
    GROUP BY s.application_no
), n_valid AS (
    SELECT application_no, count(*) AS n_ipc_valid FROM valid GROUP BY application_no
)
SELECT p.application_no,
       coalesce(n.n_ipc_valid, 0) AS n_ipc_valid,
       l.application_no IS NOT NULL AS is_green,
       coalesce(l.categories, []::VARCHAR[]) AS categories,
       coalesce(l.topics, []::VARCHAR[]) AS topics,
       coalesce(l.green_entries, []::VARCHAR[]) AS green_entries
FROM patents p
LEFT JOIN n_valid n USING (application_no)
LEFT JOIN labels l USING (application_no)
"""


def inventory_arrow(rules: list[Rule]) -> pa.Table:
    fields = []
    for f in INVENTORY_SCHEMA.fields:
        name = type(f.dataType).__name__
        fields.append(pa.field(f.name, pa.list_(pa.string()) if name == "ArrayType" else _ARROW_TYPES[name]))
    return pa.Table.from_pylist(inventory_rows(rules), schema=pa.schema(fields))


def connect(rules: list[Rule] | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.register("inventory", inventory_arrow(rules if rules is not None else read_inventory()))
    return con


def classify_duckdb(patents: str, rules: list[Rule] | None = None, threads: int | None = None) -> pd.DataFrame:
    """Result of the query as pandas (small inputs: tests and spot checks)."""
    con = connect(rules, threads)
    try:
        return con.execute(green_query(patents)).df()
    finally:
        con.close()


def count_green_duckdb(patents: str, threads: int | None = None) -> tuple[int, int]:
    """(patents, green patents) of the query, counted inside DuckDB: what the Spark side of
    bench_pipeline's reference computes (an aggregate), without 8.6M result rows in pandas."""
    con = connect(None, threads)
    try:
        rows, green = con.execute(f"SELECT count(*), count(*) FILTER (WHERE is_green) FROM ({green_query(patents)})"
                                  ).fetchone()
        return int(rows), int(green)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patents", required=True, help="Parquet file or glob with application_no, ipc")
    parser.add_argument("--inventory", default=None, help="inventory CSV (default conf/ipc_green_inventory.csv)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the result to this Parquet file")
    args = parser.parse_args(argv)
    con = connect(read_inventory(args.inventory), args.threads)
    query = green_query(args.patents)
    t0 = time.perf_counter()
    if args.out:
        con.execute(f"COPY ({query}) TO {_lit(str(Path(args.out)))} (FORMAT parquet)")
        rows, green = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE is_green) FROM read_parquet({_lit(args.out)})").fetchone()
    else:
        con.execute(f"CREATE TEMP TABLE result AS {query}")
        rows, green = con.execute("SELECT count(*), count(*) FILTER (WHERE is_green) FROM result").fetchone()
    seconds = time.perf_counter() - t0
    peak_mb = _peak_rss_mb()
    print(json.dumps({"engine": "duckdb", "threads": args.threads, "rows": rows, "green": green,
                      "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds) if seconds else None,
                      "peak_rss_mb": round(peak_mb, 1)}))
    return 0


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (DuckDB runs in-process)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB on Linux


if __name__ == "__main__":
    sys.exit(main())
