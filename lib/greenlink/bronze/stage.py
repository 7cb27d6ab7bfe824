"""One ingest run: check every file, skip unchanged kinds, read, check rows, reconcile, write.

File checks come first (`filechecks`): in the default strict mode any refused file fails the
run with one line per refused file (BadFiles, exit 2) before a row is read or a table is
written; with `quarantine=True` the usable files are ingested, the refused ones go to
bronze.file_rejects and `_meta.runs` (inputs `dump` = `partial`, `rejected_file:<file>`).

Idempotence (docs/ingest.md): each kind (patents, transfers) has a fingerprint of its
input files (names, sizes, sha256), conf/headers.yaml and the ingest code. Every commit an
ingest makes to a bronze table carries `{"job": "ingest", "kind", "fingerprint", "run_id",
"rejects"}` as Delta commit user metadata. A kind is skipped, with no new table version,
when the latest commit of its bronze table carries the current fingerprint, bronze.rejects
holds exactly that run's number of ingest rejects of the kind, and the run succeeded.
Otherwise the kind is rewritten in full:
its table is overwritten and its ingest rows of bronze.rejects are replaced, so bronze
always holds exactly the current dump.

Files that change while the run reads them: once Spark (and the Excel reader) has read a kind,
before anything is written, every file is compared with the (size, mtime, inode, device) the
file checks saw (`filechecks.changed_files`); a read that fails is compared too. A file that
grew, was rewritten, replaced or removed is refused (`file_changed_during_read`,
`file_vanished`) like a file the checks refuse: strict mode fails naming every refused file,
quarantine reads the kind again without it.

A new month's dump (docs/ingest.md): when the kind's bronze was written under the same rules
(`layout.rules_digest`: conf, code, version; in the commit metadata as `rules`), every line is
looked up by its `line_hash` in that bronze and, if found, is not parsed or checked again: its
content is taken over and only the duplicate rule runs over all rows. The tables written are
the ones a full ingest of the dump writes; `_meta.runs` says `incremental` and counts the
reused lines (`<kind>.lines_reused`, per file `<file>:lines_reused`).
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from greenlink.bronze import checks, readers
from greenlink.bronze.filechecks import (BadFiles, FileCheck, FileReject, changed_files, check_input,
                                         file_rejects_frame, without_files)
from greenlink.bronze.layout import KINDS, IngestSettings, InputFile, fingerprint, load_conf, logic_digest, rules_digest
from greenlink.bronze.tables import FILE_REASONS, FILE_REJECTS, INGEST_REASONS, PATENTS_RAW, REJECTS, TRANSFERS_RAW
from greenlink.core import state, tables
from greenlink.core.errors import UserError
from greenlink.core.printable import printable
from greenlink.core.runs import RUNS, Run
from greenlink.core.session import persist_uncompressed, session_conf

JOB = "ingest"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def spec_of(kind: str) -> tables.TableSpec:
    return PATENTS_RAW if kind == "patents" else TRANSFERS_RAW


# ---------------------------------------------------------------- skip when unchanged

def _commit_meta(raw: str | None) -> dict:
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _latest_commit_meta(spark: SparkSession, name: str) -> dict:
    """User metadata of the table's latest commit ({} when none or not JSON)."""
    rows = DeltaTable.forPath(spark, tables.path(spark, name)).history(1).select("userMetadata").collect()
    return _commit_meta(rows[0]["userMetadata"]) if rows else {}


def unchanged_since(spark: SparkSession, kind: str, fp: str) -> str | None:
    """run_id of the succeeded ingest that wrote the current bronze content of `kind` from
    inputs with fingerprint `fp`, or None when the kind must be (re)written.

    The latest commit of the kind's table names that run, the fingerprint and how many
    rejects the run wrote; bronze.rejects must hold exactly those (Delta records no commit
    for a replace that changes nothing, so the rejects' own history cannot tell)."""
    spec = spec_of(kind)
    if not all(tables.exists(spark, n) for n in (spec.name, REJECTS.name, RUNS.name)):
        return None
    meta = _latest_commit_meta(spark, spec.name)
    if not (meta.get("job") == JOB and meta.get("kind") == kind and meta.get("fingerprint") == fp):
        return None
    run_id, n_rejects = meta.get("run_id"), meta.get("rejects")
    held = {r["run_id"]: r["count"] for r in tables.read(spark, REJECTS.name)
            .filter((F.col("stage") == JOB) & (F.col("kind") == kind)).groupBy("run_id").count().collect()}
    if held != ({run_id: n_rejects} if n_rejects else {}):
        return None
    ended = (tables.read(spark, RUNS.name)
             .filter((F.col("run_id") == run_id) & (F.col("event") == "end") & (F.col("status") == "succeeded"))
             .limit(1).count())
    return run_id if ended else None


def previous_lines(spark: SparkSession, kind: str, rules: str) -> tuple[DataFrame | None, str]:
    """(line_hash, `_prev` = the row's content) of the kind's current bronze when an ingest
    wrote it under `rules`, pinned to that version; else None. Also says which, for the run."""
    spec = spec_of(kind)
    if not tables.exists(spark, spec.name):
        return None, "no bronze yet"
    last = DeltaTable.forPath(spark, tables.path(spark, spec.name)).history(1).select("version", "userMetadata").first()
    meta = _commit_meta(last["userMetadata"])
    if not (meta.get("job") == JOB and meta.get("kind") == kind):
        return None, f"{spec.name} was last written by something else than ingest"
    if meta.get("rules") != rules:
        return None, "the ingest rules changed since the last ingest (conf/headers.yaml, ingest code or version)"
    held = tables.read(spark, spec.name, version=last["version"])
    content = [c for c in spec.schema.fieldNames() if c not in ("source_file", "source_row", "line_hash", "run_id")]
    return (held.select("line_hash", F.struct(*content).alias("_prev")),
            f"lines unchanged since {spec.name} version {last['version']} reused")


def counts_of_run(spark: SparkSession, run_id: str, kind: str) -> dict[str, int]:
    """The `kind` counts a run recorded (keys starting with the kind: totals and its files)."""
    rows = (tables.read(spark, RUNS.name)
            .filter((F.col("run_id") == run_id) & (F.col("event") == "end")).select("counts").collect())
    counts = rows[0]["counts"] if rows else {}
    return {k: int(v) for k, v in (counts or {}).items() if k.startswith(kind) and k != f"{kind}.skipped"}


# ---------------------------------------------------------------- reconcile

def file_counts(checked: DataFrame, reasons: Sequence[str]) -> dict[str, dict]:
    """Per source_file (one aggregation): rows, accepted, rows per reason, and the
    source_row range and distinct count."""
    per_reason = [F.count(F.when(F.col("reason") == r, 1)).alias(r) for r in reasons]
    reused = F.count(F.when(F.col("reused"), 1)) if "reused" in checked.columns else F.lit(0)
    rows = (checked.groupBy("source_file")
            .agg(F.count(F.lit(1)).alias("n"), F.count(F.when(F.col("reason").isNull(), 1)).alias("accepted"),
                 F.min("source_row").alias("lo"), F.max("source_row").alias("hi"),
                 F.countDistinct("source_row").alias("distinct"), reused.alias("_reused"), *per_reason)
            .collect())
    return {r["source_file"]: {"n": r["n"], "lo": r["lo"], "hi": r["hi"], "distinct": r["distinct"],
                               "accepted": r["accepted"], "reused": r["_reused"],
                               "reasons": {k: r[k] for k in reasons if r[k]}}
            for r in rows}


def reconcile(files: Sequence[InputFile], rows_in: Mapping[str, int], got: Mapping[str, dict]) -> None:
    """Rows read = accepted + rejected per file, and the rows are exactly source_row 1..n;
    anything else is a bug and fails the run before any table is written."""
    problems = []
    for f in files:
        n_in = rows_in[f.relpath]
        g = got.get(f.relpath, {"n": 0, "lo": None, "hi": None, "distinct": 0, "accepted": 0, "reasons": {}})
        out = g["accepted"] + sum(g["reasons"].values())
        if out != n_in or g["n"] != n_in:
            problems.append(f"{f.relpath}: read {n_in} rows but accepted {g['accepted']} + rejected "
                            f"{out - g['accepted']} = {out}")
        elif n_in and (g["lo"] != 1 or g["hi"] != n_in or g["distinct"] != n_in):
            problems.append(f"{f.relpath}: source_row is not exactly 1..{n_in} "
                            f"(min {g['lo']}, max {g['hi']}, distinct {g['distinct']})")
    extra = sorted(set(got) - {f.relpath for f in files})
    if extra:
        problems.append(f"rows from unlisted files: {', '.join(extra)}")
    if problems:
        raise RuntimeError("ingest: counts do not reconcile: " + "; ".join(problems))


def record_counts(run: Run, kind: str, files: Sequence[InputFile], rows_in: Mapping[str, int],
                  got: Mapping[str, dict], reasons: Sequence[str] | None = None) -> None:
    """`_meta.runs` counts: `<kind>.rows_in|accepted|rejected|rejected.<reason>` and
    `<file>:rows_in|accepted|rejected|rejected.<reason>` (file = source_file). Every reason
    of `reasons` (default: the ingest reasons of `kind`) is recorded, zero included."""
    run.count(f"{kind}.files", len(files))
    for reason in (INGEST_REASONS[kind] if reasons is None else reasons):
        run.count(f"{kind}.rejected.{reason}", 0)
    for key in ("rows_in", "accepted", "rejected"):
        run.count(f"{kind}.{key}", 0)
    for f in files:
        g = got.get(f.relpath, {"accepted": 0, "reasons": {}})
        rejected = sum(g["reasons"].values())
        for key, n in (("rows_in", rows_in[f.relpath]), ("accepted", g["accepted"]), ("rejected", rejected)):
            run.count(f"{kind}.{key}", n)
            run.count(f"{f.relpath}:{key}", n)
        for reason, n in sorted(g["reasons"].items()):
            run.count(f"{kind}.rejected.{reason}", n)
            run.count(f"{f.relpath}:rejected.{reason}", n)


def rows_written(spark: SparkSession, name: str) -> int:
    """Rows the table's latest commit wrote (Delta operation metrics; no table scan)."""
    row = (DeltaTable.forPath(spark, tables.path(spark, name)).history(1)
           .select(F.col("operationMetrics")["numOutputRows"].alias("n")).first())
    return int(row["n"] or 0) if row else -1


# ---------------------------------------------------------------- one kind

@contextmanager
def commit_metadata(spark: SparkSession, meta: Mapping[str, str]) -> Iterator[None]:
    with session_conf(spark, {USER_METADATA: json.dumps(dict(meta), sort_keys=True)}):
        yield


def checked_frame(spark: SparkSession, kind: str, files: Sequence[InputFile], conf: IngestSettings,
                  run: Run, previous: DataFrame | None = None) -> tuple[DataFrame, dict[str, int]]:
    """Every row of the kind's files with its bronze columns and reason (not yet computed);
    lines found in `previous` (`previous_lines`) take their content from there."""
    kconf = conf.kinds[kind]
    parsed, rows_in = readers.read_kind(spark, files, kconf, run.log, previous)
    if kind == "patents":
        return checks.check_patents(parsed, conf.patent_types, kconf.columns), rows_in
    return checks.check_transfers(parsed, kconf.columns), rows_in


class FilesChanged(Exception):
    """Files of a kind that changed or vanished while the run read them (nothing written yet)."""

    def __init__(self, rejects: list[FileReject]) -> None:
        self.rejects = rejects
        super().__init__("; ".join(r.line() for r in rejects))


def _read_stable(files: Sequence[InputFile], read):
    """`read()` (which reads `files`), then the files compared with what the checks saw: a file
    that changed or went meanwhile raises FilesChanged, also when the read itself failed (Spark
    cannot find a file, openpyxl a sheet) because of it."""
    try:
        out = read()
    except Exception:
        changed = changed_files(files)
        if changed:
            raise FilesChanged(changed) from None
        raise
    changed = changed_files(files)
    if changed:
        raise FilesChanged(changed)
    return out


def ingest_kind(spark: SparkSession, run: Run, kind: str, files: Sequence[InputFile], conf: IngestSettings,
                fp: str, rules: str, previous: DataFrame | None = None) -> dict[str, dict]:
    """Read, check, reconcile and write one kind; returns the per-file counts. FilesChanged
    when a file changed while it was read (before anything is written)."""
    checked, rows_in = _read_stable(files, lambda: checked_frame(spark, kind, files, conf, run, previous))
    # computed once (scan, parse, duplicate window), then counted and written twice; the raw
    # line is kept for the rejects only (bronze does not store it).
    checked = persist_uncompressed(
        checked.withColumn("raw_record", F.when(F.col("reason").isNotNull(), F.col("raw_record"))),
        StorageLevel.DISK_ONLY)
    try:
        with run.phase(f"{kind}.read_check"):
            # every byte of the kind's files is read here (DISK_ONLY keeps what the writes use)
            got = _read_stable(files, lambda: file_counts(checked, INGEST_REASONS[kind]))
        reconcile(files, rows_in, got)
        record_counts(run, kind, files, rows_in, got)
        run.count(f"{kind}.lines_reused", 0)
        for f in files:
            n = got.get(f.relpath, {}).get("reused", 0)
            run.count(f"{kind}.lines_reused", n)
            run.count(f"{f.relpath}:lines_reused", n)
        accepted = sum(g["accepted"] for g in got.values())
        reused = f" ({run.counts[f'{kind}.lines_reused']:,} lines unchanged, not parsed again)" if previous else ""
        run.log(f"{kind}: {sum(rows_in.values()):,} rows read{reused}, {accepted:,} accepted; writing bronze")
        rejected = sum(sum(g["reasons"].values()) for g in got.values())
        meta = {"job": JOB, "kind": kind, "fingerprint": fp, "rules": rules, "run_id": run.run_id,
                "rejects": rejected}
        with run.phase(f"{kind}.write"), commit_metadata(spark, meta):
            tables.write(checks.accepted(checked, kind, run.run_id), spec_of(kind))
            tables.write(checks.rejected(checked, kind, run.run_id), REJECTS, mode="replace_where",
                         replace_where=f"stage = '{JOB}' AND kind = '{kind}'")
        # what the tables now hold must be the counts just reconciled: the overwrite's commit
        # metrics for the bronze table, a count of this kind's ingest rows for the shared rejects
        written = {spec_of(kind).name: rows_written(spark, spec_of(kind).name),
                   REJECTS.name: tables.read(spark, REJECTS.name)
                   .filter((F.col("stage") == JOB) & (F.col("kind") == kind)).count()}
    finally:
        checked.unpersist()
    expected = {spec_of(kind).name: accepted, REJECTS.name: rejected}
    if written != expected:
        raise RuntimeError(f"ingest: {kind}: bronze holds {written} rows after the write, expected {expected}")
    run.log(f"{kind}: written")
    return got


# ---------------------------------------------------------------- file checks

def record_file_checks(run: Run, check: FileCheck, quarantine: bool) -> None:
    """`_meta.runs`: counts `files.checked|accepted|rejected` (checked = accepted + rejected) and
    `files.rejected.<reason>` (every reason, zeros included); inputs `dump` (complete, partial
    when refused files were quarantined, refused when strict mode stops) and, per refused
    file, `rejected_file:<file>` = `reason;size;sha256;detail`."""
    accepted = sum(len(v) for v in check.files.values())
    run.count("files.checked", check.checked)
    run.count("files.accepted", accepted)
    run.count("files.rejected", len(check.rejects))
    for reason in FILE_REASONS:
        run.count(f"files.rejected.{reason}", 0)
    for r in check.rejects:
        run.count(f"files.rejected.{r.reason}", 1)
        run.inputs[f"rejected_file:{r.relpath}"] = f"{r.describe()};{r.detail}"
    run.count("files.aliases", len(check.aliases))
    for alias, name in check.aliases.items():     # links inside the dump to a file read under `name`
        run.inputs[f"alias:{alias}"] = name
        run.log(f"{printable(alias)}: a symbolic link to {printable(name)}, read once under that name")
    run.inputs["dump"] = "complete" if not check.rejects else ("partial" if quarantine else "refused")


def late_rejects(run: Run, check: FileCheck, late: Sequence[FileReject], quarantine: bool) -> FileCheck:
    """The check with `late` (files refused while the run read them) moved from the usable files
    to the refused ones, and the run's file counts and inputs updated to match."""
    gone = {(r.kind, r.relpath) for r in late}
    files = {k: [f for f in v if (k, f.relpath) not in gone] for k, v in check.files.items()}
    for r in late:
        run.count("files.accepted", -1)
        run.count("files.rejected", 1)
        run.count(f"files.rejected.{r.reason}", 1)
        run.inputs[f"rejected_file:{r.relpath}"] = f"{r.describe()};{r.detail}"
        run.inputs.pop(f"file:{r.relpath}", None)
    run.inputs["dump"] = "partial" if quarantine else "refused"
    return FileCheck(files, [*check.rejects, *late], check.aliases)


def refused(spark: SparkSession, run: Run, check: FileCheck, quarantine: bool) -> None:
    """Strict: fail listing all refused files; quarantine: record them in bronze.file_rejects
    (replaced on every run that gets past the checks) and go on."""
    if check.rejects and not quarantine:
        raise BadFiles(check)
    empty = without_files(check)
    if empty:
        raise UserError("no usable file left in " + " and ".join(f"{k}/" for k in empty)
                        + f" ({len(check.rejects)} files refused: "
                        + "; ".join(r.line() for r in check.rejects if r.kind in empty) + "); nothing was ingested")
    for r in check.rejects:
        run.log(f"quarantined {r.line()}")
    if tables.exists(spark, FILE_REJECTS.name):
        refresh_checks(spark, FILE_REJECTS)
    held = (set() if not tables.exists(spark, FILE_REJECTS.name) else
            {tuple(r) for r in tables.read(spark, FILE_REJECTS.name).drop("run_id").collect()})
    if not tables.exists(spark, FILE_REJECTS.name) or held != {(r.relpath, r.size, r.sha256, r.reason, r.detail)
                                                               for r in check.rejects}:
        # rewritten only when the refused files changed: a month with the same dump adds no version
        tables.write(file_rejects_frame(spark, check.rejects, run.run_id), FILE_REJECTS)


def refresh_checks(spark: SparkSession, spec: tables.TableSpec) -> None:
    """A table created when the spec's CHECKs were narrower (bronze.file_rejects before the
    hostile-file reasons): drop each CHECK whose expression differs, so the next write
    (`tables.ensure`) adds the spec's. Delta keeps a constraint's expression as a property."""
    loc = tables.path(spark, spec.name)
    props = dict(spark.sql(f"SHOW TBLPROPERTIES delta.`{loc}`").collect())
    for name, expr in spec.checks.items():
        held = props.get(f"delta.constraints.{name.lower()}")
        if held is not None and held != expr:
            spark.sql(f"ALTER TABLE delta.`{loc}` DROP CONSTRAINT {name}")


def file_stage(spark: SparkSession, run: Run, input_dir: Path, conf: IngestSettings, quarantine: bool) -> FileCheck:
    """Check every file and act on the refused ones (`refused`)."""
    run.log(f"checking the files of {printable(input_dir, None)}")
    check = check_input(input_dir, conf)
    record_file_checks(run, check, quarantine)
    run.log(f"{check.checked} files checked, {len(check.rejects)} refused")
    refused(spark, run, check, quarantine)
    return check


# ---------------------------------------------------------------- summary

def summary(files: Mapping[str, Sequence[InputFile]], counts: Mapping[str, int], actions: Mapping[str, str],
            refused: Sequence[FileReject] = ()) -> str:
    """Short per-file table of rows read, accepted and rejected (by reason), and the refused files."""
    head = ("file", "format", "rows_in", "accepted", "rejected", "reasons")
    lines = []
    for kind in KINDS:
        for f in files[kind]:
            reasons = " ".join(f"{k.split(':rejected.')[1]}={v}" for k, v in sorted(counts.items())
                               if k.startswith(f"{f.relpath}:rejected.") and v)
            lines.append((printable(f.relpath), f"{f.fmt} {f.encoding or ''}".strip(),
                          *(str(counts.get(f"{f.relpath}:{k}", 0)) for k in ("rows_in", "accepted", "rejected")),
                          reasons))
        for r in refused:
            if r.kind == kind:
                lines.append((printable(r.relpath), "-", "-", "-", "-", f"file refused: {r.reason}"))
        lines.append((f"total {kind} ({actions[kind]})", "",
                      *(str(counts.get(f"{kind}.{k}", 0)) for k in ("rows_in", "accepted", "rejected")), ""))
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]

    def fmt(row: tuple[str, ...]) -> str:      # text columns left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i in (0, 1, 5) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([fmt(head), *map(fmt, lines)])


# ---------------------------------------------------------------- the run

def ingest(spark: SparkSession, input_dir: str | Path, *, force: bool = False, quarantine: bool = False,
           parent_run_id: str | None = None, conf: IngestSettings | None = None) -> dict[str, int]:
    """Ingest `input_dir`/patents and `input_dir`/transfers into bronze; returns the run's counts.
    `quarantine`: ingest the usable files when some are refused (else the run fails)."""
    input_dir = Path(input_dir).expanduser().resolve()
    conf = conf or load_conf()
    with Run(spark, JOB, inputs={"input": str(input_dir)}, args={"force": force, "quarantine_bad_files": quarantine},
             parent_run_id=parent_run_id) as run:
        check = file_stage(spark, run, input_dir, conf, quarantine)
        logic = logic_digest()
        rules = rules_digest(conf, logic)
        actions, reasons = {}, {}
        versions = {t: state.log_version(spark, t) for t in (PATENTS_RAW.name, TRANSFERS_RAW.name, REJECTS.name)}
        with session_conf(spark, readers.DECODE_CONF):
            for kind in KINDS:
                while True:
                    try:
                        previous = ingest_or_skip(spark, run, kind, check, conf, logic, rules, force, actions,
                                                  reasons)
                        break
                    except FilesChanged as late:
                        # a file changed while it was read: refused like the checks' refusals
                        # (strict: the run fails naming all; quarantine: the kind read again without it)
                        for r in late.rejects:
                            run.log(f"refused while reading: {r.line()}")
                        check = late_rejects(run, check, late.rejects, quarantine)
                        refused(spark, run, check, quarantine)
                run.inputs[f"{kind}.action"] = "skipped" if previous else "written"
        inventory = check.files
        written = [k for k in KINDS if run.inputs[f"{k}.action"] == "written"]
        modes = {run.inputs[f"{k}.mode"] for k in written}
        run.inputs["mode"] = "skipped" if not written else "full" if "full" in modes else "incremental"
        run.inputs["reason"] = "; ".join(reasons[k] for k in written) if written else "inputs unchanged"
        for t, v in versions.items():
            for key, n in state.change_counts(spark, t, v).items():
                run.count(f"rows.{t}.{key}", n)
        partial = (f"\npartial dump: {len(check.rejects)} refused files quarantined, listed in {FILE_REJECTS.name}"
                   if check.rejects else "")
        print(f"greenlink ingest: run {run.run_id}\n{summary(inventory, run.counts, actions, check.rejects)}{partial}",
              file=sys.stderr)
        return dict(run.counts)


def ingest_or_skip(spark: SparkSession, run: Run, kind: str, check: FileCheck, conf: IngestSettings, logic: str,
                   rules: str, force: bool, actions: dict[str, str], reasons: dict[str, str]) -> str | None:
    """Skip the kind when unchanged (returns the run that wrote its bronze), else ingest it."""
    files = check.files[kind]
    fp = fingerprint(files, conf, logic, check.rejected(kind))
    run.inputs[f"{kind}.fingerprint"] = fp
    for f in files:
        run.inputs[f"file:{f.relpath}"] = f.describe()
        encoding = f" {f.encoding}" if f.encoding else ""
        run.log(f"{printable(f.relpath)}: {f.fmt}{encoding}, {f.size:,} bytes")
    previous = None if force else unchanged_since(spark, kind, fp)
    if previous:
        for key, n in counts_of_run(spark, previous, kind).items():
            run.count(key, n)
        run.count(f"{kind}.skipped", 1)
        actions[kind] = f"unchanged since run {previous}, skipped"
        run.log(f"{kind}: inputs unchanged since run {previous}; bronze left as is")
    else:
        lines, why = (None, "--force") if force else previous_lines(spark, kind, rules)
        ingest_kind(spark, run, kind, files, conf, fp, rules, lines)
        actions[kind] = "written" if lines is None else "written, unchanged lines reused"
        reasons[kind] = f"{kind}: {why}"
        run.inputs[f"{kind}.mode"] = "full" if lines is None else "incremental"
    return previous


@dataclass(frozen=True)
class IngestConfig:
    """What `greenlink ingest` runs on (the command's options as values)."""

    input: str | None = None                  # input folder holding patents/ and transfers/
    force: bool = False                       # rewrite bronze even when the inputs are unchanged
    quarantine_bad_files: bool = False        # ingest the usable files when some are refused


def input_dir(config: IngestConfig) -> Path:
    if not config.input:
        raise UserError("--input DIR is required (a folder with patents/ and transfers/)")
    return Path(config.input).expanduser()


CONFIG = IngestConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark: SparkSession, config: IngestConfig = IngestConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Ingest `config.input` in an existing session; returns the run's counts."""
    return ingest(spark, input_dir(config), force=config.force, quarantine=config.quarantine_bad_files,
                  parent_run_id=parent_run_id)
