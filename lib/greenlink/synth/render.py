"""Raw rows in their files: spellings, defects, row numbers, and byte-stable writers.

Each patent and transfer becomes one raw row (plus an exact copy for `duplicate_row` and a
cosmetic variant for `near_duplicate`), written as strings the way its file writes them
(date, number and type spellings; dirty IPC forms; defects). Rows get a file and a 1-based
row number from a hash order (bucket, then application number), computed with per-bucket
windows, so numbering is deterministic and distributed.

Writers: executors write fixed-size chunks (by row number) of each file; the driver
concatenates them in order (CSV: header + chunk bytes; Parquet: one row group per chunk;
xlsx: small files only, collected and written with fixed timestamps). Same seed and
parameters give the same bytes whatever the partitioning.

Over 400 lines on purpose: spellings, defects and the byte-stable writers decide together
what a raw file holds; docs/generator.md follows this module's order.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core.text import widen
from greenlink.synth.records import Gen, _lit_array
from greenlink.synth.rng import pick, slots, uniform

PATENT_COLUMNS = ["application_no", "application_date", "publication_no", "grant_date", "patent_type", "ipc",
                  "applicants", "applicant_address"]
TRANSFER_COLUMNS = ["application_no", "effective_date", "owners_before", "owners_after", "current_owner_address"]
DATE_FORMATS = {"iso": "yyyy-MM-dd", "slash": "yyyy/M/d", "compact": "yyyyMMdd", "dot": "yyyy.MM.dd",
                "cn": "yyyy年M月d日"}
CHUNK_ROWS = 200_000
FULLWIDTH_FROM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/ "
FULLWIDTH_TO = widen(FULLWIDTH_FROM)


def file_specs(gen: Gen, kind: str) -> list[dict[str, Any]]:
    specs = [dict(s) for s in gen.p["files"][kind]]
    for i, s in enumerate(specs):
        s["file_id"] = i
        s["path"] = f"{kind}/{s['name']}"
    return specs


def _date(col: Column, fmt_key: Column) -> Column:
    out = None
    for k, f in DATE_FORMATS.items():
        e = F.date_format(col, f)
        out = F.when(fmt_key == k, e) if out is None else out.when(fmt_key == k, e)
    return out


def _choose(values: list[str], u: Column) -> Column:
    return _lit_array(values, "string")[pick(u, len(values))]


def _style(gen: Gen, specs: list[dict], key: str, u_mix: Column, u_alt: Column, mix: float,
           options: list[str]) -> Column:
    """The file's habit (spec[key]) for most rows, another option for a `mix` share."""
    primary = None
    for s in specs:
        cond = F.col("file_id") == s["file_id"]
        primary = F.when(cond, F.lit(s[key])) if primary is None else primary.when(cond, F.lit(s[key]))
    return F.when(u_mix < mix, _choose(options, u_alt)).otherwise(primary)


IPC_FORMS = "_ipc_forms"   # column of patent_rows: (canonical, fourteen-character) form of each symbol


def ipc_forms(gen: Gen) -> Column:
    """The patent's symbols as structs (c: canonical, f: fourteen-character form), looked up in
    the pool ONCE: `ipc_text` uses each several times, and every use of a pool-sized constant
    array in an expression is a copy of it in the plan each task receives (12 MB task binaries
    at the demo's size: DAGScheduler warned)."""
    pool = gen.pool
    canon = _lit_array(pool["symbol"].tolist(), "string")
    fourteen = _lit_array(pool["fourteen"].tolist(), "string")
    return F.transform("symbols", lambda idx: F.struct(canon[idx].alias("c"), fourteen[idx].alias("f")))


def ipc_rendered(gen: Gen, salt: str) -> Column:
    """Each symbol in a dirty form (SPEC §2), first = main; reads the column IPC_FORMS
    (`ipc_forms`). `ipc_text` joins them from the column IPC_RENDERED: kept in a column of its
    own, the expression (with its constant arrays) is in the plan once, not once per use."""
    forms = gen.p["ipc"]["dirty_forms"]
    names = list(forms)
    fslots = _lit_array([names[i] for i in slots([forms[k] for k in names], 1024)], "string")
    versions = gen.p["ipc"]["version_dates"]
    seed = gen.seed

    def drawn(sym: Column, j: Column) -> Column:
        # the form is drawn once per symbol and then tested several times (one copy of fslots)
        return F.struct(sym["c"].alias("c"), sym["f"].alias("f"),
                        fslots[pick(uniform(seed, salt + "-ipc-form", F.col("pid"), j), 1024)].alias("form"),
                        _choose(versions, uniform(seed, salt + "-ipc-ver", F.col("pid"), j)).alias("ver"))

    def one(sym: Column) -> Column:
        c, form = sym["c"], sym["form"]
        nospace = F.regexp_replace(c, " ", "")
        return (F.when(form == "nospace", nospace).when(form == "lower", F.lower(nospace))
                .when(form == "doublespace", F.regexp_replace(c, " ", "  ")).when(form == "fourteen", sym["f"])
                .when(form == "fullwidth", F.translate(c, FULLWIDTH_FROM, FULLWIDTH_TO))
                .when(form == "version", F.concat(c, F.lit(" "), sym["ver"])).otherwise(c))
    return F.transform(F.transform(IPC_FORMS, drawn), one)


IPC_RENDERED = "_ipc_rendered"   # column of patent_rows: `ipc_rendered` of the row's spelling (near / orig)


def ipc_text(gen: Gen, salt: str) -> Column:
    """The IPC field: the symbols of IPC_RENDERED (`ipc_rendered`) `;`-separated, with garbage
    tokens for the IPC defects."""
    seed = gen.seed
    rendered = F.col(IPC_RENDERED)
    garbage = gen.p["ipc"]["garbage"]
    fp = gen.p["files"]
    g1 = _choose(garbage, uniform(seed, salt + "-garbage", F.col("pid")))
    g2 = _choose(garbage, uniform(seed, salt + "-garbage2", F.col("pid")))
    # malformed_ipc: one garbage token after the main symbol; no_parseable_ipc: garbage only
    with_garbage = F.concat(F.slice(rendered, 1, 1), F.array(g1),
                            F.when(F.size(rendered) > 1, F.slice(rendered, 2, 100)).otherwise(F.array()))
    arr = F.when(F.col("defect") == "malformed_ipc", with_garbage) \
        .when(F.col("defect") == "no_parseable_ipc",
              F.when(uniform(seed, salt + "-g-n", F.col("pid")) < fp["garbage_only_single_share"], F.array(g1)).otherwise(F.array_distinct(F.array(g1, g2)))) \
        .otherwise(rendered)
    spaced = uniform(seed, salt + "-ipc-sep", F.col("pid")) < fp["ipc_spaced_share"]
    return F.when(spaced, F.array_join(arr, "; ")).otherwise(F.array_join(arr, ";"))


def patent_rows(gen: Gen, rec: DataFrame) -> DataFrame:
    """Raw patent rows: file_id, pid, copy (0 original, 1 exact duplicate, 2 near duplicate),
    defect, PATENT_COLUMNS as strings, and sort keys."""
    specs = file_specs(gen, "patents")
    seed = gen.seed
    n = gen.plan.n_patents
    by_year = [s for s in specs if "years" in s]
    special = [s for s in specs if "share" in s]
    u_file = uniform(seed, "file", F.col("pid"))
    fid, acc = None, 0.0
    for s in special:
        share = s["share"] if "max_rows" not in s else min(s["share"], s["max_rows"] / max(n, 1))
        cond = (u_file >= acc) & (u_file < acc + share)
        fid = F.when(cond, F.lit(s["file_id"])) if fid is None else fid.when(cond, F.lit(s["file_id"]))
        acc += share
    for s in by_year:
        cond = F.col("year").between(s["years"][0], s["years"][1])
        fid = fid.when(cond, F.lit(s["file_id"]))
    csv_ids = [s["file_id"] for s in specs if s["format"] == "csv"]
    year_csv = F.lit(None).cast("int")
    for s in by_year:
        if s["format"] == "csv":
            year_csv = F.when(F.col("year").between(s["years"][0], s["years"][1]), F.lit(s["file_id"])).otherwise(year_csv)
    gbk = next(s["file_id"] for s in specs if s["format"] == "csv" and "share" in s)
    df = rec.withColumn("file_id", fid.cast("int"))
    # a malformed CSV line needs a CSV file
    df = df.withColumn("file_id", F.when((F.col("defect") == "malformed_row") & ~F.col("file_id").isin(csv_ids),
                                         F.coalesce(year_csv, F.lit(gbk))).otherwise(F.col("file_id")))
    orig = df.withColumn("copy", F.lit(0))
    dup = df.where(F.col("defect") == "duplicate_row").withColumn("copy", F.lit(1))
    near = df.where(F.col("defect") == "near_duplicate").withColumn("copy", F.lit(2)) \
        .withColumn("file_id", pick(uniform(seed, "near-file", F.col("pid")), len(specs)).cast("int"))
    near = near.withColumn("file_id", F.when(F.col("file_id").isin([s["file_id"] for s in specs if s["format"] == "xlsx"]),
                                             F.lit(gbk)).otherwise(F.col("file_id")))
    rows = orig.unionByName(dup).unionByName(near).withColumn(IPC_FORMS, ipc_forms(gen))
    rows = rows.withColumn(IPC_RENDERED, F.when(F.col("copy") == 2, ipc_rendered(gen, "near"))
                           .otherwise(ipc_rendered(gen, "orig")))
    # spellings: a duplicate copies its original exactly, a near duplicate is drawn afresh
    salt = F.when(F.col("copy") == 2, F.lit("near")).otherwise(F.lit("orig"))

    def u(name: str) -> Column:
        return uniform(seed, name, F.col("pid"), salt)
    mix = gen.p["files"]["date_mix"]
    dfmt = _style(gen, specs, "dates", u("date-mix"), u("date-alt"), mix, list(DATE_FORMATS))
    afmt = _style(gen, specs, "appno", u("no-mix"), u("no-alt"), gen.p["files"]["appno_mix"], ["cn_dot", "dot", "plain"])
    is_en = F.col("file_id").isin([s["file_id"] for s in specs if s["header"] == "en"])
    no = F.when(afmt == "cn_dot", F.concat(F.lit("CN"), "application_no")) \
        .when(afmt == "plain", F.concat("app_digits", "check")).otherwise(F.col("application_no"))
    no = F.when(F.col("defect") == "missing_application_no", F.lit("")).otherwise(no)
    bad = gen.p["files"]["bad_dates"]
    app_date = F.when(F.col("defect") == "bad_application_date", _choose(bad, u("bad-date"))) \
        .otherwise(_date(F.col("app_date"), dfmt))
    lo, hi = gen.p["files"]["bad_grant_days_before"]
    before = F.date_sub(F.col("app_date"), (lo + pick(u("early"), hi - lo + 1)).cast("int"))
    grant = F.when(F.col("defect") == "bad_grant_date",
                   F.when(u("bad-grant-kind") < gen.p["files"]["bad_grant_garbage_share"], _choose(bad, u("bad-grant"))).otherwise(_date(before, dfmt))) \
        .when(F.col("granted"), _date(F.col("grant_date"), dfmt)).otherwise(F.lit(""))
    zh_type = F.when(F.col("ptype") == "invention",
                     F.when(F.col("granted"), _choose(["发明授权", "发明专利", "发明"], u("type-text")))
                     .otherwise(_choose(["发明申请", "发明专利", "发明"], u("type-text")))) \
        .when(F.col("ptype") == "utility", F.lit("实用新型")).otherwise(F.lit("外观设计"))
    ptype = F.when(F.col("defect") == "unknown_patent_type", _choose(gen.p["files"]["unknown_types"], u("bad-type"))) \
        .when(is_en, F.col("ptype")).otherwise(zh_type)
    joined = F.when(F.col("copy") == 2, F.concat_ws("; ", "applicant_names")).otherwise(F.concat_ws(";", "applicant_names"))
    applicants = F.when(F.col("defect") == "no_applicant", F.lit(";")).otherwise(joined)
    ipc = F.when(F.col("copy") == 2, ipc_text(gen, "near")).otherwise(ipc_text(gen, "orig"))
    rows = rows.select(
        "file_id", "pid", "copy", "defect", "app_digits", "application_no",
        no.alias("f_application_no"), app_date.alias("f_application_date"),
        F.coalesce(F.col("publication_no"), F.lit("")).alias("f_publication_no"), grant.alias("f_grant_date"),
        ptype.alias("f_patent_type"), ipc.alias("f_ipc"), applicants.alias("f_applicants"),
        F.coalesce(F.col("address"), F.lit("")).alias("f_applicant_address"),
        pick(uniform(seed, "order", F.col("pid"), F.col("copy")), 4096).cast("int").alias("bucket"))
    return rows


def transfer_rows(gen: Gen, tr: DataFrame) -> DataFrame:
    """Raw transfer rows with defects: extra rejected rows (bad_effective_date, missing_owners)
    copied from transfers no network counts, and exact duplicates of any transfer."""
    specs = file_specs(gen, "transfers")
    seed = gen.seed
    rate = gen.p["defects"]["rate"] if gen.defect_rate is None else gen.defect_rate
    tw = gen.p["defects"]["transfer_weights"]
    total = sum(tw.values())
    u_d = uniform(seed, "t-defect", F.col("tid"))
    p_dup = rate * tw["duplicate_row"] / total
    p_bad = rate * tw["bad_effective_date"] / total
    p_miss = rate * tw["missing_owners"] / total
    df = tr.withColumn("defect", F.when(u_d < p_dup, F.lit("duplicate_row")).otherwise(F.lit(None).cast("string")))
    extra_src = tr.where(~F.col("counted"))
    bad = extra_src.where(u_d < p_bad).withColumn("defect", F.lit("bad_effective_date")) \
        .withColumn("tid", F.col("tid") + 1)
    miss = extra_src.where((u_d >= p_bad) & (u_d < p_bad + p_miss)).withColumn("defect", F.lit("missing_owners")) \
        .withColumn("tid", F.col("tid") + 2)
    df = df.unionByName(bad).unionByName(miss)
    fid = None
    for s in specs:
        cond = F.col("t_year").between(s["years"][0], s["years"][1])
        fid = F.when(cond, F.lit(s["file_id"])) if fid is None else fid.when(cond, F.lit(s["file_id"]))
    df = df.withColumn("file_id", fid.cast("int"))
    orig = df.withColumn("copy", F.lit(0))
    dup = df.where(F.col("defect") == "duplicate_row").withColumn("copy", F.lit(1))
    rows = orig.unionByName(dup)

    def u(name: str) -> Column:
        return uniform(seed, name, F.col("tid"))
    dfmt = _style(gen, specs, "dates", u("t-date-mix"), u("t-date-alt"), gen.p["files"]["date_mix"],
                  list(DATE_FORMATS))
    afmt = _style(gen, specs, "appno", u("t-no-mix"), u("t-no-alt"), gen.p["files"]["appno_mix"],
                  ["cn_dot", "dot", "plain"])
    no = F.when(afmt == "cn_dot", F.concat(F.lit("CN"), "application_no")) \
        .when(afmt == "plain", F.concat("app_digits", "check")).otherwise(F.col("application_no"))
    eff = F.when(F.col("defect") == "bad_effective_date", _choose(gen.p["files"]["bad_dates"], u("t-bad"))) \
        .otherwise(_date(F.col("effective_date"), dfmt))
    miss_before = u("t-miss-side") < gen.p["files"]["missing_owners_before_share"]
    before = F.when((F.col("defect") == "missing_owners") & miss_before, F.lit("")).otherwise(F.col("owners_before"))
    after = F.when((F.col("defect") == "missing_owners") & ~miss_before, F.lit("")).otherwise(F.col("owners_after"))
    return rows.select(
        "file_id", "tid", "copy", "defect", "app_digits", "application_no", "pid", "kind", "in_dump", "t_year",
        "from_city", "to_city", "counted",
        no.alias("f_application_no"), eff.alias("f_effective_date"), before.alias("f_owners_before"),
        after.alias("f_owners_after"), F.coalesce(F.col("address"), F.lit("")).alias("f_current_owner_address"),
        pick(uniform(seed, "t-order", F.col("tid"), F.col("copy")), 4096).cast("int").alias("bucket"))


def number_rows(rows: DataFrame, order: list[str], bucket: Column | str = "bucket") -> tuple[DataFrame, pd.DataFrame]:
    """1-based row numbers per file in (bucket, *order) order, by per-(file, bucket) windows and
    driver-side bucket offsets; returns the rows with `row_no` and the per-file row counts."""
    rows = rows.withColumn("_bucket", F.col(bucket) if isinstance(bucket, str) else bucket)
    counts = rows.groupBy("file_id", "_bucket").count().toPandas().sort_values(["file_id", "_bucket"])
    counts["offset"] = counts.groupby("file_id")["count"].cumsum() - counts["count"]
    off = rows.sparkSession.createDataFrame(counts[["file_id", "_bucket", "offset"]])
    w = Window.partitionBy("file_id", "_bucket").orderBy(*order)
    out = rows.withColumn("_r", F.row_number().over(w)).join(F.broadcast(off), ["file_id", "_bucket"]) \
        .withColumn("row_no", (F.col("offset") + F.col("_r")).cast("long")).drop("_r", "offset", "_bucket")
    per_file = counts.groupby("file_id")["count"].sum()
    return out, per_file.rename("rows").reset_index()


def _csv_field(c: Column) -> Column:
    c = F.coalesce(c, F.lit(""))
    return F.when(c.rlike('[",\\r\\n]'), F.concat(F.lit('"'), F.regexp_replace(c, '"', '""'), F.lit('"'))).otherwise(c)


def csv_lines(rows: DataFrame, specs: list[dict], columns: list[str]) -> DataFrame:
    """`line` of every row in its file's column order; a malformed row loses its last fields."""
    line = None
    for s in specs:
        if s["format"] != "csv":
            continue
        order = list(s["header_map"])
        full = F.concat_ws(",", *[_csv_field(F.col("f_" + c)) for c in order])
        cut = F.concat_ws(",", *[_csv_field(F.col("f_" + c)) for c in order[: max(2, len(order) - 3)]])
        e = F.when(F.col("defect") == "malformed_row", cut).otherwise(full)
        cond = F.col("file_id") == s["file_id"]
        line = F.when(cond, e) if line is None else line.when(cond, e)
    return rows.withColumn("line", line)


# --- writers -----------------------------------------------------------------------------------
def _chunk_fn(tmp: str, fmt: str, encodings: dict[int, str], newlines: dict[int, str], columns: list[str]):
    def fn(batches):
        import pyarrow as pa  # local: runs on the executors
        import pyarrow.parquet as pq

        cur, parts, out = None, [], []

        def flush():
            if cur is None:
                return
            fid, ch = cur
            d = os.path.join(tmp, f"{fid:03d}")
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, f"{ch:08d}.part")
            if fmt == "csv":
                nl = newlines[fid]
                data = (nl.join(x for p in parts for x in p) + nl).encode(encodings[fid])
                with open(path + ".tmp", "wb") as fh:
                    fh.write(data)
            else:
                table = pa.concat_tables(parts)
                pq.write_table(table, path + ".tmp")
            os.replace(path + ".tmp", path)
            out.append((fid, ch, sum(len(p) for p in parts) if fmt == "csv" else sum(t.num_rows for t in parts)))

        for b in batches:
            fids = b.column("file_id").to_numpy()
            chs = b.column("chunk").to_numpy()
            n = len(fids)
            start = 0
            while start < n:
                key = (int(fids[start]), int(chs[start]))
                end = start
                while end < n and fids[end] == key[0] and chs[end] == key[1]:
                    end += 1
                if key != cur:
                    flush()
                    cur, parts = key, []
                seg = b.slice(start, end - start)
                if fmt == "csv":
                    parts.append(seg.column("line").to_pylist())
                else:
                    parts.append(pa.Table.from_batches([seg]).select(columns))
                start = end
        flush()
        if out:
            yield pa.RecordBatch.from_pylist([{"file_id": f, "chunk": c, "rows": r} for f, c, r in out])
    return fn


def write_chunks(rows: DataFrame, tmp: Path, fmt: str, encodings: dict[int, str], newlines: dict[int, str],
                 columns: list[str], n_chunks: int, chunk: Column | None = None, order: list[str] | None = None) -> None:
    """Executors write each (file, chunk) of `rows` as tmp/<file_id>/<chunk>.part: CSV lines
    (`line`) or Parquet (`columns`). Chunks are CHUNK_ROWS consecutive row numbers unless
    `chunk` (a column) and `order` (sort keys within a chunk) are given; `n_chunks` (an upper
    bound of the number of chunks) sets the partitioning."""
    ch = chunk if chunk is not None else F.floor((F.col("row_no") - 1) / CHUNK_ROWS)
    order = order or ["row_no"]
    df = rows.withColumn("chunk", ch.cast("long"))
    keep = ["file_id", "chunk", *order] + (["line"] if fmt == "csv" else [c for c in columns if c not in order])
    df = df.select(*dict.fromkeys(keep))
    df = df.repartition(max(1, int(n_chunks)), "file_id", "chunk").sortWithinPartitions("file_id", "chunk", *order)
    schema = T.StructType([T.StructField("file_id", T.LongType()), T.StructField("chunk", T.LongType()),
                           T.StructField("rows", T.LongType())])
    df.mapInArrow(_chunk_fn(str(tmp), fmt, encodings, newlines, columns), schema).collect()


def assemble_csv(tmp: Path, file_id: int, dest: Path, header: list[str], encoding: str, newline: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        out.write((",".join(header) + newline).encode(encoding))
        d = tmp / f"{file_id:03d}"
        for part in sorted(d.glob("*.part")) if d.exists() else []:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out)


def assemble_parquet(tmp: Path, file_id: int, dest: Path, names: list[str], typed: bool = False) -> None:
    """One Parquet file from the chunks, one row group per chunk; all columns strings (raw
    files) or the chunks' own types (`typed`, truth tables)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    d = tmp / f"{file_id:03d}"
    parts = sorted(d.glob("*.part")) if d.exists() else []
    if typed and parts:
        schema = pq.read_schema(parts[0]).remove_metadata()
    else:
        schema = pa.schema([(c, pa.string()) for c in names])
    with pq.ParquetWriter(dest, schema, compression="snappy") as w:
        for part in parts:
            t = pq.read_table(part).select(names)
            t = pa.Table.from_arrays([t.column(i).cast(schema.field(i).type) for i in range(len(names))], schema=schema)
            w.write_table(t, row_group_size=CHUNK_ROWS)


def write_xlsx(pdf: pd.DataFrame, dest: Path, header: list[str]) -> None:
    """A small Excel file with fixed document and zip timestamps (stable bytes)."""
    from openpyxl import Workbook  # local: heavy, only for the xlsx file

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(header)
    for row in pdf.itertuples(index=False):
        ws.append(list(row))
    fixed = dt.datetime(2023, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            zi = zipfile.ZipInfo(info.filename, date_time=(2023, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":   # openpyxl stamps `modified` with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2023-01-01T00:00:00Z", data)
            out.writestr(zi, data)


def write_files(gen: Gen, rows: DataFrame, kind: str, out: Path, columns: list[str],
                counts: pd.DataFrame) -> pd.DataFrame:
    """Write every file of `kind` (patents or transfers) from numbered rows (`counts`: rows per
    file_id from number_rows); returns (path, file_id) per file."""
    n_of = dict(zip(counts["file_id"], counts["rows"]))

    def chunks(ids: list[int]) -> int:
        return sum(-(-int(n_of.get(i, 0)) // CHUNK_ROWS) for i in ids) or 1
    specs = file_specs(gen, kind)
    for s in specs:
        s["header_map"] = gen.p["files"]["headers"][s["header"]]
    tmp = out / f".tmp_{kind}"
    if tmp.exists():
        shutil.rmtree(tmp)
    csv_specs = [s for s in specs if s["format"] == "csv"]
    if csv_specs:
        lines = csv_lines(rows.where(F.col("file_id").isin([s["file_id"] for s in csv_specs])), specs, columns)
        write_chunks(lines, tmp, "csv", {s["file_id"]: s["encoding"].replace("utf-8-sig", "utf-8") for s in csv_specs},
                     {s["file_id"]: "\r\n" if s.get("newline") == "crlf" else "\n" for s in csv_specs}, [],
                     chunks([s["file_id"] for s in csv_specs]))
        for s in csv_specs:
            assemble_csv(tmp, s["file_id"], out / s["path"], [s["header_map"][c] for c in s["header_map"]],
                         s["encoding"], "\r\n" if s.get("newline") == "crlf" else "\n")
    for s in specs:
        order = list(s["header_map"])
        if s["format"] == "parquet":
            sub = rows.where(F.col("file_id") == s["file_id"]).select(
                "file_id", "row_no", *[F.col("f_" + c).alias(s["header_map"][c]) for c in order])
            names = [s["header_map"][c] for c in order]
            write_chunks(sub, tmp, "parquet", {}, {}, names, chunks([s["file_id"]]))
            assemble_parquet(tmp, s["file_id"], out / s["path"], names)
        elif s["format"] == "xlsx":
            pdf = rows.where(F.col("file_id") == s["file_id"]).orderBy("row_no") \
                .select(*["f_" + c for c in order]).toPandas()
            write_xlsx(pdf, out / s["path"], [s["header_map"][c] for c in order])
    if tmp.exists():
        shutil.rmtree(tmp)
    return pd.DataFrame([(s["path"], s["file_id"]) for s in specs], columns=["path", "file_id"])
