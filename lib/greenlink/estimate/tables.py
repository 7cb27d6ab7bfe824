"""The estimate layer's Delta table, `gold.estimates` (written by the estimate stage,
`estimate.stage`); `TABLES` lists it for `greenlink.core.catalog`."""
from __future__ import annotations

from pyspark.sql import types as T

from greenlink.core.tables import TableSpec
from greenlink.core.text import struct_type
from greenlink.estimate.results import LONG_COLUMNS

# estimates.csv: table, model, estimator, column, then results.LONG_COLUMNS (equation, term, coef,
# se, p, nobs, r2, loglik, n_censored, n_uncensored, n_informative, sigma, se_sigma, alpha,
# se_alpha, note); gold.estimates: `run` and the same columns (ESTIMATES below)
ESTIMATES_CSV_COLUMNS = ["table", "model", "estimator", "column", *LONG_COLUMNS]

_S, _D, _L = T.StringType(), T.DoubleType(), T.LongType()
_COLUMNS = [("run", _S), ("table", _S), ("model", _S), ("estimator", _S), ("column", _S), ("equation", _S),
            ("term", _S), ("coef", _D), ("se", _D), ("p", _D), ("nobs", _L), ("r2", _D), ("loglik", _D),
            ("n_censored", _L), ("n_uncensored", _L), ("n_informative", _L), ("sigma", _D), ("se_sigma", _D),
            ("alpha", _D), ("se_alpha", _D), ("note", _S)]
if [c for c, _ in _COLUMNS] != ["run", *ESTIMATES_CSV_COLUMNS]:
    raise RuntimeError("gold.estimates schema and estimates.csv columns differ")

# The latest estimates of the article's tables (time travel keeps earlier ones). One row per
# table, column, equation and term; the equation's statistics (log-likelihood, the Tobit's
# censored / uncensored / informative rows, sigma and alpha with their standard errors) are
# repeated on each of its rows and null where they do not exist (results.py).
ESTIMATES = TableSpec(
    name="gold.estimates",
    schema=struct_type(*_COLUMNS),
    not_null=("run", "table", "column", "equation", "term"),
    checks={"valid_values": "(se IS NULL OR se >= 0) AND (p IS NULL OR p BETWEEN 0 AND 1) "
                            "AND (nobs IS NULL OR nobs > 0) AND (se_sigma IS NULL OR se_sigma >= 0) "
                            "AND (se_alpha IS NULL OR se_alpha >= 0) AND (alpha IS NULL OR alpha >= 0) "
                            "AND (n_censored IS NULL OR n_censored >= 0)"},
    keys=("table", "column", "equation", "term"),
    comment="Estimates of Tables 2-7 (SPEC §7) from gold.city_year_panel; `run` = the run that produced them",
)

TABLES: tuple[TableSpec, ...] = (ESTIMATES,)
