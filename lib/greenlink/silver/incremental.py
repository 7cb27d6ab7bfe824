"""Classify incrementally: bring silver from the bronze an earlier classify read to the current
bronze, recomputing only what the changed records reach (issue 23, docs/operations.md).

The silver tables after this are exactly those a full classify of the current bronze writes
(tests/integration/test_incremental.py compares them table by table). What is recomputed, by the same
functions as the full path:

- **R0**, application numbers whose records changed (their set of record hashes differs
  between the two bronze versions: corrected, new, withdrawn), plus every number whose
  result depends on more than its own content: numbers with several records (the choice
  among them falls back to file and row order, which a re-cut export changes) and numbers
  rejected last time (their reject rows name file and row). Their records are classified,
  deduplicated and located again.
- **Organisations**: an organisation without a located address is placed by the city where
  it most often is the located first applicant, over ALL patents. For every name a changed
  patent or any transfer names (before or after), that evidence is recounted from the
  current silver.applicants rows of the other patents plus the recomputed ones; names whose
  location changed (**C**) make every patent linking them without its own address (**A1**)
  recomputed too. Other names keep their row.
- Every other patent keeps its silver row (silver's lineage is the record hash, not file and
  row: a re-cut or reordered export changes no silver row).
- silver.transfers (a small table) is located again in full and merged.

Writes are MERGEs on each table's natural key that touch only rows that changed, so Delta's
change data feed of a silver table is the month's change.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.bronze.tables import PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import tables
from greenlink.core.runs import Run
from greenlink.core.session import persist_uncompressed, run_concurrently
from greenlink.silver.applicants import classify_org_type
from greenlink.silver.locate import (address_keys, first_applicant_evidence, first_located, located_applicants,
                                     located_transfers, locate_names, org_locations, owner_names, prepare_links,
                                     prepare_transfers, resolve_addresses)
from greenlink.silver.places import default_config
from greenlink.silver.records import (best_records, classified_records, reject_reason, rejected_records, silver_patents,
                                      silver_transfers, source_files)
from greenlink.silver.tables import APPLICANTS, ORG_LOCATIONS, PATENTS, TRANSFERS

@dataclass(frozen=True)
class Before:
    """The bronze versions the last classify read (its silver is their classification)."""

    patents: int
    transfers: int

    def readable(self, spark: SparkSession) -> str | None:
        """None when both versions can still be read, else why not (VACUUM removed their files)."""
        jvm = spark._jvm
        conf = spark._jsc.hadoopConfiguration()
        for spec, version in ((PATENTS_RAW, self.patents), (TRANSFERS_RAW, self.transfers)):
            try:
                files = tables.read(spark, spec.name, version=version).inputFiles()
            except Exception as e:      # noqa: BLE001 - any failure to open the old snapshot
                return f"{spec.name} version {version} cannot be read ({type(e).__name__})"
            for f in files:
                p = jvm.org.apache.hadoop.fs.Path(f)
                if not p.getFileSystem(conf).exists(p):
                    return f"{spec.name} version {version} is no longer complete (vacuumed): {f}"
        return None


def changed_numbers(before: DataFrame, now: DataFrame) -> DataFrame:
    """application_no whose records differ between two bronze patent frames: a record is
    its (application_no, record_hash); accepted bronze rows never repeat a record_hash.
    One shuffle of both frames' two columns (a record held by one side only is a change), not
    the four of two set differences."""
    side = F.sum("_side")
    return (before.select("application_no", "record_hash", F.lit(1).alias("_side"))
            .unionByName(now.select("application_no", "record_hash", F.lit(2).alias("_side")))
            .groupBy("application_no", "record_hash").agg(side.alias("_sides"))
            .where(F.col("_sides") != 3).select("application_no").distinct())


# What a link located through its organisation takes from silver.org_locations (`attach_locations`):
# an organisation whose evidence count changed but not its place moves no patent.
_PLACE = ("name", "org_type", "city_code", "province_code", "method", "reason")


def org_changes(new: DataFrame, old: DataFrame, names: DataFrame) -> DataFrame:
    """Names (of `names`) placed differently in `new` than in `old` (the `_PLACE` columns of
    silver.org_locations), a name present on one side only included."""
    o = old.join(names, "name", "left_semi").select(*_PLACE)
    n = new.select(*_PLACE)
    return o.subtract(n).unionByName(n.subtract(o)).select("name").distinct()


def _semi(df: DataFrame, keys: DataFrame, on: str = "application_no") -> DataFrame:
    return df.join(F.broadcast(keys), on, "left_semi")


def apply_changes(spec: tables.TableSpec, upserts: DataFrame, deleted: DataFrame) -> None:
    """One MERGE into `spec`'s table on its keys: rows of `upserts` inserted, or updated where
    a column differs; target rows whose keys are in `deleted` but not in `upserts` deleted."""
    cols, keys = spec.schema.fieldNames(), list(spec.keys)
    ups = upserts.select(*[F.col(c).cast(spec.schema[c].dataType) for c in cols], F.lit(False).alias("_delete"))
    gone = (deleted.select(*keys).distinct().join(upserts.select(*keys), keys, "left_anti")
            .select(*[F.col(c) if c in keys else F.lit(None).cast(spec.schema[c].dataType).alias(c) for c in cols],
                    F.lit(True).alias("_delete")))
    tables.merge_rows(ups.unionByName(gone), spec, delete_flag="_delete")


def refresh(spark: SparkSession, run: Run, before: Before, inventory: DataFrame) -> None:
    """Bring the silver tables from `before`'s bronze to the current bronze (module docstring)."""
    cfg = default_config()
    now = tables.read(spark, PATENTS_RAW.name)
    old = tables.read(spark, PATENTS_RAW.name, version=before.patents)
    tr_now = prepare_transfers(tables.read(spark, TRANSFERS_RAW.name))
    tr_old = prepare_transfers(tables.read(spark, TRANSFERS_RAW.name, version=before.transfers))
    # the silver tables as they are now, pinned: a Delta DataFrame without a version reads the
    # latest one each time it is evaluated, and the merges below change these tables
    prev_pat, prev_app, prev_org = (tables.read(spark, s.name, version=tables.latest_version(spark, s.name))
                                    for s in (PATENTS, APPLICANTS, ORG_LOCATIONS))

    with run.phase("changes"):
        lineage = ["source_file", "source_row"]
        prev_rejected = (tables.read(spark, REJECTS.name).where(F.col("stage") == "classify")
                         .join(old.select(*lineage, "application_no"), lineage).select("application_no"))
        r0 = (changed_numbers(old, now)
              .unionByName(prev_pat.where(F.col("n_records") > 1).select("application_no"))
              .unionByName(prev_rejected).distinct()).localCheckpoint()
        n_r0 = r0.count()
    run.count("incremental.changed_numbers", n_r0)
    run.log(f"{n_r0:,} application numbers to classify again (changed, several records or rejected)")

    files = source_files(now)

    def classify_numbers(numbers: DataFrame) -> tuple[DataFrame, DataFrame]:
        records = _semi(now, numbers)
        chosen = best_records(classified_records(records, inventory, files)).withColumn("reason", reject_reason())
        return records, chosen

    with run.phase("green"):
        records0, chosen0 = classify_numbers(r0)
        chosen0 = chosen0.localCheckpoint()
        links0 = persist_uncompressed(prepare_links(chosen0.where(F.col("reason").isNull())))
    try:
        with run.phase("organisations"):
            names = (links0.select("name")
                     .unionByName(_semi(prev_app, r0).select("name"))
                     .unionByName(owner_names(tr_now)).unionByName(owner_names(tr_old))
                     .distinct())
            typed = persist_uncompressed(classify_org_type(names, "name"))
            addresses0 = persist_uncompressed(resolve_addresses(address_keys(links0, tr_now), cfg))
            first_old = (prev_app.where((F.col("applicant_order") == 1) & (F.col("method") == "address")
                                        & (F.col("org_type") != "individual"))
                         .join(F.broadcast(r0), "application_no", "left_anti")
                         .join(typed.select("name"), "name", "left_semi").select("name", "city_code"))
            evidence = first_applicant_evidence(first_old.unionByName(first_located(links0, addresses0, typed)))
            referenced = (links0.select("name")
                          .unionByName(prev_app.join(F.broadcast(r0), "application_no", "left_anti").select("name"))
                          .unionByName(owner_names(tr_now))
                          .join(typed.select("name"), "name", "left_semi").distinct())
            by_name = locate_names(typed.where(F.col("org_type") != "individual").select("name"), cfg)
            orgs_n = persist_uncompressed(org_locations(typed.join(referenced, "name", "left_semi"), by_name, evidence)
                                          .select(*ORG_LOCATIONS.schema.fieldNames()))
            changed = org_changes(orgs_n, prev_org, typed.select("name")).localCheckpoint()
            a1 = (prev_app.where(F.col("method") != "address").join(F.broadcast(changed), "name", "left_semi")
                  .select("application_no").distinct().join(F.broadcast(r0), "application_no", "left_anti")
                  .localCheckpoint())
            n_changed, n_a1 = changed.count(), a1.count()
            orgs = persist_uncompressed(prev_org.join(typed.select("name"), "name", "left_anti")
                                        .unionByName(orgs_n))
        run.count("incremental.organisations_changed", n_changed)
        run.count("incremental.relocated_numbers", n_a1)
        run.log(f"{n_changed:,} organisations located elsewhere; {n_a1:,} more patents name them")

        with run.phase("locate"):
            records1, chosen1 = classify_numbers(a1)
            records = records0.unionByName(records1)
            chosen = chosen0.unionByName(chosen1).localCheckpoint()
            accepted = chosen.where(F.col("reason").isNull())
            links = links0.unionByName(prepare_links(chosen1.where(F.col("reason").isNull())))
            addresses = addresses0.unionByName(
                resolve_addresses(links.where(F.col("_has_address")).select("address_key")
                                  .join(addresses0, "address_key", "left_anti"), cfg))
            applicants = located_applicants(links, addresses, orgs).localCheckpoint()
            r = r0.unionByName(a1)

        def patents_then_transfers() -> None:
            apply_changes(PATENTS, silver_patents(accepted, applicants), r)
            transfers = located_transfers(tr_now, addresses0, orgs)    # they carry their patent's flags
            tables.write(silver_transfers(transfers, tables.read(spark, PATENTS.name)), TRANSFERS, mode="merge",
                         keys=TRANSFERS.keys, delete_missing=True)

        with run.phase("write"):
            # independent tables at once; a run that fails part-way leaves silver written since
            # its last good run, so the next run goes the full way (state.plan), in any order
            run_concurrently(
                lambda: tables.write(rejected_records(records, chosen, run.run_id), REJECTS, mode="replace_where",
                                     replace_where="stage = 'classify'"),
                patents_then_transfers,
                lambda: apply_changes(APPLICANTS, applicants, _semi(prev_app, r).select(*APPLICANTS.keys)),
                lambda: apply_changes(ORG_LOCATIONS, orgs_n, typed.select("name")))
    finally:
        for df in (links0, typed, addresses0, orgs_n, orgs):
            df.unpersist()

