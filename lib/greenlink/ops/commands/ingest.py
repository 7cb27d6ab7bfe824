"""`greenlink ingest --input DIR`: raw dumps -> bronze.patents_raw, bronze.transfers_raw, bronze.rejects."""
from __future__ import annotations

import argparse

from greenlink.bronze.filechecks import BadFiles, check_input
from greenlink.bronze.stage import IngestConfig, input_dir, run
from greenlink.bronze.layout import load_conf
from greenlink.core.session import get_spark
from greenlink.ops.options import add_common, add_quarantine


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--input", default=None,
                        help="input folder holding patents/ and transfers/ (docs/raw_formats.md)")
    parser.add_argument("--force", action="store_true",
                        help="rewrite bronze even when the inputs are unchanged since the last ingest")
    add_quarantine(parser)


def config(args: argparse.Namespace) -> IngestConfig:
    return IngestConfig(input=args.input, force=args.force, quarantine_bad_files=args.quarantine_bad_files)


def main(args: argparse.Namespace) -> int:
    cfg = config(args)
    # layout, conf and (strict mode) file problems surface before Spark starts, every bad file
    # listed; the run repeats the checks with the streamed pass (sha256, encoding) and records them
    check = check_input(input_dir(cfg).resolve(), load_conf(), full=False)
    if check.rejects and not cfg.quarantine_bad_files:
        raise BadFiles(check)
    run(get_spark(args.profile, args.warehouse), cfg)
    return 0
