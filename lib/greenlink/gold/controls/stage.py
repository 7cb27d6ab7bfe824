"""`greenlink controls`: the panel inputs -> silver tables, the SPEC §3 sample and `er` (SPEC §5).

Reads `<input>/yearbook/` (city × year controls), `<input>/province/` (province × year IP
statistics) and `<input>/cities/` (city attributes): CSV (UTF-8 or GBK), Excel or Parquet,
Chinese or English headers (conf/headers.yaml), with the ingest readers. Cities are written
by name (苏州市, 苏州, 恩施州, a former name from conf/panel.yaml, or the 6-digit code) and
resolved to a `gazetteer.cities()` unit; an unknown or ambiguous name is rejected, never
guessed. Every data row is accepted into its silver table or rejected into
`bronze.control_rejects` with one reason (first failing check wins); rows in = accepted +
rejected per file, recorded in `_meta.runs`.

Then the sample rule (conf/panel.yaml `sample`) writes `gold.sample_log` (one row per city
unit), and `er` is computed over the sample cities' city-years (entropy.build_er) into
`gold.er_index` and `gold.er_weights`. docs/panel.md has the rules and every choice.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.bronze import readers
from greenlink.bronze.filechecks import check_file
from greenlink.bronze.stage import file_counts, reconcile, record_counts, rows_written
from greenlink.bronze.layout import IngestSettings, InputFile, KindSettings, kind_confs, list_folder, load_conf
from greenlink.core import state, tables
from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.core.session import session_conf
from greenlink.gold.controls.checks import (PlaceNames, accepted, check_city_attributes,
                                             check_city_controls, check_province_ip, rejected)
from greenlink.gold.controls.entropy import build_er, write_er
from greenlink.gold.panel.settings import ER_INDICATORS, PanelSettings
from greenlink.gold.sample import city_units, sample_log
from greenlink.gold.tables import (CITY_ATTRIBUTES, CITY_CONTROLS, CONTROL_REJECT_REASONS, CONTROL_REJECTS, ER_INDEX,
                                   ER_WEIGHTS, PROVINCE_IP, SAMPLE_LOG, flag_column)

JOB = "controls"
KINDS: tuple[str, ...] = ("city_controls", "province_ip", "city_attributes")
FOLDERS: dict[str, str] = {"city_controls": "yearbook", "province_ip": "province", "city_attributes": "cities"}
SILVER: dict[str, tables.TableSpec] = {"city_controls": CITY_CONTROLS, "province_ip": PROVINCE_IP,
                                       "city_attributes": CITY_ATTRIBUTES}


# --------------------------------------------------------------------------- input files

def load_input_confs(path: Path | None = None) -> dict[str, KindSettings]:
    """The panel-input sections of conf/headers.yaml, validated like the patent sections."""
    path = path or conf_file("headers.yaml")
    return kind_confs(load_yaml(path) or {}, path, KINDS)


def inspect_inputs(input_dir: Path, reader: IngestSettings) -> dict[str, list[InputFile]]:
    """Every panel-input file with its format, encoding, sha256 and header mapping, checked as
    ingest checks a dump file (`filechecks.check_file`, with the panel-input header sections in
    `reader.kinds`). A missing folder, an empty folder, an unknown format, an unusable file or a
    missing required column is a UserError."""
    if not input_dir.is_dir():
        raise UserError(f"input folder not found: {input_dir}")
    need = "the controls stage needs yearbook/, province/ and cities/, docs/panel.md"
    return {kind: [check_file(kind, p, rel, fmt, reader) for p, rel, fmt in list_folder(input_dir, FOLDERS[kind], need)]
            for kind in KINDS}


def er_input(controls: DataFrame, sample: DataFrame) -> DataFrame:
    """The er indicators of the sample cities (city_code, year, ER_INDICATORS)."""
    return (controls.join(sample.select("city_code"), "city_code", "left_semi")
            .select("city_code", "year", *ER_INDICATORS))


# --------------------------------------------------------------------------- stage

def _check_kind(kind: str, parsed: DataFrame, names: PlaceNames, conf: PanelSettings) -> DataFrame:
    if kind == "city_controls":
        return check_city_controls(parsed, names, conf.missing_markers)
    if kind == "province_ip":
        return check_province_ip(parsed, names, conf.missing_markers)
    return check_city_attributes(parsed, names, conf)


def check_kind(spark: SparkSession, run, kind: str, files: Sequence[InputFile], names: PlaceNames,
               conf: PanelSettings, kconf: KindSettings) -> DataFrame:
    """Read, check and reconcile one panel input, write its silver table; returns the checked
    rows (persisted: the caller writes their rejects, then unpersists them)."""
    parsed, rows_in = readers.read_kind(spark, files, kconf, run.log)
    checked = _check_kind(kind, parsed, names, conf).persist()
    got = file_counts(checked, CONTROL_REJECT_REASONS[kind])
    reconcile(files, rows_in, got)                     # rows in = accepted + rejected, rows exactly 1..n
    record_counts(run, kind, files, rows_in, got, CONTROL_REJECT_REASONS[kind])
    spec = SILVER[kind]
    tables.write(accepted(checked, spec), spec, mode="overwrite")
    if rows_written(spark, spec.name) != run.counts[f"{kind}.accepted"]:
        raise RuntimeError(f"controls: {spec.name} holds {rows_written(spark, spec.name)} rows after the write, "
                           f"expected {run.counts[f'{kind}.accepted']}")
    run.log(f"{kind}: {run.counts[f'{kind}.rows_in']} rows, {run.counts[f'{kind}.accepted']} accepted, "
            f"{run.counts[f'{kind}.rejected']} rejected")
    return checked


def write_rejects(spark: SparkSession, run, checked: Mapping[str, DataFrame]) -> None:
    """Replace bronze.control_rejects with the rejected rows of every kind, and check it holds
    exactly the counted rejects."""
    parts = [rejected(df, kind) for kind, df in checked.items()]
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)
    tables.write(rows, CONTROL_REJECTS, mode="overwrite")
    held = {r["kind"]: r["count"] for r in tables.read(spark, CONTROL_REJECTS.name).groupBy("kind").count().collect()}
    want = {k: run.counts[f"{k}.rejected"] for k in checked if run.counts[f"{k}.rejected"]}
    if held != want:
        raise RuntimeError(f"controls: {CONTROL_REJECTS.name} holds {held} rejects after the write, expected {want}")


def summary(files: Mapping[str, Sequence[InputFile]], counts: Mapping[str, int]) -> str:
    lines = [("file", "rows_in", "accepted", "rejected", "reasons")]
    for kind in KINDS:
        for f in files[kind]:
            reasons = " ".join(f"{k.split(':rejected.')[1]}={v}" for k, v in sorted(counts.items())
                               if k.startswith(f"{f.relpath}:rejected.") and v)
            lines.append((f.relpath, *(str(counts.get(f"{f.relpath}:{k}", 0)) for k in ("rows_in", "accepted",
                                                                                       "rejected")), reasons))
    widths = [max(len(r[i]) for r in lines) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip() for r in lines)


@dataclass(frozen=True)
class ControlsConfig:
    """What `greenlink controls` runs on (the command's options as values)."""

    input: str | None = None                  # raw input folder holding yearbook/, province/, cities/
    years: tuple[int, int] | None = None      # study years (None: conf/panel.yaml)
    panel_conf: str | None = None             # panel settings (None: conf/panel.yaml)
    full: bool = False                        # run even when the inputs are unchanged


def plan(config: ControlsConfig) -> tuple[Path, PanelSettings, tuple[int, int], dict[str, KindSettings],
                                          dict[str, list[InputFile]]]:
    """Everything checked before Spark work: input folder, conf/panel.yaml, years, headers and
    the files (layout, format and header errors are one-line UserErrors)."""
    if not config.input:
        raise UserError("--input DIR is required (a folder with yearbook/, province/ and cities/)")
    input_dir = Path(config.input).expanduser().resolve()
    conf = PanelSettings.load(config.panel_conf)
    years = config.years or conf.years
    kconfs = load_input_confs()
    # ingest's reader settings (xlsx size, encoding evidence) with the panel-input header sections
    reader = replace(load_conf(), kinds=kconfs)
    files = inspect_inputs(input_dir, reader)
    return input_dir, conf, years, kconfs, files


CONFIG = ControlsConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark: SparkSession, config: ControlsConfig = ControlsConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Panel inputs -> silver.city_controls, silver.province_ip, silver.city_attributes,
    bronze.control_rejects; the sample rule -> gold.sample_log; er -> gold.er_index,
    gold.er_weights. Returns the counts recorded in _meta.runs."""
    input_dir, conf, years, kconfs, files = plan(config)
    inputs = {"input": str(input_dir), "panel_conf": conf.source,
              **{f"file:{f.relpath}": f.describe() for kind in KINDS for f in files[kind]}}
    st = state.stage_state(spark, JOB, __name__, owns=(*(s.name for s in SILVER.values()), CONTROL_REJECTS.name,
                                                       SAMPLE_LOG.name, ER_INDEX.name, ER_WEIGHTS.name),
                           files={"conf": state.file_digest([Path(conf.source)]),
                                  "inputs": state.file_digest(f.path for kind in KINDS for f in files[kind])},
                           settings={"years": years, "files": sorted(f.relpath for kind in KINDS for f in files[kind])})
    with Run(spark, JOB, inputs=inputs, args={"years": years}, parent_run_id=parent_run_id) as r, \
            session_conf(spark, readers.DECODE_CONF):
        if r.track(st, full=config.full) == "skipped":
            return dict(r.counts)
        names = PlaceNames(conf.city_aliases)
        checked: dict[str, DataFrame] = {}
        try:
            for kind in KINDS:
                checked[kind] = check_kind(spark, r, kind, files[kind], names, conf, kconfs[kind])
            write_rejects(spark, r, checked)
        finally:
            for df in checked.values():
                df.unpersist()
        print(f"greenlink controls: run {r.run_id}\n{summary(files, r.counts)}", file=sys.stderr)

        controls = tables.read(spark, CITY_CONTROLS.name)
        log = sample_log(city_units(spark), controls, conf.sample_columns, years, conf.max_missing_share,
                         conf.min_observed_years)
        tables.write(log, SAMPLE_LOG, mode="overwrite")
        stats = (tables.read(spark, SAMPLE_LOG.name)
                 .groupBy("in_sample", F.regexp_extract("reason", "^[a-z_]+", 0).alias("why")).count().collect())
        r.count("sample.units", sum(s["count"] for s in stats))
        r.count("sample.kept", sum(s["count"] for s in stats if s["in_sample"]))
        r.count("sample.dropped", sum(s["count"] for s in stats if not s["in_sample"]))
        for s in stats:
            if not s["in_sample"]:
                r.count(f"sample.dropped.{s['why']}", s["count"])
        if not r.counts["sample.kept"]:
            raise UserError(f"the sample rule kept no city (max_missing_share {conf.max_missing_share} in "
                            f"{conf.source}); check the yearbook input")
        r.log(f"sample: {r.counts['sample.kept']} of {r.counts['sample.units']} city units kept")

        sample = tables.read(spark, SAMPLE_LOG.name).where(F.col("in_sample"))
        index, weights = build_er(er_input(controls, sample), years=years)
        write_er(index, weights)
        _count_er(r, spark)
        r.log("er written")
        return dict(r.counts)


def _count_er(run, spark: SparkSession) -> None:
    """er counts: city-years, those with er, invalid raw cells, indicator cells per fill flag."""
    idx = tables.read(spark, ER_INDEX.name)
    row = idx.agg(F.count(F.lit(1)).alias("rows"), F.count("er").alias("with_er"),
                  F.sum(F.size("invalid_raw")).alias("invalid")).first()
    run.count("er.city_years", row["rows"])
    run.count("er.with_er", row["with_er"])
    run.count("er.invalid_raw_cells", row["invalid"] or 0)
    flags = (idx.select(F.explode(F.array(*[F.col(flag_column(i)) for i in ER_INDICATORS])).alias("flag"))
             .groupBy("flag").count().collect())
    for fr in flags:
        run.count(f"er.cells.{fr['flag']}", fr["count"])
