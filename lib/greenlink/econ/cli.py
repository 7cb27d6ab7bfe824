"""`greenlink estimate`: estimate specs on a panel and write estimates and rendered tables.

    greenlink estimate --panel FILE --spec FILE [--spec FILE ...] --out DIR
    greenlink estimate --tables all [--panel FILE | --warehouse DIR] [--out DIR]

The panel is a CSV, Parquet file or Delta table folder; without --panel, --tables reads
<warehouse>/gold/city_year_panel with Spark and also writes gold.estimates (the pipeline stage,
`run`). --tables takes `all` or names of the article's
tables in conf/estimation (table1,...,table8). Writes DIR/estimates.csv (one row per table,
column, equation and term), DIR/samples.csv (row accounting of every estimation sample),
DIR/<table>.{md,tex,html,csv} and DIR/<table>_coef.png.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
from pyspark.sql import types as T

from greenlink.errors import UserError
from greenlink.tables import TableSpec

SPEC_DIR = "estimation"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--panel", default=None, help="panel file: .csv, .tsv, .parquet or a Delta table folder")
    parser.add_argument("--spec", action="append", default=[],
                        help="estimation spec YAML (a table or a single model); repeatable")
    parser.add_argument("--tables", default=None,
                        help="'all' or comma-separated article tables from conf/estimation (table1,...,table8)")
    parser.add_argument("--out", default=None, help="output folder (default with --tables: the reports folder)")
    parser.add_argument("--formats", default="md,tex,html,csv", help="table formats (default: md,tex,html,csv)")
    parser.add_argument("--contemporaneous", action="store_true",
                        help="SPEC §7 option: cross-equation y[t-1] become y[t], instrumented (3sls/2sls)")
    parser.add_argument("--no-plot", action="store_true", help="skip the coefficient plots")
    parser.add_argument("--profile", default="local", help="profile naming the warehouse (default: local)")
    parser.add_argument("--warehouse", default=None, help="warehouse root (default: the profile's)")
    parser.add_argument("--reports", default=None, help="reports folder for --tables (default: <warehouse>/../reports)")


def article_tables(names: str, spec_dir: Path | None = None):
    """The article's table specs from conf/estimation: `all` or a comma-separated subset."""
    from greenlink.config import conf_file
    from greenlink.econ.spec import load_tables

    tables = load_tables(spec_dir or conf_file(SPEC_DIR))
    if names.strip() == "all":
        return tables
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {t.table: t for t in tables}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UserError(f"unknown table(s) {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[n] for n in wanted]


def _warehouse_root(args: argparse.Namespace) -> str:
    from greenlink.config import load_profile

    root = args.warehouse or load_profile(args.profile).warehouse
    return root if "://" in root else os.path.abspath(root)


def sample_frame(results) -> pd.DataFrame:
    """Row accounting of every estimated equation: table, model, equation, item, rows."""
    rows = []
    for tr in results:
        for mname, res in tr.results.items():
            for eq in res.equations.values():
                if eq.counts is None:
                    continue
                for item, n in eq.counts.as_dict().items():
                    rows.append((tr.table.table, mname, eq.name, item, n))
    return pd.DataFrame(rows, columns=["table", "model", "equation", "item", "rows"])


def estimates_frame(results) -> pd.DataFrame:
    """Long estimates with the model and estimator of each row (estimates.csv)."""
    frames = []
    for tr in results:
        if tr.table.kind != "regression":
            continue
        long = tr.long()
        if not len(long):
            continue
        model_of = {e.column: m.name for m, e in tr.table.columns()}
        est_of = {e.column: tr.results[m.name].equations[e.name].estimator
                  for m, e in tr.table.columns() if m.name in tr.results}
        long.insert(1, "model", long["column"].map(model_of))
        long.insert(2, "estimator", long["column"].map(est_of))
        frames.append(long)
    cols = ["table", "model", "estimator", "column", "equation", "term", "coef", "se", "p", "nobs", "r2", "note"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def run_estimation(panel: pd.DataFrame, tables, out_dir: str | Path, formats: tuple[str, ...] = ("md", "tex", "html", "csv"),
                   contemporaneous: bool | None = None, on_error: str = "raise", plots: bool = True):
    """Estimate `tables` on `panel` and write estimates.csv, samples.csv and the rendered tables
    to `out_dir`. Returns (results, estimates frame)."""
    from greenlink.econ.estimate import run_tables
    from greenlink.econ.render import write_reports

    results = run_tables(panel, tables, contemporaneous, on_error)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    est = estimates_frame(results)
    est.to_csv(out / "estimates.csv", index=False)
    sample_frame(results).to_csv(out / "samples.csv", index=False)
    write_reports(results, out, formats, plots)
    return results, est


def estimates_spec():
    """gold.estimates: the latest estimates of the article's tables (time travel keeps earlier ones)."""
    S, D, L = T.StringType(), T.DoubleType(), T.LongType()
    cols = [("run", S), ("table", S), ("model", S), ("estimator", S), ("column", S), ("equation", S),
            ("term", S), ("coef", D), ("se", D), ("p", D), ("nobs", L), ("r2", D), ("note", S)]
    return TableSpec(
        name="gold.estimates",
        schema=T.StructType([T.StructField(n, t) for n, t in cols]),
        not_null=("run", "table", "column", "equation", "term"),
        checks={"valid_values": "(se IS NULL OR se >= 0) AND (p IS NULL OR p BETWEEN 0 AND 1) "
                                "AND (nobs IS NULL OR nobs > 0)"},
        keys=("table", "column", "equation", "term"),
        comment="Estimates of Tables 2-7 (SPEC §7) from gold.city_year_panel; `run` = the run that produced them",
    )


ESTIMATES = estimates_spec()


def _same_estimates(old: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Equal up to the producing run and float noise far below any reported digit."""
    import numpy as np

    keys = ["table", "column", "equation", "term"]
    if len(old) != len(new):
        return False
    a, b = old.sort_values(keys).reset_index(drop=True), new.sort_values(keys).reset_index(drop=True)
    for c in ("table", "model", "estimator", "column", "equation", "term", "nobs", "note"):
        if not a[c].astype("string").fillna("").equals(b[c].astype("string").fillna("")):
            return False
    return all(np.allclose(a[c].astype(float), b[c].astype(float), rtol=1e-10, atol=1e-12, equal_nan=True)
               for c in ("coef", "se", "p", "r2"))


def run(spark, args: argparse.Namespace, parent_run_id: str | None = None) -> dict[str, int]:
    """Pipeline stage: every article table on gold.city_year_panel -> gold.estimates and
    <reports>/tables. gold.estimates is rewritten only when an estimate changed, so a rerun on
    an unchanged panel leaves the table as it was."""
    from greenlink import tables as delta_tables
    from greenlink.runs import Run
    from greenlink.session import reports_dir

    if not delta_tables.exists(spark, "gold.city_year_panel"):
        raise UserError("gold.city_year_panel not found: run `greenlink panel` (or `greenlink run`) first")
    spec = ESTIMATES
    names = getattr(args, "tables", None) or "all"
    out = Path(getattr(args, "out", None) or Path(reports_dir(spark, args)) / "tables")
    with Run(spark, "estimate", inputs={"gold.city_year_panel": str(delta_tables.latest_version(
            spark, "gold.city_year_panel"))}, args={"tables": names}, parent_run_id=parent_run_id) as r:
        panel = delta_tables.read(spark, "gold.city_year_panel").toPandas()
        r.log(f"panel: {len(panel):,} city-years; estimating {names}")
        results, est = run_estimation(panel, article_tables(names), out, on_error="record",
                                      plots=not getattr(args, "no_plot", False))
        est = est.assign(run=r.run_id, nobs=pd.to_numeric(est["nobs"], errors="coerce").astype("Int64"))
        failed = [(tr.table.table, m, why) for tr in results for m, why in tr.failures.items()]
        for table, model, why in failed:
            r.log(f"{table} model {model} failed: {why}")
        r.count("estimates.rows", len(est))
        r.count("estimates.failed_models", len(failed))
        old = delta_tables.read(spark, spec.name).toPandas() if delta_tables.exists(spark, spec.name) else None
        if old is not None and _same_estimates(old, est):
            r.log("estimates unchanged; gold.estimates left as is")
            r.count("estimates.unchanged", 1)
        else:
            frame = est[list(spec.schema.fieldNames())].astype(object).where(est.notna(), None)
            delta_tables.write(spark.createDataFrame(frame.values.tolist(), spec.schema), spec)
            r.log(f"gold.estimates written; reports in {out}")
        return dict(r.counts)


def main(args: argparse.Namespace) -> int:
    from greenlink.econ.io import read_panel
    from greenlink.econ.render import FORMATS
    from greenlink.econ.spec import load_tables

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"unknown format(s) {', '.join(bad)}; formats: {', '.join(FORMATS)}")
    if bool(args.spec) == bool(args.tables):
        raise UserError("give either --spec FILE (with --panel) or --tables all|table1,...")
    if args.spec:
        if not args.panel or not args.out:
            raise UserError("--spec needs --panel FILE and --out DIR")
        tables = load_tables(args.spec)
        panel_path, out, on_error = args.panel, args.out, "raise"
    elif not args.panel:            # the warehouse's panel: Spark stage, results also to gold.estimates
        from greenlink.session import get_spark

        article_tables(args.tables)     # unknown table names fail before Spark starts
        counts = run(get_spark(args.profile, args.warehouse), args)
        return 1 if counts.get("estimates.failed_models") else 0
    else:
        tables = article_tables(args.tables)
        wh = _warehouse_root(args)
        panel_path = args.panel or f"{wh}/gold/city_year_panel"
        out = args.out or str(Path(args.reports or Path(wh).parent / "reports") / "tables")
        on_error = "record"
    panel = read_panel(panel_path)
    results, est = run_estimation(panel, tables, out, formats, True if args.contemporaneous else None,
                                  on_error, not args.no_plot)
    failed = [(tr.table.table, m, why) for tr in results for m, why in tr.failures.items()]
    print(f"greenlink estimate: {len(tables)} table(s), {len(est)} estimate rows -> {out}")
    for table, model, why in failed:
        print(f"greenlink estimate: {table} model {model} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":      # python -m greenlink.econ.cli ... (the same as `greenlink estimate ...`)
    _parser = argparse.ArgumentParser(prog="greenlink estimate", description=__doc__.splitlines()[0])
    configure(_parser)
    try:
        sys.exit(main(_parser.parse_args()))
    except UserError as _exc:
        print(f"greenlink estimate: {_exc}", file=sys.stderr)
        sys.exit(2)
