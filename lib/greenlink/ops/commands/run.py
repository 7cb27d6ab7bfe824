"""`greenlink run`: the pipeline stages in order, in one SparkSession.

`--all` runs every stage of the stage registry (core.stages); `--stages a,b` a subset (still in pipeline
order). `--demo` uses the embedded default world: it generates ./demo/world once
(fixed seed, small size) and reads it as the input. Every stage records its own row in
`_meta.runs`, linked to the parent `run` row. `--quarantine-bad-files` goes to ingest
(docs/ingest.md, "File checks"); the parent row then records `dump` = `partial` or `complete`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from greenlink.core.errors import UserError
from greenlink.core.session import get_spark
from greenlink.core.stages import names
from greenlink.ops.options import add_common, add_full, add_quarantine
from greenlink.ops.pipeline import PipelineConfig, reads_input, run_stages
from greenlink.synth.world import ensure_demo_world

DEMO_WORLD = Path("demo/world")
DEMO_PATENTS = 60_000
DEMO_SEED = 20240601
PIPELINE: list[str] = list(names())     # the stages in pipeline order (= ops.cli.PIPELINE)


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--input", default=None, help="raw input folder (a generated world or real dumps)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help=f"every stage: {', '.join(PIPELINE)}")
    which.add_argument("--stages", help="comma-separated subset of the stages, run in pipeline order")
    parser.add_argument("--demo", action="store_true",
                        help=f"generate (once) and use the demo world in {DEMO_WORLD}/ ({DEMO_PATENTS:,} patents)")
    add_quarantine(parser)
    add_full(parser)


def selected_stages(args: argparse.Namespace) -> list[str]:
    if args.all:
        return list(PIPELINE)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in PIPELINE]
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(PIPELINE)}")
    return [s for s in PIPELINE if s in wanted]


def config(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig(input=args.input, reports=args.reports, quarantine_bad_files=args.quarantine_bad_files,
                          full=args.full)


def main(args: argparse.Namespace) -> int:
    stages = selected_stages(args)
    spark = get_spark(args.profile, args.warehouse)
    if args.demo:
        args.input = str(ensure_demo_world(spark, DEMO_WORLD, DEMO_PATENTS, DEMO_SEED))
    readers = [s for s in stages if reads_input(s)]   # stages that read raw files
    if args.input is None and readers:
        raise UserError(f"--input DIR is required by {', '.join(readers)} (or --demo for the generated demo world)")
    run_stages(spark, stages, config(args))
    return 0
