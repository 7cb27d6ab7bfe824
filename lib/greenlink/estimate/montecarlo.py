"""Monte Carlo "pseudo-true" values of an estimator on generated worlds (issue 13).

On the default generator world the article's estimator has no probability limit equal to the
planted alpha, beta (ln(1 + count) is censored at 0 and both lagged outcomes feed back with
T = 10), so a single run is compared with the estimator's own expectation in that world: its
mean over seeds. Each seed is a driver-side simulation (`generate.system.simulate`, the panel
the pipeline rebuilds exactly; seconds per world) followed by the estimation.

    pseudo_true(n_patents, seeds, profile=None) -> DataFrame (seed, equation, term, coef, se, planted)
    summarize(frame) -> DataFrame (equation, term, planted, mean, sd over seeds, mean se, mc_se, seeds)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenlink.core.config import conf_file
from greenlink.estimate.estimate import estimate
from greenlink.estimate.spec import load_table
from greenlink.synth import params as gparams
from greenlink.synth.system import simulate

CROSS_TERMS = {"ln_gtr": ("ln_rsi[t-1]", "alpha"), "ln_rsi": ("ln_gtr[t-1]", "beta")}


def _table2_fe():
    table = load_table(Path(conf_file("estimation")) / "table2.yaml")
    return table, next(m for m in table.models if m.name == "fe")


def pseudo_true(n_patents: int, seeds: list[int], profile: str | None = None,
                overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Table 2 (2)(4) alpha-hat and beta-hat on the generator's panel of each seed."""
    p = gparams.load(overrides, profile=profile)
    table, model = _table2_fe()
    rows = []
    for seed in seeds:
        world = simulate(seed, n_patents, p)
        res = estimate(world.panel, model, table.unit, table.time)
        for eq, (term, name) in CROSS_TERMS.items():
            r = res.equations[eq]
            rows.append((seed, eq, term, float(r.params[term]), float(r.std_errors[term]),
                         float(world.structural[name]), float((world.panel[f"ystar_{eq[3:]}"] < 0).mean())))
    return pd.DataFrame(rows, columns=["seed", "equation", "term", "coef", "se", "planted", "censored_share"])


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds (the pseudo-true value), its Monte Carlo standard error sd/sqrt(seeds),
    the spread over seeds and the mean reported SE."""
    g = frame.groupby(["equation", "term"], sort=False)
    out = g.agg(planted=("planted", "first"), mean=("coef", "mean"), sd=("coef", "std"), mean_se=("se", "mean"),
                seeds=("seed", "nunique"), censored_share=("censored_share", "mean")).reset_index()
    out["mc_se"] = out["sd"] / np.sqrt(out["seeds"])
    return out
