"""`greenlink networks`: silver -> gold city networks, city-year network variables, maps."""
from __future__ import annotations

import argparse

from greenlink.core.session import get_spark
from greenlink.core.text import parse_years
from greenlink.gold.networks.inputs import PATENT_YEARS
from greenlink.gold.networks.stage import NetworksConfig, config_of, run
from greenlink.ops.options import add_common, add_full


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    add_full(parser)
    parser.add_argument("--config", default=None, help="stage settings (default: conf/networks.yaml)")
    parser.add_argument("--patent-year", choices=PATENT_YEARS, default=None,
                        help="date of a co-patent: application (default) or grant year (SPEC §4)")
    parser.add_argument("--years", default=None, help="panel years, e.g. 2010-2020 (default: the config's)")
    parser.add_argument("--no-figures", action="store_true", help="do not draw the network maps")


def config(args: argparse.Namespace) -> NetworksConfig:
    return NetworksConfig(config=args.config, years=parse_years(args.years) if args.years else None,
                               patent_year=args.patent_year, figures=not args.no_figures, reports=args.reports, full=args.full)


def main(args: argparse.Namespace) -> int:
    cfg = config(args)
    config_of(cfg)      # configuration errors surface before Spark starts
    run(get_spark(args.profile, args.warehouse), cfg)
    return 0
