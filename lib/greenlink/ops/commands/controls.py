"""`greenlink controls --input DIR`: panel inputs -> silver controls, gold.sample_log, er."""
from __future__ import annotations

import argparse

from greenlink.core.session import get_spark
from greenlink.core.text import parse_years
from greenlink.gold.controls.stage import ControlsConfig, plan, run
from greenlink.ops.options import add_common, add_full


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    add_full(parser)
    parser.add_argument("--input", default=None, help="input folder holding yearbook/, province/, cities/")
    parser.add_argument("--years", default=None, help="study years, e.g. 2010-2020 (default: conf/panel.yaml)")
    parser.add_argument("--panel-conf", default=None, help="panel settings (default: conf/panel.yaml)")


def config(args: argparse.Namespace) -> ControlsConfig:
    return ControlsConfig(input=args.input, years=parse_years(args.years) if args.years else None,
                          panel_conf=args.panel_conf, full=args.full)


def main(args: argparse.Namespace) -> int:
    cfg = config(args)
    plan(cfg)                                   # input problems surface before Spark starts
    run(get_spark(args.profile, args.warehouse), cfg)
    return 0
