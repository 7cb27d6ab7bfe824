"""Rendering in the article's layout (stars, parentheses, FE/N/R² rows), Table 1, the CLI."""
from __future__ import annotations

import argparse
import csv
import io

import numpy as np
import pandas as pd
import pytest

from greenlink.estimate import TableResult, table_from_dict
from greenlink.estimate.describe import descriptive_table
from greenlink.estimate.render import coefficient_plot, render_table, stars
from greenlink.estimate.results import EquationResult, SystemResults

import paths

DATA = paths.DATA / "econ"

TABLE = table_from_dict({
    "table": "t2", "title": "Tiny table",
    "labels": {"ln_rsi[t-1]": "ln rsi (t-1)", "ln_gtr": "ln gtr"},
    "fe_labels": {"year": "Year FE", "city": "City FE"},
    "models": [
        {"name": "pooled", "equations": [{"column": "(1)", "dependent": "ln_gtr", "regressors": ["ln_rsi[t-1]", "cgl", "HSR"]}]},
        {"name": "fe", "fixed_effects": ["year", "city"],
         "equations": [{"column": "(2)", "dependent": "ln_gtr", "regressors": ["ln_rsi[t-1]", "cgl", "HSR"]}]}]})


def _eq(col, params, ses, ps, r2, omitted=None, fe=()):
    idx = list(params)
    return EquationResult(name="ln_gtr", dependent="ln_gtr", column=col, label="ln_gtr", estimator="3sls",
                          params=pd.Series(params, index=idx), std_errors=pd.Series(ses, index=idx),
                          pvalues=pd.Series(ps, index=idx), nobs=2780, rsquared=r2, fixed_effects=fe,
                          omitted=omitted or {})


def tiny_result() -> TableResult:
    pooled = _eq("(1)", {"const": 1.0, "ln_rsi[t-1]": 0.130, "cgl": 0.309, "HSR": 0.043},
                 [0.5, 0.013, 0.046, 0.027], [0.04, 1e-10, 1e-8, 0.111], 0.811)
    fe = _eq("(2)", {"ln_rsi[t-1]": 0.034, "HSR": 0.062}, [0.017, 0.036], [0.045, 0.085], 0.864,
             omitted={"cgl": "no variation within city (absorbed by city fixed effects)"}, fe=("year", "city"))
    return TableResult(table=TABLE, results={"pooled": SystemResults("pooled", "3sls", {"ln_gtr": pooled}),
                                             "fe": SystemResults("fe", "3sls", {"ln_gtr": fe})})


def test_stars_thresholds():
    assert [stars(p) for p in (0.009, 0.01, 0.049, 0.05, 0.099, 0.10, np.nan)] == ["***", "**", "**", "*", "*", "", ""]


def test_markdown_layout():
    md = render_table(tiny_result(), "md")
    lines = md.splitlines()
    assert lines[0] == "**Tiny table**"
    assert "| ln rsi (t-1) | 0.130*** | 0.034** |" in lines
    assert "|  | (0.013) | (0.017) |" in lines
    assert "| cgl | 0.309*** | omitted |" in lines
    assert "| HSR | 0.043 | 0.062* |" in lines
    assert "| Year FE | No | Yes |" in lines and "| City FE | No | Yes |" in lines
    assert "| N | 2,780 | 2,780 |" in lines and "| R² | 0.811 | 0.864 |" in lines
    assert "|  | ln gtr | ln gtr |" in lines and "|  | (1) | (2) |" in lines
    assert "cgl omitted in (2): no variation within city (absorbed by city fixed effects)." in md
    assert "const" not in md                      # the constant is not a table row
    # rows come in the order of first appearance; the SE row follows its coefficient
    assert lines.index("| ln rsi (t-1) | 0.130*** | 0.034** |") + 1 == lines.index("|  | (0.013) | (0.017) |")


def test_latex_html_csv():
    tr = tiny_result()
    tex = render_table(tr, "tex")
    assert r"\multicolumn{2}{c}{ln gtr}" in tex and r"R$^2$ & 0.811 & 0.864 \\" in tex
    assert r"ln rsi (t-1) & 0.130*** & 0.034** \\" in tex and r"\begin{tabular}{lcc}" in tex
    html = render_table(tr, "html")
    assert '<th colspan="2">ln gtr</th>' in html and '<tr class="se"><th></th><td>(0.013)</td><td>(0.017)</td></tr>' in html
    rows = list(csv.reader(io.StringIO(render_table(tr, "csv"))))
    assert rows[0] == ["Tiny table"] and rows[2] == ["", "(1)", "(2)"]
    assert ["ln rsi (t-1)", "0.130***", "0.034**"] in rows and ["R²", "0.811", "0.864"] in rows


def test_failed_model_is_marked():
    tr = tiny_result()
    del tr.results["fe"]
    tr.failures["fe"] = "model fe: panel too small for the spec"
    md = render_table(tr, "md")
    assert "| ln rsi (t-1) | 0.130*** | n/a |" in md
    assert "(2): estimation failed: model fe: panel too small for the spec" in md


def test_coefficient_plot_png(tmp_path):
    png = coefficient_plot(tiny_result(), tmp_path / "p.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table1_descriptive_statistics():
    table = table_from_dict({"table": "table1", "kind": "descriptive", "title": "Table 1",
                             "variables": [{"var": "rsi", "name": "collaboration"},
                                           {"var": "ln_app", "label": "ln app", "name": "capacity"}]})
    panel = pd.DataFrame({"rsi": [0, 2, 4, 10], "ln_app": [1.0, 2.0, np.nan, 3.0]})
    d = descriptive_table(panel, table)
    assert list(d.columns) == ["variable", "name", "N", "mean", "sd", "min", "max"]
    assert d.iloc[0].tolist() == ["rsi", "collaboration", 4, 4.0, pytest.approx(np.std([0, 2, 4, 10], ddof=1)), 0.0, 10.0]
    assert d.iloc[1].tolist() == ["ln app", "capacity", 3, 2.0, 1.0, 1.0, 3.0]
    md = render_table(TableResult(table=table, descriptive=d), "md")
    assert "| rsi | collaboration | 4 | 4.000 | 4.320 | 0.000 | 10.000 |" in md


def _cli(argv):
    from greenlink.ops.commands import estimate as cli

    parser = argparse.ArgumentParser()
    cli.configure(parser)
    return cli.main(parser.parse_args(argv))


def test_cli_options_are_the_config():
    """Every mode of `greenlink estimate` is an EstimateConfig; --lock-wait like every stage."""
    from greenlink.core.errors import UserError
    from greenlink.estimate.stage import EstimateConfig
    from greenlink.ops.commands import estimate as cli

    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--tables", "table2", "--formats", "md,csv", "--contemporaneous", "--no-plot",
                              "--lock-wait", "30", "--reports", "r"])
    assert args.lock_wait == 30
    assert cli.config(args) == EstimateConfig(tables="table2", formats=("md", "csv"), contemporaneous=True,
                                              plots=False, reports="r")
    args = parser.parse_args(["--panel", "p.csv", "--spec", "a.yaml", "--spec", "b.yaml", "--out", "o"])
    assert cli.config(args) == EstimateConfig(panel="p.csv", specs=("a.yaml", "b.yaml"), out="o")
    with pytest.raises(UserError, match="unknown format"):
        cli.config(parser.parse_args(["--tables", "all", "--formats", "md,pdf"]))
    with pytest.raises(UserError, match="--spec needs --panel FILE and --out DIR"):
        cli.config(parser.parse_args(["--spec", "a.yaml", "--out", "o"]))
    with pytest.raises(UserError, match="give either"):
        cli.config(parser.parse_args(["--spec", "a.yaml", "--tables", "all"]))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "delta"])
def test_cli_estimates_any_spec_on_any_panel_file(tmp_path, fmt):
    """`greenlink estimate --panel FILE --spec FILE --out DIR` with a textbook system."""
    data = pd.read_csv(DATA / "klein.csv")
    if fmt == "csv":
        path = DATA / "klein.csv"
    elif fmt == "parquet":
        path = tmp_path / "klein.parquet"
        data.to_parquet(path)
    else:
        from deltalake import write_deltalake

        path = tmp_path / "klein_delta"
        write_deltalake(str(path), data)
    out = tmp_path / "out"
    assert _cli(["--panel", str(path), "--spec", str(DATA / "klein.yaml"), "--out", str(out)]) == 0
    est = pd.read_csv(out / "estimates.csv")
    assert list(est.columns) == ["table", "model", "estimator", "column", "equation", "term", "coef", "se", "p",
                                 "nobs", "r2", "loglik", "n_censored", "n_uncensored", "n_informative", "sigma",
                                 "se_sigma", "alpha", "se_alpha", "note"]
    row = est[(est.equation == "consump") & (est.term == "wages")].iloc[0]
    assert row.coef == pytest.approx(0.7658016, rel=5e-5) and row.nobs == 21
    assert len(est) == 12
    samples = pd.read_csv(out / "samples.csv")
    used = samples[(samples.equation == "consump") & (samples["item"] == "used")]["rows"].item()
    assert used == 21
    for ext in ("md", "tex", "html", "csv"):
        assert (out / f"klein.{ext}").stat().st_size > 0
    assert (out / "klein_coef.png").exists()


@pytest.mark.slow
def test_cli_all_article_tables_on_a_small_world(tmp_path):
    """Tables 1-7 from conf/estimation end to end on a small simulated panel file."""
    from greenlink.synth.estimation_panel import simulate_panel

    panel, _ = simulate_panel(n_cities=60, seed=2, discrete=True)
    panel.to_parquet(tmp_path / "panel.parquet")
    out = tmp_path / "reports"
    assert _cli(["--tables", "all", "--panel", str(tmp_path / "panel.parquet"), "--out", str(out)]) == 0
    est = pd.read_csv(out / "estimates.csv")
    assert set(est["table"]) == {f"table{i}" for i in range(2, 9)}   # 8: clustered robustness
    for i in range(1, 8):
        for ext in ("md", "tex", "html", "csv"):
            assert (out / f"table{i}.{ext}").stat().st_size > 0
    for i in range(2, 8):
        assert (out / f"table{i}_coef.png").exists()
    t3 = est[est.table == "table3"]
    assert set(t3["column"]) == {f"({i})" for i in range(1, 9)}
    assert set(t3["estimator"]) == {"tobit", "ols", "mixed_ml/linear", "mixed_ml/negbin", "3sls"}
    # every estimation sample reconciles: rows = used + excluded
    s = pd.read_csv(out / "samples.csv")
    for (_, _, _), g in s.groupby(["table", "model", "equation"]):
        items = dict(zip(g["item"], g["rows"]))
        assert items["rows"] == items["used"] + sum(v for k, v in items.items() if k.startswith("excluded"))
    md = (out / "table2.md").read_text()
    assert "| N | 600 | 600 | 600 | 600 |" in md
