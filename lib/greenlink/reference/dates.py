"""Dates as raw patent exports write them: the accepted forms, as regular expressions
(parsed on Spark by `greenlink.bronze.fields.parse_date`, in DuckDB by bench/bench_ingest_duckdb.py).

Accepted forms (docs/raw_formats.md), with full-width digits folded and surrounding
spaces ignored:

    2018-03-05   2018/3/5   2018.03.05   2018年3月5日   20180305

plus an optional time of day after the date (`2018-03-05 00:00:00`,
`2018-03-05T10:30`), which Excel and Parquet sources add; the time is ignored. Year is
four digits; month and day one or two digits, except in the compact 8-digit form.
Anything else, and impossible calendar dates (`2018-02-30`), parse to NULL; range
checks (`text.PLAUSIBLE_YEARS`) belong to the caller.
"""
from __future__ import annotations

_TIME = r"(?:[ T]+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
# year, month, day separated by - / . or written with 年 月 日
SEPARATED = (r"^\s*([0-9]{4})\s*(?:[-/.]|年)\s*([0-9]{1,2})\s*(?:[-/.]|月)\s*([0-9]{1,2})\s*日?"
             + _TIME + r"\s*$")
COMPACT = r"^\s*([0-9]{4})([0-9]{2})([0-9]{2})\s*$"

# either form rewritten to y-m-d ($1-$2-$3) has this shape: no 3-digit month or day
YMD = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$"
