"""`greenlink classify`: bronze records -> clean, green-classified, located silver tables.

Steps (SPEC §1–§3, docs/classify.md):
1. every bronze patent record is green-classified (IPC normalised, inventory matched as a
   broadcast join, `green.classify_green`);
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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.bronze.tables import PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import state, tables
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.silver.green import load_inventory
from greenlink.silver.incremental import Before, refresh
from greenlink.silver.ipc_columns import symbol_level_column
from greenlink.silver.locate import locate, location_count_keys
from greenlink.silver.records import (JOB, best_records, classified_records, reject_reason, rejected_records,
                                      silver_patents, silver_transfers)
from greenlink.silver.tables import APPLICANTS, ORG_LOCATIONS, PATENTS, TRANSFERS

__all__ = ["JOB", "ClassifyConfig", "best_records", "classified_records", "classify", "reject_reason", "run"]


# ------------------------------------------------------------------------------ the stage

def _require_bronze(spark: SparkSession) -> None:
    missing = [s.name for s in (PATENTS_RAW, TRANSFERS_RAW) if not tables.exists(spark, s.name)]
    if missing:
        raise UserError(f"{', '.join(missing)} not found in the warehouse: run `greenlink ingest --input DIR` first")


OWNS = (PATENTS.name, APPLICANTS.name, ORG_LOCATIONS.name, TRANSFERS.name)
# conf files the silver tables depend on: the inventory, the gazetteer's words, place aliases, org types
CONF = ("ipc_green_inventory.csv", "cities.yaml", "place_aliases.yaml", "org_types.yaml")


def stage_state(spark: SparkSession) -> state.StageState:
    """What silver is a function of: the bronze tables' versions, the conf, the code and cpca."""
    import cpca  # local: only its version is wanted here

    return state.stage_state(spark, JOB, __name__, reads=(PATENTS_RAW.name, TRANSFERS_RAW.name),
                             files={"conf": state.conf_digest(*CONF)},
                             settings={"cpca": getattr(cpca, "__version__", "unknown")}, owns=OWNS)


def plan(spark: SparkSession, st: state.StageState, previous: dict | None,
         full: bool) -> tuple[str, str, Before | None]:
    """(mode, reason, the bronze versions to start from): `skipped` when nothing classify
    depends on changed; `incremental` when only bronze did and the bronze the last run read is
    still readable; else `full`, saying why."""
    mode, reason = state.plan(spark, st, previous, full, incremental_on=(PATENTS_RAW.name, TRANSFERS_RAW.name))
    if mode != "incremental":
        return mode, reason, None
    inputs = previous["inputs"]
    before = Before(int(inputs[f"state.table:{PATENTS_RAW.name}"]), int(inputs[f"state.table:{TRANSFERS_RAW.name}"]))
    unreadable = before.readable(spark)
    if unreadable:
        return "full", unreadable, None
    return "incremental", reason, before


def classify(spark: SparkSession, *, full: bool = False, parent_run_id: str | None = None) -> dict[str, int]:
    """The whole stage on the session's warehouse (skipped, incremental or full: `plan`);
    returns the run's counts."""
    _require_bronze(spark)
    st = stage_state(spark)
    previous = state.last_success(spark, JOB)
    with Run(spark, JOB, inputs={n: str(tables.latest_version(spark, n)) for n in (PATENTS_RAW.name, TRANSFERS_RAW.name)},
             args={"full": full}, parent_run_id=parent_run_id) as run:
        mode, reason, before = plan(spark, st, previous, full)
        run.track(st, mode=mode, reason=reason)
        if mode == "incremental":
            refresh(spark, run, before, load_inventory(spark))
            table_counts(spark, run)
        elif mode == "full":
            _full(spark, run)
        return dict(run.counts)


def table_counts(spark: SparkSession, run: Run) -> None:
    """The counts a full run records while it builds silver, read back from the tables (an
    incremental run builds only part of them); they must reconcile the same way."""
    n_records = tables.read(spark, PATENTS_RAW.name).count()
    run.count("patents.records_in", n_records)
    p = tables.read(spark, PATENTS.name).agg(
        F.count(F.lit(1)).alias("n"), F.sum("n_records").alias("recs"),
        F.count(F.when(F.col("is_green"), 1)).alias("green"),
        F.count(F.when(symbol_level_column(F.col("main_ipc")) != "group", 1)).alias("coarse")).first()
    accepted_n, accepted_recs = int(p["n"]), int(p["recs"] or 0)
    run.count("patents.accepted", accepted_n)
    run.count("patents.collapsed_duplicates", accepted_recs - accepted_n)
    rejected = dict(tables.read(spark, REJECTS.name).where(F.col("stage") == JOB).groupBy("reason").count().collect())
    for reason in ("no_parseable_ipc", "no_applicant"):
        run.count(f"patents.rejected.{reason}", int(rejected.get(reason, 0)))
    if accepted_recs + sum(rejected.values()) != n_records:     # a bug, not bad input
        raise RuntimeError(f"classify counts do not reconcile: {n_records} records in, "
                           f"{accepted_recs} accepted + {sum(rejected.values())} rejected")
    run.count("patents.green", int(p["green"]))
    run.count("patents.main_ipc_without_group", int(p["coarse"]))
    for key, n in location_count_keys(tables.read(spark, APPLICANTS.name), "applicants").items():
        run.count(key, n)
    count_transfers(run, tables.read(spark, TRANSFERS.name))


def count_transfers(run: Run, out: DataFrame) -> None:
    """`transfers.rows`, `transfers.in_dump` and the location counts of both ends."""
    run.count("transfers.rows", out.count())
    run.count("transfers.in_dump", out.where("in_dump").count())
    for side in ("from", "to"):
        for key, n in location_count_keys(out, f"transfers.{side}", f"{side}_method",
                                          f"{side}_unlocated_reason").items():
            run.count(key, n)


def _full(spark: SparkSession, run: Run) -> None:
    """Classify every bronze record and overwrite the silver tables."""
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
        run.log(f"{PATENTS.name} written")
        with run.phase("applicants"):
            tables.write(applicants, APPLICANTS)
            tables.write(located.org_locations, ORG_LOCATIONS)
            for key, n in location_count_keys(applicants, "applicants").items():
                run.count(key, n)
        run.log(f"{APPLICANTS.name}, {ORG_LOCATIONS.name} written")
        with run.phase("transfers"):
            out = silver_transfers(located.transfers, patents).localCheckpoint()
            tables.write(out, TRANSFERS)
            count_transfers(run, out)
        run.log(f"{TRANSFERS.name} written")
    finally:
        located.unpersist()


@dataclass(frozen=True)
class ClassifyConfig:
    """What `greenlink classify` runs on: bronze, into silver."""

    full: bool = False                        # classify every record even when only some changed


CONFIG = ClassifyConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark: SparkSession, config: ClassifyConfig = ClassifyConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    return classify(spark, full=config.full, parent_run_id=parent_run_id)
