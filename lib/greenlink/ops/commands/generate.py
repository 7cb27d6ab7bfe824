"""`greenlink generate --patents N --seed S --out DIR [--defect-rate R]`, or
`greenlink generate --next-month-of DUMP [--share F] --seed S --out DIR` (docs/generator.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.core.session import get_spark
from greenlink.ops.options import add_common
from greenlink.synth import params
from greenlink.synth.nextmonth import next_month
from greenlink.synth.world import check_args, generate

DEFAULT_SEED = 20240601


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--patents", type=int, default=60_000, help="number of patents (default 60,000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--out", default="demo/world", help="output folder (default demo/world)")
    parser.add_argument("--defect-rate", type=float, default=None,
                        help="share of patent records with a defect (default: conf/generator.yaml, 0.01)")
    parser.add_argument("--next-month-of", metavar="DUMP", default=None,
                        help="instead of a world, write the dump that follows DUMP a month later into --out "
                             "(rows shuffled, some corrected, withdrawn and added; NEXT_MONTH.json lists them)")
    parser.add_argument("--share", type=float, default=None,
                        help="with --next-month-of: share of rows corrected (default 0.01; a quarter of it "
                             "withdrawn, half of it added)")
    parser.add_argument("--years", default=None, metavar="FIRST-LAST",
                        help="with --next-month-of: change only patents applied for and transfers registered "
                             "in these years (e.g. 2019-2020; default: any year)")


def main(args: argparse.Namespace) -> int:
    if args.next_month_of is not None:
        return _next_month(args)
    for option, value in (("--share", args.share), ("--years", args.years)):
        if value is not None:
            raise UserError(f"{option} applies only with --next-month-of")
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


def _next_month(args: argparse.Namespace) -> int:
    """Plain file work: no Spark session, hence no _meta.runs record."""
    share = 0.01 if args.share is None else args.share
    report = next_month(Path(args.next_month_of), Path(args.out), share=share, seed=args.seed,
                        years=_years(args.years))
    counts = ", ".join(f"{k} {v['count']:,}" for k, v in sorted(report["changes"].items()))
    print(f"next month of {args.next_month_of} written to {args.out}: {counts}")
    return 0


def _years(text: str | None) -> tuple[int, int] | None:
    """`2019-2020` or `2019` as (first, last); None for None."""
    if text is None:
        return None
    parts = text.split("-")
    if not 1 <= len(parts) <= 2 or not all(p.strip().isdigit() for p in parts):
        raise UserError(f"--years must be FIRST-LAST or YEAR, e.g. 2019-2020 (got {text!r})")
    return int(parts[0]), int(parts[-1])
