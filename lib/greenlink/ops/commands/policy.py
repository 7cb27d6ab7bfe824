"""`greenlink policy --input DIR`: policy documents -> gold.policy_tools, gold.policy_synergy."""
from __future__ import annotations

import argparse

from greenlink.core.config import study_years
from greenlink.core.session import get_spark
from greenlink.core.text import parse_years
from greenlink.gold.policy.stage import PolicyConfig, run
from greenlink.ops.options import add_common, add_full


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    add_full(parser)
    parser.add_argument("--input", default=None, help="raw input folder holding policies/*.jsonl")
    parser.add_argument("--years", default="{}-{}".format(*study_years()),
                        help="study years of gold.policy_synergy (default: %(default)s, SPEC §3)")
    parser.add_argument("--tools", default=None, help="tool dictionary (default: conf/policy_tools.yaml)")
    parser.add_argument("--agencies", default=None, help="agency dictionary (default: conf/policy_agencies.yaml)")


def config(args: argparse.Namespace) -> PolicyConfig:
    return PolicyConfig(input=args.input, years=parse_years(args.years, study_years()), tools=args.tools,
                        agencies=args.agencies, full=args.full)


def main(args: argparse.Namespace) -> int:
    cfg = config(args)
    run(get_spark(args.profile, args.warehouse), cfg)
    return 0
