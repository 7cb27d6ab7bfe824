"""Raw files -> one DataFrame of string fields with lineage, whatever the format.

Every reader returns the same columns (`parsed_schema`): `source_file`, `source_row`
(1-based data row, header not counted), `raw_record` (the decoded CSV line, or the row's
fields as JSON), `malformed` (why the row cannot be split into the header's fields, else
NULL) and one string column per canonical column of the kind (NULL when the file lacks
that optional column). It also returns the number of data rows each file holds, counted
independently of the parse, so that the job can reconcile.

CSV is read by Spark on executors as text lines: a first, cheap pass counts the lines of
each file split (`_metadata.file_block_start`) and their `monotonically_increasing_id`
range; the driver turns those few rows into each split's first line number; the second
pass numbers every line as first line + position in its split. Both passes read the same
scan, whose partitioning is deterministic; the job checks afterwards that each file's
rows are exactly 1..n. Parquet rows are numbered by `_metadata.row_index`. Excel files are
small by contract and read on the driver with openpyxl.

Every row also gets `line_hash`: the sha256 (32 bytes) of its file's layout (format, encoding,
header width and where each canonical column sits) and the row as read (the line's bytes, or
the row's fields as JSON). Given `previous` (line_hash -> the bronze content that line gave
in the last ingest, as struct `_prev`), a row whose hash is found is not parsed: its fields
stay NULL and the checks take its content from `_prev` (docs/ingest.md, "A new month's dump").
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import unquote, urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.bronze.excel import cell_text, open_first_sheet
from greenlink.bronze.layout import InputFile, KindSettings

# The session settings every read of the raw files runs under (`core.session.session_conf`).
# GB18030 lines are decoded on executors by Spark's decode(), which since Spark 4 accepts
# only a few charsets unless javaCharsets is on; codingErrorAction replaces undecodable
# bytes with U+FFFD (the row becomes malformed_row) instead of failing the job.
DECODE_CONF = {"spark.sql.legacy.javaCharsets": "true", "spark.sql.legacy.codingErrorAction": "true"}

BLANK = r"^[\s\x{3000}\x{FEFF}]*$"
# a comma followed by an even number of double quotes up to the end of the line lies outside quotes
_FIELD_SEPARATOR = r',(?=(?:[^"]*"[^"]*")*[^"]*$)'
_CSV_OPTIONS = {"sep": ",", "quote": '"', "escape": '"', "mode": "PERMISSIVE",
                "columnNameOfCorruptRecord": "_corrupt"}

Log = Callable[[str], None]


def line_hash(layout: Column, row: Column) -> Column:
    """sha256 of the file layout and the row's bytes: equal hashes, equal bronze content."""
    return F.unhex(F.sha2(F.concat(layout.cast("binary"), F.lit(b"\n"), row.cast("binary")), 256))


def layout_key(f: InputFile, conf: KindSettings, detail: str = "") -> str:
    """What, besides its bytes, decides how a row of `f` is read: format, encoding, header
    width, each canonical column's position (and `detail`, e.g. Parquet's column types)."""
    at = ",".join("-" if f.columns[c] is None else str(f.columns[c]) for c in conf.columns)
    return f"{f.fmt}|{f.encoding or ''}|{len(f.headers)}|{at}|{detail}"


def with_previous(df: DataFrame, previous: DataFrame | None) -> DataFrame:
    """`df` plus `_prev` (the content its line gave last time, NULL for a new line), when
    `previous` (line_hash, _prev) is given; a left join, so every row stays exactly once."""
    return df if previous is None else df.join(previous, "line_hash", "left")


def fresh(df: DataFrame) -> Column:
    """True for the rows that must be parsed and checked (no previous content)."""
    return F.col("_prev").isNull() if "_prev" in df.columns else F.lit(True)


def parsed_schema(conf: KindSettings) -> T.StructType:
    fixed = [T.StructField("source_file", T.StringType(), False), T.StructField("source_row", T.LongType(), False),
             T.StructField("raw_record", T.StringType()), T.StructField("malformed", T.StringType())]
    return T.StructType(fixed + [T.StructField(c, T.StringType()) for c in conf.columns])


def glob_escape(path: str) -> str:
    """Hadoop treats []{}*? in a path as a glob: escape them to read exactly this file."""
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", path)


def _local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


# ---------------------------------------------------------------- CSV (Spark, executors)

def csv_lines(spark: SparkSession, files: Sequence[InputFile]) -> DataFrame:
    """Every physical line of the files with its file, split start and a per-partition position."""
    return spark.read.text([glob_escape(str(f.path)) for f in files]).select(
        F.col("value"),
        F.col("_metadata.file_path").alias("_path"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mono"))


def number_splits(lines: DataFrame, files: Sequence[InputFile]) -> tuple[list[tuple], dict[str, int]]:
    """First pass: per file split, (path uri, split start, first line number, first position).

    Also returns each file's data-row count (lines minus the header line)."""
    by_path = {f.path: f for f in files}
    splits = (lines.groupBy("_path", "_block")
              .agg(F.count(F.lit(1)).alias("n"), F.min("_mono").alias("m0"), F.max("_mono").alias("m1"))
              .collect())
    per_file: dict[str, list] = {f.relpath: [] for f in files}
    for s in splits:
        f = by_path.get(_local_path(s["_path"]))
        if f is None:
            raise RuntimeError(f"ingest: Spark read a file that was not listed: {s['_path']}")
        if s["m1"] - s["m0"] + 1 != s["n"]:
            raise RuntimeError(f"ingest: lines of {f.relpath} split {s['_block']} are not contiguous "
                               "in their partition")
        per_file[f.relpath].append(s)
    rows, data_rows = [], {}
    for f in files:
        first_line = 1
        for s in sorted(per_file[f.relpath], key=lambda s: s["_block"]):
            rows.append((s["_path"], s["_block"], s["m0"], first_line))
            first_line += s["n"]
        data_rows[f.relpath] = max(first_line - 2, 0)        # lines minus the header
    return rows, data_rows


def _file_table(spark: SparkSession, files: Sequence[InputFile], splits: list[tuple], conf: KindSettings) -> DataFrame:
    """Per split: its numbering plus its file's relpath, encoding, width and column positions (1-based)."""
    info = {}
    for f in files:
        info[str(f.path)] = (f.relpath, f.encoding, len(f.headers), layout_key(f, conf),
                             *[None if f.columns[c] is None else f.columns[c] + 1 for c in conf.columns])
    schema = T.StructType(
        [T.StructField("_path", T.StringType()), T.StructField("_block", T.LongType()),
         T.StructField("_m0", T.LongType()), T.StructField("_first_line", T.LongType()),
         T.StructField("source_file", T.StringType()), T.StructField("_encoding", T.StringType()),
         T.StructField("_width", T.IntegerType()), T.StructField("_layout", T.StringType())]
        + [T.StructField(f"_at_{c}", T.IntegerType()) for c in conf.columns])
    rows = [(p, b, m0, first, *info[str(_local_path(p))]) for p, b, m0, first in splits]
    return spark.createDataFrame(rows, schema)


def _decoded(value: Column, encoding: Column) -> tuple[Column, Column]:
    """(text, problem): GB18030 lines decoded on executors (undecodable bytes become U+FFFD);
    UTF-8 lines kept, damaged bytes made valid. `problem` is set when bytes were damaged."""
    gb = F.decode(value.cast("binary"), "GB18030")
    text = F.when(encoding == "GB18030", gb).otherwise(F.make_valid_utf8(value))
    problem = (F.when((encoding == "GB18030") & (F.instr(gb, "\ufffd") > 0), F.lit("bytes not valid GB18030"))
               .when((encoding != "GB18030") & ~F.is_valid_utf8(value), F.lit("bytes not valid UTF-8")))
    return text, problem


def with_fields(df: DataFrame, text: Column, width: Column, widths: Sequence[int],
                parse: Column | None = None) -> DataFrame:
    """`df` plus `_fields` (the line's fields as an array, for its file's header width) and
    `_corrupt` (set when the line does not split into that many fields).

    One `from_csv` per header width present among the files, each as a column of its own:
    every field below reads it, and inside a conditional Spark would parse the line again
    for each field it extracts (measured on 242,400 lines: 7–11 s of CPU before, 1.5 s after).
    Lines where `parse` is false are not parsed (their fields and `_corrupt` stay NULL)."""
    widths = sorted(set(widths))
    parsed = {}
    for w in widths:
        schema = ", ".join([f"c{i} STRING" for i in range(w)] + ["_corrupt STRING"])
        parsed[f"_csv{w}"] = F.when((width == w) if parse is None else parse & (width == w),
                                    F.from_csv(text, schema, _CSV_OPTIONS))
    df = df.withColumns(parsed)
    fields = F.coalesce(*[F.when(width == w, F.array(*[F.col(f"_csv{w}")[f"c{i}"] for i in range(w)]))
                          for w in widths])
    corrupt = F.coalesce(*[F.col(f"_csv{w}")["_corrupt"] for w in widths])
    return df.select("*", fields.alias("_fields"), corrupt.alias("_corrupt")).drop(*parsed)


def _field_count_problem(text: Column, width: Column) -> Column:
    quotes = F.length(text) - F.length(F.replace(text, F.lit('"'), F.lit("")))
    found = F.size(F.split(text, _FIELD_SEPARATOR, -1))
    return (F.when(quotes % 2 == 1, F.lit("unbalanced double quote"))
            .otherwise(F.format_string("%d fields where the header has %d", found, width)))


def csv_rows(spark: SparkSession, files: Sequence[InputFile], conf: KindSettings,
             log: Log) -> tuple[DataFrame, dict[str, int]]:
    """Every data line of the CSV files (one Spark scan, any mix of encodings and header
    orders), numbered and hashed but not parsed: `source_file`, `source_row`, `line_hash`,
    `_value` (the line's bytes), `_encoding`, `_width` and `_at_<column>` (its file's layout)."""
    lines = csv_lines(spark, files)
    splits, data_rows = number_splits(lines, files)
    for f in files:
        log(f"{f.relpath}: {data_rows[f.relpath]:,} data rows ({f.encoding})")
    table = _file_table(spark, files, splits, conf)
    line = F.col("_first_line") + F.col("_mono") - F.col("_m0")
    df = (lines.join(F.broadcast(table), ["_path", "_block"])
          .where(line > 1)                                                 # line 1 is the header
          .select("source_file", (line - 1).alias("source_row"),
                  line_hash(F.col("_layout"), F.col("value")).alias("line_hash"), F.col("value").alias("_value"),
                  "_encoding", "_width", *[f"_at_{c}" for c in conf.columns]))
    return df, data_rows


def parse_csv_rows(df: DataFrame, conf: KindSettings, widths: Sequence[int]) -> DataFrame:
    """`raw_record`, `malformed` and the canonical columns of the CSV rows of `df` (those with
    `_value`) that are `fresh`; other rows keep theirs (NULL for a reused CSV line)."""
    new, is_csv = fresh(df), F.col("_value").isNotNull()
    text, byte_problem = _decoded(F.col("_value"), F.col("_encoding"))
    df = df.select("*", text.alias("_text"), F.when(new, byte_problem).alias("_bytes"))
    df = with_fields(df, F.col("_text"), F.col("_width"), widths, new)
    malformed = (F.when(~new, None).when(F.col("_bytes").isNotNull(), F.col("_bytes"))
                 .when(F.col("_text").rlike(BLANK), F.lit("empty line"))
                 .when(F.col("_corrupt").isNotNull(), _field_count_problem(F.col("_text"), F.col("_width"))))
    return df.withColumns({
        "raw_record": F.when(is_csv, F.col("_text")).otherwise(F.col("raw_record")),
        "malformed": F.when(is_csv, malformed).otherwise(F.col("malformed")),
        **{c: F.when(is_csv, F.try_element_at(F.col("_fields"), F.col(f"_at_{c}"))).otherwise(F.col(c))
           for c in conf.columns}})


def read_csv(spark: SparkSession, files: Sequence[InputFile], conf: KindSettings,
             log: Log) -> tuple[DataFrame, dict[str, int]]:
    """All CSV files of one kind, parsed (`parsed_schema` + `line_hash`)."""
    df, data_rows = csv_rows(spark, files, conf, log)
    df = df.withColumns({c: F.lit(None).cast("string") for c in ("raw_record", "malformed", *conf.columns)})
    df = parse_csv_rows(df, conf, [len(f.headers) for f in files])
    return df.select(*parsed_schema(conf).fieldNames(), "line_hash"), data_rows


# ---------------------------------------------------------------- Parquet (Spark, executors)

def read_parquet(spark: SparkSession, f: InputFile, conf: KindSettings) -> DataFrame:
    """One Parquet file; columns cast to string (dates become ISO dates). A row's hash covers
    its fields as JSON and the file's column types (a date and a string print alike)."""
    df = spark.read.parquet(glob_escape(str(f.path)))
    names = list(f.headers)

    def col(name: str) -> Column:
        return F.col("`" + name.replace("`", "``") + "`")

    record = F.to_json(F.struct(*[col(n) for n in names]), {"ignoreNullFields": "false"})
    return df.select(
        F.lit(f.relpath).alias("source_file"),
        (F.col("_metadata.row_index") + 1).cast("long").alias("source_row"),
        record.alias("raw_record"), F.lit(None).cast("string").alias("malformed"),
        *[(F.lit(None) if f.columns[c] is None else col(names[f.columns[c]])).cast("string").alias(c)
          for c in conf.columns],
        line_hash(F.lit(layout_key(f, conf, df.schema.simpleString())), record).alias("line_hash"))


# ---------------------------------------------------------------- Excel (driver, small files)

def xlsx_records(f: InputFile, conf: KindSettings) -> list[tuple]:
    """Rows of `parsed_schema` for one workbook. Empty rows after the last filled row are
    sheet formatting, not data, and are not rows; an empty row between data rows is."""
    # the archive checked again on the descriptor read, which must be the file the checks passed
    wb, rows = open_first_sheet(f.path, f.relpath, *(f.zip_limits or ()), identity=f.identity)
    try:
        next(rows, None)                                                   # header row
        texts = [[cell_text(v) for v in row] for row in rows]
    finally:
        wb.close()
    while texts and all(t is None for t in texts[-1]):
        texts.pop()
    width = len(f.headers)
    keys = [h if h else f"column_{i + 1}" for i, h in enumerate(f.headers)]
    out = []
    for i, cells in enumerate(texts, start=1):
        cells = cells + [None] * (width - len(cells))
        extra = [c for c in cells[width:] if c is not None]
        record = dict(zip(keys, cells[:width]))
        if extra:
            record["_beyond_header"] = extra
        if all(c is None for c in cells):
            malformed = "empty row"
        elif extra:
            malformed = f"{width + len(extra)} filled cells where the header has {width}"
        else:
            malformed = None
        values = [None if f.columns[c] is None else cells[f.columns[c]] for c in conf.columns]
        out.append((f.relpath, i, json.dumps(record, ensure_ascii=False), malformed, *values))
    return out


def read_xlsx(spark: SparkSession, f: InputFile, conf: KindSettings) -> tuple[DataFrame, int]:
    """One workbook (small by contract: its rows are parsed on the driver in any case)."""
    records = xlsx_records(f, conf)
    df = spark.createDataFrame(records, parsed_schema(conf))
    return df.withColumn("line_hash", line_hash(F.lit(layout_key(f, conf)), F.col("raw_record"))), len(records)


# ---------------------------------------------------------------- all formats

def read_kind(spark: SparkSession, files: Sequence[InputFile], conf: KindSettings,
              log: Log, previous: DataFrame | None = None) -> tuple[DataFrame, dict[str, int]]:
    """Union of every file of one kind, and each file's data-row count. Columns: `parsed_schema`,
    `line_hash` and, given `previous`, `_prev` (see the module docstring): the rows of every
    format are looked up in `previous` in one join, and CSV lines are parsed after it, only
    when not found."""
    parts: list[DataFrame] = []
    rows: dict[str, int] = {}
    csvs = [f for f in files if f.fmt == "csv"]
    if csvs:
        df, counted = csv_rows(spark, csvs, conf, log)
        parts.append(df)
        rows.update(counted)
    for f in files:
        if f.fmt == "parquet":
            parts.append(read_parquet(spark, f, conf))
            rows[f.relpath] = int(f.parquet_rows or 0)
            log(f"{f.relpath}: {rows[f.relpath]:,} rows (Parquet footer)")
        elif f.fmt == "xlsx":
            df, n = read_xlsx(spark, f, conf)
            parts.append(df)
            rows[f.relpath] = n
            log(f"{f.relpath}: {n:,} data rows (Excel, read on the driver)")
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    out = with_previous(out, previous)
    if csvs:
        if len(parts) == 1:                    # only CSV: the parsed columns do not exist yet
            out = out.withColumns({c: F.lit(None).cast("string") for c in ("raw_record", "malformed", *conf.columns)})
        out = parse_csv_rows(out, conf, [len(f.headers) for f in csvs])
    new = fresh(out)
    schema = parsed_schema(conf)
    return (out.select(*[(F.when(new, F.col(c.name)) if c.name in conf.columns else F.col(c.name))
                         .cast(c.dataType).alias(c.name) for c in schema.fields],
                       "line_hash", *(["_prev"] if previous is not None else [])), rows)
