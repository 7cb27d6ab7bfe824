"""`greenlink classify`: bronze -> silver (dedupe, green classification, applicant location)."""
from __future__ import annotations

import argparse

from greenlink.core.session import get_spark
from greenlink.ops.options import add_common, add_full
from greenlink.silver.stage import ClassifyConfig, run


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    add_full(parser)


def config(args: argparse.Namespace) -> ClassifyConfig:
    return ClassifyConfig(full=args.full)


def main(args: argparse.Namespace) -> int:
    run(get_spark(args.profile, args.warehouse), config(args))
    return 0
