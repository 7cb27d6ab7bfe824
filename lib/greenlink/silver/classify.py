"""`greenlink classify`: bronze records -> clean, green-classified, located silver tables.

Steps (SPEC §1–§3, docs/classify.md):
1. every bronze patent record is green-classified (IPC normalised, inventory matched as a
   broadcast join, `inventory.classify_green`);
2. records sharing an application number collapse to one patent by the documented rule
   (`best_records`); a patent whose chosen record has no parseable IPC symbol or no
   applicant is rejected (`no_parseable_ipc` first, then `no_applicant`), with all its
   records, into `bronze.rejects` (stage `classify`);
3. applicants and transfer owners are located (`locate.locate`);
4. `silver.patents`, `silver.applicants`, `silver.org_locations`, `silver.transfers` are
   overwritten with the new full dump.

Counts reconcile: bronze records = accepted patents + collapsed duplicate records + rejected
records; every applicant link and transfer end is counted by location method and reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from greenlink.bronze.schema import PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.core.printable import printable_column
from greenlink.core.runs import Run
from greenlink.reference import ids
from greenlink.reference.inventory import classify_green, load_inventory
from greenlink.reference.ipc import explode_ipc, symbol_level_column
from greenlink.silver.applicants import count_names, split_names
from greenlink.silver.locate import APPLICANTS, ORG_LOCATIONS, locate, location_count_keys
from greenlink.silver.schema import PATENTS, TRANSFERS

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


def classified_records(raw: DataFrame, inventory: DataFrame) -> DataFrame:
    """Every bronze record with its green classification and applicant count.
    In: bronze.patents_raw columns. Out: those + ipc_symbols, main_ipc, n_ipc_valid,
    n_ipc_invalid, is_green, categories, topics, green_entries, n_applicants, _rid."""
    records = raw.withColumn(_RID, record_id(source_files(raw)))
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
                   F.when(ids.is_blank(ipc), F.lit("the IPC field is empty"))
                   .otherwise(F.format_string("no valid IPC symbol in '%s'", ipc)))
            .otherwise(F.when(ids.is_blank(names), F.lit("the applicant field is empty"))
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
                    "source_file", "source_row", "record_hash"))


# ------------------------------------------------------------------------------ the stage

def _require_bronze(spark: SparkSession) -> None:
    missing = [s.name for s in (PATENTS_RAW, TRANSFERS_RAW) if not tables.exists(spark, s.name)]
    if missing:
        raise UserError(f"{', '.join(missing)} not found in the warehouse: run `greenlink ingest --input DIR` first")


def classify(spark: SparkSession, *, parent_run_id: str | None = None) -> dict[str, int]:
    """The whole stage on the session's warehouse; returns the run's counts."""
    _require_bronze(spark)
    with Run(spark, JOB, inputs={n: str(tables.latest_version(spark, n)) for n in (PATENTS_RAW.name, TRANSFERS_RAW.name)},
             parent_run_id=parent_run_id) as run:
        raw = tables.read(spark, PATENTS_RAW.name)
        with run.phase("green"):
            records = classified_records(raw, load_inventory(spark)).localCheckpoint()
            n_records = records.count()
        run.count("patents.records_in", n_records)
        run.log(f"{n_records:,} bronze patent records classified")

        with run.phase("dedupe"):
            chosen = best_records(records).withColumn("reason", reject_reason()).localCheckpoint()
            verdicts = {(r["reason"], int(r["n"]), int(r["recs"])) for r in
                        chosen.groupBy("reason").agg(F.count(F.lit(1)).alias("n"),
                                                     F.sum("n_records").alias("recs")).collect()}
            accepted_n = sum(n for reason, n, _ in verdicts if reason is None)
            accepted_recs = sum(recs for reason, _, recs in verdicts if reason is None)
            run.count("patents.accepted", accepted_n)
            run.count("patents.collapsed_duplicates", accepted_recs - accepted_n)
            for reason in ("no_parseable_ipc", "no_applicant"):
                run.count(f"patents.rejected.{reason}", sum(recs for r, _, recs in verdicts if r == reason))
            rejected_recs = sum(recs for reason, _, recs in verdicts if reason is not None)
            if accepted_recs + rejected_recs != n_records:     # a bug, not bad input
                raise RuntimeError(f"classify counts do not reconcile: {n_records} records in, "
                                   f"{accepted_recs} accepted + {rejected_recs} rejected")
            tables.write(rejected_records(records, chosen, run.run_id), REJECTS,
                         mode="replace_where", replace_where=f"stage = '{JOB}'")
        run.log(f"{accepted_n:,} patents accepted, {rejected_recs:,} records rejected, "
                f"{accepted_recs - accepted_n:,} duplicate records collapsed")

        accepted = chosen.where(F.col("reason").isNull())
        transfers = tables.read(spark, TRANSFERS_RAW.name)
        located = locate(accepted.select("application_no", "year", "applicants_raw", "applicant_address"), transfers)
        try:
            with run.phase("locate"):
                applicants = located.applicants.localCheckpoint()
            with run.phase("patents"):
                patents = silver_patents(accepted, applicants).localCheckpoint()
                tables.write(patents, PATENTS)
                # a class or subclass alone as main IPC is kept, and flagged here (docs/green.md)
                tally = patents.agg(
                    F.count(F.when(F.col("is_green"), 1)).alias("green"),
                    F.count(F.when(symbol_level_column(F.col("main_ipc")) != "group", 1)).alias("coarse")).first()
            coarse = int(tally["coarse"])
            run.count("patents.green", int(tally["green"]))
            run.count("patents.main_ipc_without_group", coarse)
            if coarse:
                run.log(f"{coarse:,} accepted patents have a class or subclass alone as main IPC "
                        "(kept; only class and subclass inventory entries can cover them)")
            run.log("silver.patents written")
            with run.phase("applicants"):
                tables.write(applicants, APPLICANTS)
                tables.write(located.org_locations, ORG_LOCATIONS)
                for key, n in location_count_keys(applicants, "applicants").items():
                    run.count(key, n)
            run.log("silver.applicants, silver.org_locations written")
            with run.phase("transfers"):
                out = silver_transfers(located.transfers, patents).localCheckpoint()
                tables.write(out, TRANSFERS)
                run.count("transfers.rows", out.count())
                run.count("transfers.in_dump", out.where("in_dump").count())
                for side in ("from", "to"):
                    for key, n in location_count_keys(out, f"transfers.{side}", f"{side}_method",
                                                      f"{side}_unlocated_reason").items():
                        run.count(key, n)
            run.log("silver.transfers written")
        finally:
            located.unpersist()
        return dict(run.counts)


@dataclass(frozen=True)
class ClassifyConfig:
    """`greenlink classify` has no options of its own: it reads bronze, writes silver."""


def run(spark: SparkSession, config: ClassifyConfig = ClassifyConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    return classify(spark, parent_run_id=parent_run_id)
