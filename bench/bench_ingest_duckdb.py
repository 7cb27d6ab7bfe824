"""Single-machine reference for ingest + dedupe + green: what a user without Spark would write,
in ONE DuckDB connection (issue 11, item 2). A benchmark helper, not part of the library.

    .venv/bin/python bench/bench_ingest_duckdb.py --world DIR [--threads 2] [--warehouse WH]

Reads <world>/patents/: every UTF-8 (with or without BOM) CSV file with read_csv (all
varchar, header aliases of conf/headers.yaml mapped to canonical names) and every Parquet
file. GB18030 CSV and .xlsx files are SKIPPED (DuckDB needs a downloaded extension for
GB18030, and a spreadsheet is not what this reference times); the output lists them with
their data rows, so a ratio against Spark's whole-dump ingest can be read honestly.

Rules, as plain SQL: application number normalised like greenlink.bronze.fields (full-width folded,
upper case, no whitespace/dots/BOM, CN/ZL prefixes cut, 12- or 8-digit body, check digit
computed; a wrong given check digit = invalid); dates parsed in the forms of greenlink.reference.dates;
rows kept with a valid number, an application date in 1985-2030, a grant date that is empty
or valid (not before the application), a known patent type; exact duplicate rows dropped;
one record per application number (parseable IPC first, then an applicant, then a grant
date, then file/row); green classification by bench_green_duckdb.green_query. "accepted"
is what silver.patents keeps: distinct applications whose chosen record has a parseable IPC
symbol and an applicant. Not done: reasons for malformed lines (read_csv skips lines it cannot
split and only their count is reported), reject tables and details, lineage hashes, applicant location.

Prints one JSON document (rows_read, rows_valid, rows_after_exact_dedupe,
distinct_applications, accepted, green, seconds, files_skipped, ...); with --warehouse, also
`check`: the same counts from silver.patents restricted to the files read here, and the
differences.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_green_duckdb import _lit, _peak_rss_mb, connect, green_query  # noqa: E402  (bench/ helpers)

from greenlink.bronze import layout  # noqa: E402
from greenlink.core.text import PLAUSIBLE_YEARS  # noqa: E402

YEAR_MIN, YEAR_MAX = PLAUSIBLE_YEARS

# the library's own character map and number form, so both sides fold and match alike
from greenlink.core.text import FULLWIDTH, HALFWIDTH  # noqa: E402
from greenlink.reference.ids import FORM  # noqa: E402


def _folded(expr: str) -> str:
    """Full-width ASCII folded; translate() only runs on strings with a non-ASCII character
    (it is slow with a long character set, see bench_green_duckdb._translate_sql)."""
    return (f"CASE WHEN regexp_matches({expr}, '[^\\x00-\\x7F]') "
            f"THEN translate({expr}, {_lit(FULLWIDTH)}, {_lit(HALFWIDTH)}) ELSE {expr} END")


def _check_digit_sql(body: str) -> str:
    """CNIPA check digit of a 12- or 8-digit body: weights 2..9,2..5, sum mod 11, 10 = X.
    Positions past an 8-digit body are empty strings and count 0."""
    total = " + ".join(f"coalesce(TRY_CAST(substr({body}, {i + 1}, 1) AS INTEGER), 0) * {2 + i % 8}"
                       for i in range(12))
    return f"CASE ({total}) % 11 WHEN 10 THEN 'X' ELSE CAST(({total}) % 11 AS VARCHAR) END"


def _date_sql(expr: str) -> str:
    """greenlink.bronze.fields.parse_date in DuckDB: every accepted form rewritten to y-m-d, shape
    checked (no 3-digit month), then a calendar check by try_strptime (2018-02-30 -> NULL)."""
    from greenlink.reference.dates import COMPACT, SEPARATED

    ymd = (f"regexp_replace(regexp_replace({_folded(expr)}, {_lit(SEPARATED)}, '\\1-\\2-\\3'), "
           f"{_lit(COMPACT)}, '\\1-\\2-\\3')")
    return (f"CASE WHEN regexp_matches({ymd}, '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}$') "
            f"THEN CAST(try_strptime({ymd}, '%Y-%m-%d') AS DATE) END")


def _blank_sql(expr: str) -> str:
    return f"({expr} IS NULL OR regexp_matches({expr}, '^[\\s\\x{{3000}}\\x{{FEFF}}]*$'))"


def list_patent_files(world: Path, conf: layout.IngestSettings) -> tuple[list[dict], list[dict]]:
    """(readable, skipped): per file its relpath, format, column positions; skipped files
    carry their data-row count so the output can say what the reference did not read."""
    kind = conf.kinds["patents"]
    readable, skipped = [], []
    for path, rel, fmt in layout.folder_files(world, "patents", "the reference reads <world>/patents/"):
        if fmt == "csv":
            enc = layout.guess_encoding(layout._first_line(path))
            if enc == "GB18030":
                # counted inside the timing: a little slower reference, never a flattering ratio
                rows = max(path.read_bytes().count(b"\n") - 1, 0)     # data lines, header excluded
                skipped.append({"file": rel, "format": "csv GB18030", "data_rows": rows})
                continue
            headers = layout.csv_headers(path, enc)
        elif fmt == "parquet":
            headers, _ = layout.parquet_header(path, rel)
        else:
            skipped.append({"file": rel, "format": fmt or path.suffix, "data_rows": _xlsx_rows(path, rel)})
            continue
        readable.append({"path": str(path), "file": rel, "format": fmt, "headers": headers,
                         "columns": layout.match_columns(headers, kind, rel)})
    return readable, skipped


def _xlsx_rows(path: Path, rel: str) -> int | None:
    if path.suffix.lower() != ".xlsx":
        return None
    from greenlink.bronze.readers import open_first_sheet

    wb, rows = open_first_sheet(path, rel)
    try:
        return max(sum(1 for r in rows if any(v is not None for v in r)) - 1, 0)
    finally:
        wb.close()


def _source_sql(f: dict, columns: tuple[str, ...]) -> str:
    """One file as (source_file, source_row, canonical raw columns as varchar)."""
    names = [f"c{i}" for i in range(len(f["headers"]))]
    if f["format"] == "csv":
        # store_rejects: lines read_csv cannot split into the header's fields are skipped and
        # counted (reject_errors), where Spark makes them malformed_row rejects
        # own column names over the header line: aliases are matched by position, whatever
        # DuckDB would make of duplicate or BOM-prefixed header names
        scan = (f"read_csv({_lit(f['path'])}, header = true, all_varchar = true, names = {names!r}, "
                "delim = ',', quote = '\"', escape = '\"', store_rejects = true, null_padding = false)")
        col = lambda i: names[i]  # noqa: E731
    else:
        scan = f"read_parquet({_lit(f['path'])})"
        col = lambda i: '"' + f["headers"][i].replace('"', '""') + '"'  # noqa: E731
    picked = ", ".join("NULL::VARCHAR" if f["columns"][c] is None else f"CAST({col(f['columns'][c])} AS VARCHAR)"
                       + f" AS {c}" for c in columns)
    # row order of one file scan is kept (preserve_insertion_order), so row_number is the data row
    # (lines the reader skips shift it against Spark's source_row: it only breaks ties here)
    return (f"SELECT {_lit(f['file'])} AS source_file, row_number() OVER () AS source_row, {picked} "
            f"FROM {scan}")


def ingest_sql(files: list[dict], columns: tuple[str, ...]) -> str:
    """Raw rows -> `raw`, the valid ones -> `parsed`, without exact duplicates -> `distinct_rows`."""
    raw = "\nUNION ALL BY NAME\n".join(f"({_source_sql(f, columns)})" for f in files)
    compact = f"regexp_replace(regexp_replace(upper({_folded('application_no')}), '[\\s.\\x{{FEFF}}]', '', 'g'), '^(CN|ZL)+', '')"
    type_key = f"lower(regexp_replace({_folded('patent_type')}, '\\s', '', 'g'))"
    return f"""
CREATE TEMP TABLE raw AS {raw};
CREATE TEMP TABLE parsed AS
WITH ids AS (
    SELECT *, regexp_extract(_s, {_lit(FORM)}, 1) AS _body, regexp_extract(_s, {_lit(FORM)}, 2) AS _given
    FROM (SELECT *, {compact} AS _s FROM raw)
), dated AS (
    SELECT *, CASE WHEN _body <> '' THEN {_check_digit_sql('_body')} END AS _expected,
           {_date_sql('application_date')} AS app_date, {_date_sql('grant_date')} AS grant_dt,
           t.canonical AS ptype
    FROM ids LEFT JOIN type_spellings t ON t.spelling = {type_key}
)
SELECT *, _body || '.' || _expected AS appno
FROM dated
WHERE _body <> '' AND (_given = '' OR _given = _expected)
  AND year(app_date) BETWEEN {YEAR_MIN} AND {YEAR_MAX}
  AND ({_blank_sql('grant_date')} OR (grant_dt >= app_date AND year(grant_dt) BETWEEN {YEAR_MIN} AND {YEAR_MAX}))
  AND ptype IS NOT NULL;
CREATE TEMP TABLE distinct_rows AS
SELECT * FROM parsed
QUALIFY row_number() OVER (PARTITION BY {', '.join(columns)} ORDER BY source_file, source_row) = 1;
CREATE TEMP VIEW green_in AS SELECT source_file || '#' || source_row AS application_no, ipc FROM distinct_rows;
"""


def records_sql() -> str:
    """Green classification of every distinct valid record (as classify does, so the choice
    among an application's records can prefer a parseable IPC), then one record per number."""
    has_applicant = "regexp_matches(coalesce(d.applicants, ''), '[^\\s\\x{3000};；,，、]')"
    filled = "(d.publication_no IS NOT NULL)::INT + (d.applicant_address IS NOT NULL)::INT"
    return f"""
CREATE TEMP TABLE green AS {green_query(relation='green_in')};
CREATE TEMP TABLE records AS
SELECT d.appno AS application_no, g.n_ipc_valid, g.is_green, {has_applicant} AS has_applicant,
       count(*) OVER (PARTITION BY d.appno) AS n_records
FROM distinct_rows d JOIN green g ON g.application_no = d.source_file || '#' || d.source_row
QUALIFY row_number() OVER (PARTITION BY d.appno ORDER BY g.n_ipc_valid > 0 DESC, {has_applicant} DESC,
                           d.grant_dt IS NOT NULL DESC, {filled} DESC, d.source_file, d.source_row) = 1;
"""


COUNTS = """
SELECT (SELECT count(*) FROM raw) AS rows_read,
       {skipped_lines} AS csv_lines_skipped_by_reader,
       (SELECT count(*) FROM parsed) AS rows_valid,
       (SELECT count(*) FROM distinct_rows) AS rows_after_exact_dedupe,
       count(*) AS distinct_applications,
       count(*) FILTER (WHERE n_ipc_valid > 0 AND has_applicant) AS accepted,
       count(*) FILTER (WHERE n_ipc_valid > 0 AND has_applicant AND is_green) AS green
FROM records
"""


def run_reference(world: str | Path, threads: int = 2) -> dict:
    """The reference on one world; returns its counts and seconds (file listing + SQL),
    and the open connection under "_con" for the caller's checks."""
    t0 = time.perf_counter()
    conf = layout.load_conf()
    files, skipped = list_patent_files(Path(world), conf)
    con = connect(threads=threads)
    con.register("type_spellings", pa.table({"spelling": list(conf.patent_types),
                                             "canonical": list(conf.patent_types.values())}))
    columns = conf.kinds["patents"].columns
    con.execute(ingest_sql(files, columns))
    con.execute(records_sql())
    # reject_errors exists once a read_csv with store_rejects ran
    skipped_lines = ("(SELECT count(DISTINCT (scan_id, line)) FROM reject_errors)"
                     if any(f["format"] == "csv" for f in files) else "0")
    counts = dict(zip(("rows_read", "csv_lines_skipped_by_reader", "rows_valid", "rows_after_exact_dedupe", "distinct_applications",
                       "accepted", "green"), con.execute(COUNTS.format(skipped_lines=skipped_lines)).fetchone()))
    seconds = time.perf_counter() - t0
    return {"engine": "duckdb", "threads": threads, "world": str(world), **counts,
            "seconds": round(seconds, 2), "peak_rss_mb": round(_peak_rss_mb(), 1),
            "files_read": [f["file"] for f in files], "files_skipped": skipped,
            "rows_skipped": sum(s["data_rows"] or 0 for s in skipped), "_con": con}


def check_warehouse(con: duckdb.DuckDBPyConnection, warehouse: str | Path, files: list[str], ours: dict) -> dict:
    """silver.patents restricted to patents whose chosen record comes from the files read here,
    against our accepted records from the same files. A patent whose records span read and
    skipped files may be chosen from a different file on each side: counted in `spanning`."""
    from greenlink.ops.analyst import duckdb_connection

    wh = duckdb_connection(warehouse)
    try:
        silver = wh.execute(
            "SELECT application_no, is_green, source_file FROM silver.patents").to_arrow_table()
    finally:
        wh.close()
    con.register("silver_all", silver)
    con.register("read_files", pa.table({"file": files}))
    row = con.execute("""
WITH ours AS (SELECT application_no, is_green FROM records WHERE n_ipc_valid > 0 AND has_applicant),
     theirs AS (SELECT application_no, is_green FROM silver_all WHERE source_file IN (SELECT file FROM read_files))
SELECT (SELECT count(*) FROM theirs), (SELECT count(*) FILTER (WHERE is_green) FROM theirs),
       (SELECT count(*) FROM ours o ANTI JOIN theirs t USING (application_no)),
       (SELECT count(*) FROM theirs t ANTI JOIN ours o USING (application_no)),
       (SELECT count(*) FROM ours o JOIN theirs t USING (application_no) WHERE o.is_green <> t.is_green),
       (SELECT count(*) FROM ours o ANTI JOIN theirs t USING (application_no)
         WHERE application_no IN (SELECT application_no FROM silver_all))
""").fetchone()
    out = {"silver_accepted": row[0], "silver_green": row[1],
           "diff_accepted": ours["accepted"] - row[0], "diff_green": ours["green"] - row[1],
           "only_duckdb": row[2], "only_silver": row[3], "green_disagree": row[4],
           "only_duckdb_but_in_silver_from_a_skipped_file": row[5]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, help="generated world (or raw dump) folder holding patents/")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warehouse", default=None, help="compare with silver.patents of this warehouse")
    a = ap.parse_args(argv)
    result = run_reference(a.world, a.threads)
    con = result.pop("_con")
    if a.warehouse:
        result["check"] = check_warehouse(con, a.warehouse, result["files_read"], result)
    con.close()
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
