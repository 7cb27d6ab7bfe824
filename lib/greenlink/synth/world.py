"""Orchestration: a whole world (raw files + truth/ + MANIFEST.json) into a folder.

Order: city-level simulation and plan on the driver; patents, applicants and transfers on
executors (persisted once, reused by every writer); raw files; truth; panel inputs;
manifest. The world is built in a staging folder next to the target and moved into place
at the end, so a failed run never leaves a half-written world behind a valid manifest.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink import __version__
from greenlink.core.errors import UserError
from greenlink.core.session import INTERPRETED, session_conf
from greenlink.synth import panelfiles, params as gparams, plan as gplan, render, system, truth
from greenlink.synth.records import Gen, assemble, transfers

log = logging.getLogger("greenlink")
MAX_PATENTS = 9_000_000      # 7-digit application serials stay unique below 10^7
MIN_PATENTS = 1_000
SMALL_WORLD = 300_000        # below: interpreted expressions (see generate)


def check_args(patents: int, defect_rate: float) -> None:
    if not MIN_PATENTS <= patents <= MAX_PATENTS:
        raise UserError(f"--patents must be between {MIN_PATENTS:,} and {MAX_PATENTS:,} (got {patents:,})")
    if not 0.0 <= defect_rate <= 0.2:
        raise UserError(f"--defect-rate must be between 0 and 0.2 (got {defect_rate})")


def _persist(df: DataFrame) -> DataFrame:
    """Materialise `df` (memory and disk) and cut its lineage: the generator's plans carry large
    expressions, and re-analysing them under every later join/union costs more than the data."""
    return df.localCheckpoint(eager=True)


def generate(spark: SparkSession, out: Path, patents: int, seed: int, defect_rate: float | None = None,
             overrides: dict[str, Any] | None = None, progress=None) -> dict[str, Any]:
    """Write a world into `out`; returns the manifest. `overrides` changes conf/generator.yaml
    parameters (nested dict), e.g. {"network": {"intensity_boost": 20}} for dense small worlds."""
    say = progress or (lambda msg: log.info("generate: %s", msg))
    p = gparams.load(overrides)
    rate = p["defects"]["rate"] if defect_rate is None else float(defect_rate)
    p["defects"]["rate"] = rate
    check_args(patents, rate)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "MANIFEST.json").exists():
        raise UserError(f"{out} exists and is not a generated world (no MANIFEST.json): refusing to overwrite it")
    stage = out.parent / f".{out.name}.staging"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    t0 = time.monotonic()

    # Session settings for the run, restored afterwards: pandas -> Spark through Arrow (entity
    # and reference tables); for small worlds, interpreted expressions, because compiling the
    # generator's large expressions costs more than evaluating them on a few thousand rows.
    settings = {"spark.sql.execution.arrow.pyspark.enabled": "true"}
    if patents < SMALL_WORLD:
        settings.update(INTERPRETED)
    with session_conf(spark, settings):
        return _generate(spark, out, stage, patents, seed, rate, p, overrides, say, t0)


def _generate(spark: SparkSession, out: Path, stage: Path, patents: int, seed: int, rate: float, p: dict[str, Any],
              overrides: dict[str, Any] | None, say, t0: float) -> dict[str, Any]:
    world = system.simulate(seed, patents, p, rate)
    say(f"city-year system simulated ({len(world.collab_units):,} collaboration and "
        f"{len(world.transfer_units):,} transfer units)")
    pl = gplan.build(world, seed)
    say(f"plan: {pl.n_patents:,} patents, {len(pl.entities):,} applicants/owners")
    gen = Gen(spark, pl, seed, rate)
    ent = _persist(gen.entities_df())
    pat = _persist(gen.patents(gen.base()))
    links = _persist(gen.links(pat))
    rec, lk = assemble(gen, pat, links, ent)
    rec = _persist(rec)
    lk = _persist(lk)
    tr = _persist(transfers(gen, rec, ent))
    say("records generated")

    rows: dict[str, int] = {}
    prow, pcount = render.number_rows(render.patent_rows(gen, rec), ["app_digits", "pid", "copy"])
    prow = _persist(prow)
    files = render.write_files(gen, prow, "patents", stage, render.PATENT_COLUMNS, pcount)
    rows.update(dict(zip(files.merge(pcount, on="file_id", how="left")["path"],
                         files.merge(pcount, on="file_id", how="left")["rows"].fillna(0).astype(int))))
    say("patent files written")
    trow_raw = _persist(render.transfer_rows(gen, tr))
    trow, tcount = render.number_rows(trow_raw, ["app_digits", "tid", "copy"])
    trow = _persist(trow)
    tfiles = render.write_files(gen, trow, "transfers", stage, render.TRANSFER_COLUMNS, tcount)
    rows.update(dict(zip(tfiles.merge(tcount, on="file_id", how="left")["path"],
                         tfiles.merge(tcount, on="file_id", how="left")["rows"].fillna(0).astype(int))))
    say("transfer files written")

    rows.update(write_truth(gen, stage, rec, lk, trow, prow, files, tfiles))
    say("truth written")
    rows.update(panelfiles.write_all(world, seed, stage))
    for df in (ent, pat, links, rec, lk, tr, prow, trow_raw, trow):
        df.unpersist()
    gen.release()

    manifest = {
        "generator": "greenlink generate", "greenlink_version": __version__, "seed": int(seed),
        "patents": int(patents), "defect_rate": rate, "params_fingerprint": gparams.fingerprint(p),
        "overrides": overrides or {},
        "files": {rel: {"rows": int(rows[rel]) if rel in rows else None, **_digest(stage / rel)}
                  for rel in sorted(str(f.relative_to(stage)) for f in stage.rglob("*") if f.is_file())},
    }
    (stage / "MANIFEST.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                         encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    say(f"world of {patents:,} patents written to {out} in {time.monotonic() - t0:.0f}s")
    return manifest


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


def write_truth(gen: Gen, out: Path, rec: DataFrame, lk: DataFrame, trow: DataFrame, prow: DataFrame,
                files: pd.DataFrame, tfiles: pd.DataFrame) -> dict[str, int]:
    t = out / "truth"
    t.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    pt = _persist(truth.patents_truth(gen, rec))
    links = _persist(truth.links_truth(rec, lk))
    # transfers: original rows (copy 0) with their fate; duplicate copies are defects only
    tr = trow.where(F.col("copy") == 0).withColumn("fate", F.when(
        F.col("defect").isin("bad_effective_date", "missing_owners"), F.col("defect")).otherwise(F.lit("accepted")))
    tt = _persist(truth.transfers_truth(tr, pt))
    cy, ce, te = truth.city_year(gen, pt, links, tt)
    n_pid = gen.plan.n_patents
    rows["truth/patents.parquet"] = _write_table(t / "patents.parquet", pt, ["pid"], n_pid)
    rows["truth/links.parquet"] = _write_table(t / "links.parquet", links.drop("entity_id"), ["pid", "applicant_order"],
                                               n_pid)
    rows["truth/transfers.parquet"] = _write_table(t / "transfers.parquet", tt, ["tid"], 4 * n_pid + 4)
    cy.to_parquet(t / "city_year.parquet", index=False)
    rows["truth/city_year.parquet"] = len(cy)
    edges = pd.concat([ce.assign(network="collab").rename(columns={"city_a": "src", "city_b": "dst"}),
                       te.assign(network="transfer")], ignore_index=True)[["network", "year", "src", "dst", "weight"]]
    edges.to_parquet(t / "edges.parquet", index=False)
    rows["truth/edges.parquet"] = len(edges)
    org = truth.orgs_truth(gen.plan.entities)
    org.to_parquet(t / "orgs.parquet", index=False)
    rows["truth/orgs.parquet"] = len(org)
    d = defects(gen, prow, trow, files, tfiles)
    d.to_parquet(t / "defects.parquet", index=False)
    rows["truth/defects.parquet"] = len(d)
    structural = dict(gen.plan.world.structural)
    structural["sample_cities"] = sorted(gen.plan.world.cities.loc[gen.plan.world.cities["sample"], "city_code"])
    structural["defect_counts"] = gen.plan.world.defect_counts
    (t / "structural.json").write_text(json.dumps(structural, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    for df in (pt, links, tt):
        df.unpersist()
    return rows


def _write_table(dest: Path, df: DataFrame, order: list[str], key_max: int) -> int:
    """A truth table as one Parquet file sorted by `order` (first key numeric, < key_max),
    written in chunks of key ranges; returns its row count."""
    cols = [c for c in df.columns if c not in ("pid", "tid", "stratum")]
    span = 100_000
    tmp = dest.parent / f".tmp_{dest.stem}"
    if tmp.exists():
        shutil.rmtree(tmp)
    render.write_chunks(df.withColumn("file_id", F.lit(0)), tmp, "parquet", {}, {}, cols,
                        n_chunks=-(-key_max // span), chunk=F.floor(F.col(order[0]) / span), order=order)
    render.assemble_parquet(tmp, 0, dest, cols, typed=True)
    shutil.rmtree(tmp, ignore_errors=True)

    return pq.ParquetFile(dest).metadata.num_rows


def defects(gen: Gen, prow: DataFrame, trow: DataFrame, files: pd.DataFrame, tfiles: pd.DataFrame) -> pd.DataFrame:
    """Every injected defect at its file and row (small: collected)."""
    fp = dict(zip(files["file_id"], files["path"]))
    ft = dict(zip(tfiles["file_id"], tfiles["path"]))

    def located(rows: DataFrame, id_col: str) -> DataFrame:
        d = rows.where(F.col("defect").isNotNull())
        dup = d.where(F.col("defect") == "duplicate_row")
        later = dup.groupBy(id_col).agg(F.max("row_no").alias("row_no"))
        dup = dup.join(later, [id_col, "row_no"])
        near = d.where((F.col("defect") == "near_duplicate") & (F.col("copy") == 2))
        other = d.where(~F.col("defect").isin("duplicate_row", "near_duplicate"))
        return dup.unionByName(near).unionByName(other).select("file_id", "row_no", "application_no", "defect")
    p = located(prow, "pid").toPandas().assign(record="patents")
    p["file"] = p["file_id"].map(fp)
    t = located(trow, "tid").toPandas().assign(record="transfers")
    t["file"] = t["file_id"].map(ft)
    d = pd.concat([p, t], ignore_index=True)
    gbk = [s for s in render.file_specs(gen, "patents") if s.get("encoding") == "gbk"]
    extra = pd.DataFrame([{"record": "patents", "file": s["path"], "row_no": None, "application_no": None,
                           "defect": "gbk_encoding"} for s in gbk])
    d = pd.concat([d, extra], ignore_index=True)
    reject = set(gplan.REJECT_KINDS) | {"duplicate_row", "bad_effective_date", "missing_owners"}
    d["expected"] = [k if k in reject else "accepted" for k in d["defect"]]
    d["stage"] = ["classify" if k in truth.CLASSIFY_REASONS else "ingest" if k in reject else None for k in d["defect"]]
    d["detail"] = d["defect"].map(truth.OUTCOMES)
    d = d.rename(columns={"defect": "kind", "row_no": "source_row"})
    d["source_row"] = d["source_row"].astype("Int64")
    cols = ["record", "file", "source_row", "application_no", "kind", "expected", "stage", "detail"]
    return d[cols].sort_values(["record", "file", "source_row"], na_position="last").reset_index(drop=True)


def ensure_demo_world(spark, out: Path, patents: int, seed: int) -> Path:
    """The world in `out`, generated only if its MANIFEST.json is missing or was made with
    other parameters (size, seed, default defect rate, generator parameters)."""
    out = Path(out)
    p = gparams.load()
    want = {"patents": int(patents), "seed": int(seed), "defect_rate": p["defects"]["rate"],
            "params_fingerprint": gparams.fingerprint(p), "overrides": {}}
    m = out / "MANIFEST.json"
    if m.exists():
        try:
            have = json.loads(m.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            have = {}
        if all(have.get(k) == v for k, v in want.items()):
            return out
    if out.exists() and any(out.iterdir()) and not m.exists():
        raise UserError(f"{out} exists and is not a generated world: move it away or use another folder")
    generate(spark, out, patents, seed)
    return out
