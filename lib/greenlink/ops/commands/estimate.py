"""`greenlink estimate`: estimate specs on a panel and write estimates and rendered tables.

    greenlink estimate --panel FILE --spec FILE [--spec FILE ...] --out DIR
    greenlink estimate --tables all [--panel FILE | --warehouse DIR] [--out DIR] [--lock-wait SECONDS]

The panel is a CSV, Parquet file or Delta table folder; without --panel, --tables reads
<warehouse>/gold/city_year_panel with Spark and also writes gold.estimates (the pipeline stage,
`greenlink.estimate.stage.run`). --tables takes `all` or names of the article's
tables in conf/estimation (table1,...,table8). Writes DIR/estimates.csv (one row per table,
column, equation and term), DIR/samples.csv (row accounting of every estimation sample),
DIR/<table>.{md,tex,html,csv} and DIR/<table>_coef.png. Every mode runs from the same
`EstimateConfig`; `--spec` alone reads and writes no warehouse, so it takes no warehouse lock.
"""
from __future__ import annotations

import argparse
import os
import sys

from greenlink.core.config import load_profile
from greenlink.core.errors import UserError
from greenlink.core.session import get_spark
from greenlink.estimate.stage import EstimateConfig, article_tables, run, run_panel_file
from greenlink.ops.options import add_common, add_full


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    add_full(parser)
    parser.add_argument("--panel", default=None, help="panel file: .csv, .tsv, .parquet or a Delta table folder")
    parser.add_argument("--spec", action="append", default=[],
                        help="estimation spec YAML (a table or a single model); repeatable")
    parser.add_argument("--tables", default=None,
                        help="'all' or comma-separated article tables from conf/estimation (table1,...,table8)")
    parser.add_argument("--out", default=None, help="output folder (default with --tables: <reports>/tables)")
    parser.add_argument("--formats", default="md,tex,html,csv", help="table formats (default: md,tex,html,csv)")
    parser.add_argument("--contemporaneous", action="store_true",
                        help="SPEC §7 option: cross-equation y[t-1] become y[t], instrumented (3sls/2sls)")
    parser.add_argument("--no-plot", action="store_true", help="skip the coefficient plots")


def config(args: argparse.Namespace) -> EstimateConfig:
    if bool(args.spec) == bool(args.tables):
        raise UserError("give either --spec FILE (with --panel) or --tables all|table1,...")
    return EstimateConfig(tables=args.tables or "all", out=args.out, plots=not args.no_plot, reports=args.reports,
                          full=args.full, panel=args.panel, specs=tuple(args.spec),
                          formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
                          contemporaneous=args.contemporaneous)


def _warehouse_root(args: argparse.Namespace) -> str:
    root = args.warehouse or load_profile(args.profile).warehouse
    return root if "://" in root else os.path.abspath(root)


def main(args: argparse.Namespace) -> int:
    cfg = config(args)
    if cfg.panel is None:           # the warehouse's panel: Spark stage, results also to gold.estimates
        article_tables(cfg.tables)      # unknown table names fail before Spark starts
        counts = run(get_spark(args.profile, args.warehouse), cfg)
        return 1 if counts.get("estimates.failed_models") else 0
    results, est, out = run_panel_file(cfg, None if cfg.out or cfg.reports else _warehouse_root(args))
    failed = [(tr.table.table, m, why) for tr in results for m, why in tr.failures.items()]
    print(f"greenlink estimate: {len(results)} table(s), {len(est)} estimate rows -> {out}")
    for table, model, why in failed:
        print(f"greenlink estimate: {table} model {model} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":      # python -m greenlink.ops.commands.estimate ... (the same as `greenlink estimate ...`)
    _parser = argparse.ArgumentParser(prog="greenlink estimate", description=__doc__.splitlines()[0])
    configure(_parser)
    try:
        sys.exit(main(_parser.parse_args()))
    except UserError as _exc:
        print(f"greenlink estimate: {_exc}", file=sys.stderr)
        sys.exit(2)
