"""Benchmark: the article's Tables 1-8 (conf/estimation) on a simulated full-size panel.

    .venv/bin/python bench/bench_estimate.py [--cities 278] [--seed 7] [--out DIR]

Simulates 278 cities x 2010-2020 (3,058 rows; 2,780 estimation rows after the lag) with the
SPEC §7 system (`greenlink.synth.estimation_panel`, counts drawn negative binomial), then times
estimating and rendering every table: reading specs, building designs, iterated 3SLS,
Tobit, OLS and the mixed count/linear ML (Table 3 with its bias corrections: the split-panel
jackknife refits (1)-(6) on both halves of the period, the Nickell correction of (7)(8), and
city-clustered standard errors), and writing Markdown/LaTeX/HTML/CSV and plots.
Prints one line per table and the total; the target is under 60 s on the project machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=278)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=None, help="keep the reports here (default: a temporary folder)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import linearmodels  # noqa: F401  (import cost reported separately)
    from greenlink.estimate.fitting import run_table
    from greenlink.estimate.render import write_reports
    from greenlink.estimate.spec import load_tables
    from greenlink.synth.estimation_panel import simulate_panel

    t_import = time.perf_counter() - t0
    panel, _ = simulate_panel(n_cities=args.cities, seed=args.seed, discrete=True)
    tables = load_tables(ROOT / "conf" / "estimation")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_estimate_"))
    print(f"panel: {len(panel):,} rows x {panel.shape[1]} columns; imports {t_import:.1f}s")
    start = time.perf_counter()
    failures = 0
    for t in tables:
        t1 = time.perf_counter()
        tr = run_table(panel, t, on_error="record")
        write_reports([tr], out)
        failures += len(tr.failures)
        models = ", ".join(f"{m}: {r.estimator}" for m, r in tr.results.items()) or t.kind
        print(f"{t.table}: {time.perf_counter() - t1:6.2f}s  ({models}){' FAILED ' + str(tr.failures) if tr.failures else ''}")
    total = time.perf_counter() - start
    print(f"all tables: {total:.1f}s (+ imports {t_import:.1f}s); reports in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
