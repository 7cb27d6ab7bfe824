"""`greenlink ingest --input DIR`: raw dumps -> bronze.patents_raw, bronze.transfers_raw, bronze.rejects."""
from __future__ import annotations

import argparse
from pathlib import Path

from pyspark.sql import SparkSession

from greenlink.cli import add_common, add_quarantine
from greenlink.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--input", default=None,
                        help="input folder holding patents/ and transfers/ (docs/raw_formats.md)")
    parser.add_argument("--force", action="store_true",
                        help="rewrite bronze even when the inputs are unchanged since the last ingest")
    add_quarantine(parser)


def _input_dir(args: argparse.Namespace) -> Path:
    if not getattr(args, "input", None):
        raise UserError("--input DIR is required (a folder with patents/ and transfers/)")
    return Path(args.input).expanduser()


def run(spark: SparkSession, args: argparse.Namespace, parent_run_id: str | None = None) -> dict[str, int]:
    """Ingest args.input in an existing session; returns the run's counts."""
    from greenlink.ingest.job import ingest

    return ingest(spark, _input_dir(args), force=bool(getattr(args, "force", False)),
                  quarantine=bool(getattr(args, "quarantine_bad_files", False)), parent_run_id=parent_run_id)


def main(args: argparse.Namespace) -> int:
    from greenlink.ingest.filechecks import BadFiles, check_input
    from greenlink.ingest.layout import load_conf
    from greenlink.session import get_spark

    # layout, conf and (strict mode) file problems surface before Spark starts, every bad file
    # listed; the run repeats the checks with the streamed pass (sha256, encoding) and records them
    check = check_input(_input_dir(args).resolve(), load_conf(), full=False)
    if check.rejects and not getattr(args, "quarantine_bad_files", False):
        raise BadFiles(check)
    spark = get_spark(args.profile, args.warehouse)
    run(spark, args)
    return 0
