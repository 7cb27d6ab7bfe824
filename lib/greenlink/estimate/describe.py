"""Table 1: descriptive statistics of the panel in the article's layout (SPEC §7).

One row per listed variable: variable, name, N (non-missing values), mean, sd (n-1 divisor,
as Stata `summarize`), min, max, over every row of the panel given (all cities and years).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError
from greenlink.estimate.spec import TableDef

DESCRIPTIVE_COLUMNS = ["variable", "name", "N", "mean", "sd", "min", "max"]


def descriptive_table(panel: pd.DataFrame, table: TableDef) -> pd.DataFrame:
    missing = [v for v, _, _ in table.variables if v not in panel.columns]
    if missing:
        raise UserError(f"{table.table}: variable(s) not in the panel: {', '.join(missing)}")
    rows = []
    for var, label, name in table.variables:
        x = pd.to_numeric(panel[var], errors="coerce").astype(float)
        bad = int((x.isna() & panel[var].notna()).sum())
        if bad:
            raise UserError(f"{table.table}: {var} has {bad} non-numeric value(s)")
        x = x[np.isfinite(x)].sort_values(ignore_index=True)     # sums independent of the row order
        rows.append((label, name, int(x.size),
                     float(x.mean()) if x.size else np.nan, float(x.std(ddof=1)) if x.size > 1 else np.nan,
                     float(x.min()) if x.size else np.nan, float(x.max()) if x.size else np.nan))
    return pd.DataFrame(rows, columns=DESCRIPTIVE_COLUMNS)
