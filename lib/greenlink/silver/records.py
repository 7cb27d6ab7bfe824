"""Classify's row rules as DataFrame -> DataFrame functions (SPEC §1-§2, docs/classify.md): green
classification of bronze records, the choice of one record per application number, the reasons
and rows of rejects, and the silver rows. The full and the incremental stage
(`classify`, `incremental`) both build silver with these, so they cannot disagree.
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from greenlink.bronze.fields import is_blank
from greenlink.core.printable import printable_column
from greenlink.silver.applicants import count_names, split_names
from greenlink.silver.green import classify_green
from greenlink.silver.ipc_columns import explode_ipc
from greenlink.silver.tables import PATENTS

JOB = "classify"
_RID = "_rid"   # one bronze record as a number: its source file's index * 2^40 + source_row
_ROW_BITS = 40  # source_row < 2^40 (a trillion rows per file)

# Raw fields kept in a reject's raw_record (JSON), so the record can be inspected there.
_RAW_FIELDS = ("application_no_raw", "application_date", "publication_no", "grant_date", "patent_type_raw",
               "ipc_raw", "applicants_raw", "applicant_address")


def source_files(raw: DataFrame) -> list[str]:
    """The distinct source_file values of bronze rows (a handful: one column, one small job)."""
    return [r["source_file"] for r in raw.select("source_file").distinct().collect()]


def record_id(files: Sequence[str]) -> Column:
    """A bronze record's id as a long: its file's index in `files` (every source_file of the
    frame) times 2^40, plus source_row. The exploded IPC tokens are grouped and joined back by
    it: sorting a long costs a fraction of sorting `file#row` strings, whose long common
    prefixes made every comparison read whole byte arrays (JFR, docs/benchmarks.md, issue 22)."""
    index = F.create_map(*[F.lit(x) for i, f in enumerate(sorted(files)) for x in (f, i)])[F.col("source_file")]
    known = F.when(index.isNull(), F.raise_error(F.lit("classify: a bronze record's source_file is not in the file list")))
    return F.shiftleft(F.coalesce(index, known).cast("long"), _ROW_BITS) + F.col("source_row")


def classified_records(raw: DataFrame, inventory: DataFrame, files: Sequence[str] | None = None) -> DataFrame:
    """Every bronze record with its green classification and applicant count.
    In: bronze.patents_raw columns. Out: those + ipc_symbols, main_ipc, n_ipc_valid,
    n_ipc_invalid, is_green, categories, topics, green_entries, n_applicants, _rid.
    `files`: every source_file of the table `raw` is drawn from (default: those of `raw`).
    A subset of a table must pass its table's: Spark may evaluate `record_id` before the
    filter that made the subset (it pushes the join's not-null test down to the scan)."""
    records = raw.withColumn(_RID, record_id(source_files(raw) if files is None else files))
    green = classify_green(explode_ipc(records, _RID, "ipc_raw"), inventory, _RID)
    return (records.join(green, _RID, "left")
            .withColumn("n_applicants", count_names(F.col("applicants_raw"))))


def best_records(records: DataFrame) -> DataFrame:
    """One record per application number, with `n_records` (records that shared it).

    Near-duplicates (the same application in two exports, spelled differently) collapse to
    the record that is most usable, in this order: has a parseable IPC symbol, has an
    applicant, is granted, has the most filled fields (publication number, applicant
    address), then the earliest source file and row — so a clean copy always wins over a
    damaged one and the choice does not depend on partitioning."""
    filled = (F.col("publication_no").isNotNull().cast("int")
              + F.col("applicant_address").isNotNull().cast("int"))
    order = Window.partitionBy("application_no").orderBy(
        F.desc(F.coalesce(F.col("n_ipc_valid"), F.lit(0)) > 0), F.desc(F.col("n_applicants") > 0),
        F.desc(F.col("grant_date").isNotNull()), F.desc(filled), "source_file", "source_row")
    by_no = Window.partitionBy("application_no")
    return (records.withColumn("_rank", F.row_number().over(order))
            .withColumn("n_records", F.count(F.lit(1)).over(by_no))
            .where(F.col("_rank") == 1).drop("_rank"))


def reject_reason() -> Column:
    """Why a chosen record cannot become a silver patent (null when it can)."""
    return (F.when(F.coalesce(F.col("n_ipc_valid"), F.lit(0)) == 0, F.lit("no_parseable_ipc"))
            .when(F.col("n_applicants") == 0, F.lit("no_applicant")))


def reject_detail() -> Column:
    """The sentence of a reject, from the chosen record's raw field (`_ipc`, `_applicants`)
    and `n_records`: every rejected record carries one, whether its patent has one record or several."""
    ipc, names = F.col("_ipc"), F.col("_applicants")
    what = (F.when(F.col("reason") == "no_parseable_ipc",
                   F.when(is_blank(ipc), F.lit("the IPC field is empty"))
                   .otherwise(F.format_string("no valid IPC symbol in '%s'", ipc)))
            .otherwise(F.when(is_blank(names), F.lit("the applicant field is empty"))
                       .otherwise(F.format_string("no applicant name in '%s'", names))))
    detail = F.when(F.col("n_records") > 1,
                    F.format_string("application %s has %d records; the chosen one: %s",
                                    F.col("application_no"), F.col("n_records"), what)).otherwise(what)
    return printable_column(detail)


def rejected_records(records: DataFrame, chosen: DataFrame, run_id: str) -> DataFrame:
    """Every bronze record of a rejected patent, in bronze.rejects columns."""
    verdict = chosen.where(F.col("reason").isNotNull()).select(
        "application_no", "reason", "n_records", F.col("ipc_raw").alias("_ipc"),
        F.col("applicants_raw").alias("_applicants"))
    detail = reject_detail()
    return (records.join(verdict, "application_no")
            .select(F.lit(JOB).alias("stage"), F.lit("patents").alias("kind"), "source_file", "source_row",
                    "application_no_raw", "reason", detail.alias("detail"),
                    F.to_json(F.struct(*[F.col(c).cast("string") for c in _RAW_FIELDS])).alias("raw_record"),
                    F.lit(run_id).alias("run_id")))


def silver_patents(accepted: DataFrame, applicants: DataFrame) -> DataFrame:
    """silver.patents rows: the chosen records with the first applicant's name, type, city."""
    first = (applicants.where(F.col("applicant_order") == 1)
             .select("application_no", F.col("name").alias("first_applicant"),
                     F.col("org_type").alias("first_org_type"), "city_code", "province_code"))
    return (accepted.join(first, "application_no", "left")
            .withColumn("granted", F.col("grant_date").isNotNull())
            .withColumn("grant_year", F.year("grant_date"))
            .select(*PATENTS.schema.fieldNames()))


def silver_transfers(located: DataFrame, patents: DataFrame) -> DataFrame:
    """silver.transfers rows: located transfers with the transferred patent's type and green
    flag (null, and in_dump false, for patents the dump does not hold)."""
    p = patents.select("application_no", "patent_type", "is_green")
    return (located.join(p, "application_no", "left")
            .select("application_no", "year", "effective_date",
                    F.col("from_name").alias("from_owner"), "from_org_type",
                    F.col("from_city_code").alias("from_city"), F.col("from_province_code").alias("from_province"),
                    "from_method", "from_unlocated_reason",
                    F.col("to_name").alias("to_owner"), "to_org_type",
                    F.col("to_city_code").alias("to_city"), F.col("to_province_code").alias("to_province"),
                    "to_method", "to_unlocated_reason",
                    F.size(split_names(F.col("owners_before"))).alias("n_owners_before"),
                    F.size(split_names(F.col("owners_after"))).alias("n_owners_after"),
                    F.col("patent_type").isNotNull().alias("in_dump"), "patent_type", "is_green",
                    "record_hash"))


