"""Driver-side estimation of the study's system and Tables 1-7 (SPEC §7).

    from greenlink.estimate import load_tables, estimate_tables, estimate, run_tables, write_reports
    tables = load_tables("conf/estimation")          # YAML specs, validated
    long = estimate_tables(panel, tables)            # table, column, equation, term, coef, se, p, nobs, r2,
                                                     # loglik, n_censored, ..., sigma, alpha (+ SEs), note
    write_reports(run_tables(panel, tables), "reports")   # Markdown, LaTeX, HTML, CSV, coefficient plots

Only pandas/numpy/scipy/statsmodels/linearmodels; Spark is not needed (the panel is a few
thousand city-years). See docs/estimation.md.
"""
from greenlink.estimate.fitting import (ESTIMATES_COLUMNS, TableResult, estimate, estimate_tables, run_table,
                                     run_tables)
from greenlink.estimate.io import read_panel
from greenlink.estimate.render import coefficient_plot, render_table, write_reports
from greenlink.estimate.results import EquationResult, SystemResults
from greenlink.estimate.spec import EquationSpec, ModelSpec, TableDef, load_table, load_tables, parse_term, table_from_dict

__all__ = ["ESTIMATES_COLUMNS", "EquationResult", "EquationSpec", "ModelSpec", "SystemResults", "TableDef",
           "TableResult", "coefficient_plot", "estimate", "estimate_tables", "load_table", "load_tables", "parse_term",
           "read_panel", "render_table", "run_table", "run_tables", "table_from_dict", "write_reports"]
