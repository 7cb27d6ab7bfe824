"""Monte Carlo at the study's shape (issue 24): every Table 3 column and Table 2's 3SLS.

    .venv/bin/python bench/bench_montecarlo.py [--reps 500] [--seed 240000] [--cities 278]
        [--worlds tobit,twopart,mixed,dynamic,base] [--csv FILE] [--json FILE] [--md FILE]

Each replication r simulates, for every world, a panel of 278 cities x 2010-2020 with city and
year effects (`greenlink.synth.montecarlo.simulate_world(world, seed + r)`: the model of one
column group, the study's controls, cross-lagged feedback; the first year only supplies lags,
so 2,780 estimation rows) and estimates it with the conf/estimation specs:

    world     model                           variants
    tobit     Table 3 (1)(2) Tobit            as configured (jackknife, clustered), uncorrected
              Table 3 (3)(4) on the same world: OLS on the nonzero rows (selection on y)
    twopart   Table 3 (3)(4) OLS, y > 0       as configured, uncorrected
    mixed     Table 3 (5)(6) NB/linear ML     as configured, uncorrected
    dynamic   Table 3 (7)(8) dynamic 3SLS     as configured (nickell, clustered), uncorrected
    base      Table 2 (2)(4) 3SLS             as configured (conventional), clustered (Table 8)

`uncorrected` is Table 3 before issue 24: no bias correction, conventional standard errors.
Per parameter: bias, RMSE, standard deviation over replications, mean reported SE and the
share of replications whose interval coef ± 1.96·SE covers the planted value. Prints the table
(Markdown) and the time; --csv keeps one row per replication and parameter, --json the summary.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"tobit": ("as configured", "uncorrected"), "twopart": ("as configured", "uncorrected"),
            "mixed": ("as configured", "uncorrected"), "dynamic": ("as configured", "uncorrected"),
            "base": ("as configured", "clustered")}


def markdown(summary) -> str:
    """One row per world, column and parameter: the configured estimator and its comparison."""
    import numpy as np

    lines = ["| world | column | equation | parameter | true | bias | RMSE | sd | mean SE | coverage | "
             "comparison | bias | coverage |", "|" + "---|" * 13]
    for (world, column, eq, term), g in summary.groupby(["world", "column", "equation", "term"], sort=False):
        main = g[g["variant"] == "as configured"]
        other = g[g["variant"] != "as configured"]
        if main.empty:
            main, other = other, other.iloc[0:0]
        m = main.iloc[0]
        o = other.iloc[0] if len(other) else None
        fmt = lambda x: f"{x:.4g}" if np.isfinite(x) else "-"  # noqa: E731
        lines.append(f"| {world} | {column} | {eq} | {term} | {fmt(m['true'])} | {fmt(m['bias'])} | {fmt(m['rmse'])} | "
                     f"{fmt(m['sd'])} | {fmt(m['mean_se'])} | {m['coverage']:.1%} | "
                     + (f"{o['variant']} | {fmt(o['bias'])} | {o['coverage']:.1%} |" if o is not None else "| | |"))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=240000)
    ap.add_argument("--cities", type=int, default=278)
    ap.add_argument("--worlds", default=",".join(VARIANTS))
    ap.add_argument("--csv", default=None, help="write every replication's estimates here")
    ap.add_argument("--json", default=None, help="write the summary table here")
    ap.add_argument("--md", default=None, help="write the Markdown table here")
    args = ap.parse_args()

    import pandas as pd

    from greenlink.synth.montecarlo import coverage_table, replicate, world_model

    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    nonzero = world_model("twopart")                     # Table 3 (3)(4) as configured
    start = time.perf_counter()
    frames = []
    for r in range(args.reps):
        t0 = time.perf_counter()
        for w in worlds:
            extra = {"nonzero OLS on the Tobit world": nonzero} if w == "tobit" else None
            frames.append(replicate(w, args.seed + r, VARIANTS[w], n_cities=args.cities, models=extra))
        if r == 0 or (r + 1) % 10 == 0:
            print(f"replication {r + 1}/{args.reps}: {time.perf_counter() - t0:.1f}s "
                  f"(total {time.perf_counter() - start:.0f}s)", flush=True)
    raw = pd.concat(frames, ignore_index=True)
    summary = coverage_table(raw)
    total = time.perf_counter() - start
    if args.csv:
        raw.to_csv(args.csv, index=False)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "bench/bench_montecarlo.py " + " ".join(sys.argv[1:]), "reps": args.reps, "seed": args.seed,
            "cities": args.cities, "seconds": round(total, 1), "rows": summary.to_dict(orient="records")}, indent=1))
    table = markdown(summary)
    if args.md:
        Path(args.md).write_text(table + "\n")
    print(table)
    main_rows = summary[summary["variant"] == "as configured"]
    t3 = main_rows[main_rows["world"] != "base"]
    print(f"\n{args.reps} replications x {len(worlds)} worlds in {total:.0f}s; Table 3 coverage (as configured): "
          f"min {t3['coverage'].min():.1%}, max {t3['coverage'].max():.1%} over {len(t3)} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
