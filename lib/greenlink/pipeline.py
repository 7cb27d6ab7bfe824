"""`greenlink run`: the pipeline stages in order, in one SparkSession.

`--all` runs every stage of `cli.PIPELINE`; `--stages a,b` a subset (still in pipeline
order). `--demo` uses the embedded default world: it generates ./demo/world once
(fixed seed, small size) and reads it as the input. Every stage records its own row in
`_meta.runs`, linked to the parent `run` row. `--quarantine-bad-files` goes to ingest
(docs/ingest.md, "File checks"); the parent row then records `dump` = `partial` or `complete`.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from greenlink.cli import COMMANDS, PIPELINE, add_common, add_quarantine
from greenlink.errors import UserError
from greenlink.runs import Run, dump_state

DEMO_WORLD = Path("demo/world")
DEMO_PATENTS = 60_000
DEMO_SEED = 20240601


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--input", default=None, help="raw input folder (a generated world or real dumps)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help=f"every stage: {', '.join(PIPELINE)}")
    which.add_argument("--stages", help="comma-separated subset of the stages, run in pipeline order")
    parser.add_argument("--demo", action="store_true",
                        help=f"generate (once) and use the demo world in {DEMO_WORLD}/ ({DEMO_PATENTS:,} patents)")
    add_quarantine(parser)


def selected_stages(args: argparse.Namespace) -> list[str]:
    if args.all:
        return list(PIPELINE)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in PIPELINE]
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(PIPELINE)}")
    return [s for s in PIPELINE if s in wanted]


def stage_args(stage: str, args: argparse.Namespace) -> argparse.Namespace:
    """The stage's own defaults, overlaid with the options `run` shares with it."""
    parser = argparse.ArgumentParser(prog=f"greenlink {stage}")
    module = importlib.import_module(COMMANDS[stage][0])
    module.configure(parser)
    ns = parser.parse_args([])   # stages take no required options: they validate in run()
    for key in ("profile", "warehouse", "reports", "input", "quarantine_bad_files"):
        if hasattr(ns, key) and getattr(args, key, None) is not None:
            setattr(ns, key, getattr(args, key))
    return ns


def main(args: argparse.Namespace) -> int:
    from greenlink.session import get_spark

    stages = selected_stages(args)
    spark = get_spark(args.profile, args.warehouse)
    if args.demo:
        from greenlink.generate.cli import ensure_demo_world

        args.input = str(ensure_demo_world(spark, DEMO_WORLD, DEMO_PATENTS, DEMO_SEED))
    readers = [s for s in stages if hasattr(stage_args(s, args), "input")]   # stages that read raw files
    if args.input is None and readers:
        raise UserError(f"--input DIR is required by {', '.join(readers)} (or --demo for the generated demo world)")
    run_stages(spark, stages, args)
    return 0


def run_stages(spark, stages: list[str], args: argparse.Namespace) -> str:
    """Run `stages` in order under one parent `run` record; returns its run_id."""
    quarantine = bool(getattr(args, "quarantine_bad_files", False))
    with Run(spark, "run", inputs={"input": getattr(args, "input", None) or ""},
             args={"stages": stages, "quarantine_bad_files": quarantine}) as parent:
        for stage in stages:
            parent.log(f"stage {stage}")
            ns = stage_args(stage, args)
            importlib.import_module(COMMANDS[stage][0]).run(spark, ns, parent_run_id=parent.run_id)
            if stage == "ingest":               # the parent record says whether the dump was partial
                parent.inputs.update(dump_state(spark))
        return parent.run_id
