"""`greenlink generate --patents N --seed S --out DIR [--defect-rate R]` (docs/generator.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from greenlink.core.runs import Run
from greenlink.core.session import get_spark
from greenlink.ops.cli import add_common
from greenlink.synth import params
from greenlink.synth.world import check_args, generate

DEFAULT_SEED = 20240601


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--patents", type=int, default=60_000, help="number of patents (default 60,000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--out", default="demo/world", help="output folder (default demo/world)")
    parser.add_argument("--defect-rate", type=float, default=None,
                        help="share of patent records with a defect (default: conf/generator.yaml, 0.01)")


def main(args: argparse.Namespace) -> int:
    rate = params.load()["defects"]["rate"] if args.defect_rate is None else args.defect_rate
    check_args(args.patents, rate)
    spark = get_spark(args.profile, args.warehouse)

    with Run(spark, "generate", inputs={"out": args.out},
             args={"patents": args.patents, "seed": args.seed, "defect_rate": rate}) as run:
        manifest = generate(spark, Path(args.out), args.patents, args.seed, rate, progress=run.log)
        for rel, info in manifest["files"].items():
            if info.get("rows") is not None and not rel.startswith("truth/"):
                run.count(f"rows.{rel}", info["rows"])
    return 0
