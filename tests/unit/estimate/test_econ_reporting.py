"""Reporting a referee accepts (issue 13): estimates independent of the panel's row order,
the demo world's Tables 1-8 without a failed column, city-clustered standard errors checked
against linearmodels/statsmodels, the within R², and per-SD effects of the centralities."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from greenlink.core.errors import UserError
from greenlink.estimate import estimate, table_from_dict
from greenlink.estimate.fitting import run_table
from greenlink.estimate.render import per_sd_effects
from greenlink.estimate.spec import ModelSpec
from greenlink.estimate.stage import article_tables, run_estimation
from test_econ_mixed import demo_panel  # noqa: F401  (the demo world's generator panel, a fixture)


@pytest.mark.slow
def test_demo_tables_have_no_failed_column_and_do_not_depend_on_row_order(demo_panel, tmp_path):  # noqa: F811
    """All tables of conf/estimation on the demo world's panel, in its order and in a random
    permutation of its rows: nothing fails, and estimates.csv / samples.csv are byte-identical."""
    tables = article_tables("all")
    out = {}
    for name, panel in (("given", demo_panel),
                        ("permuted", demo_panel.iloc[np.random.default_rng(7).permutation(len(demo_panel))])):
        results, _ = run_estimation(panel, tables, tmp_path / name, formats=("md",), on_error="record", plots=False)
        assert {tr.table.table: tr.failures for tr in results if tr.failures} == {}
        out[name] = tmp_path / name
    for f in ("estimates.csv", "samples.csv"):
        assert (out["given"] / f).read_bytes() == (out["permuted"] / f).read_bytes(), f
    est = pd.read_csv(out["given"] / "estimates.csv")
    assert set(est["table"]) == {f"table{i}" for i in range(2, 9)}
    # Tobit N as Stata reports it: every row of the likelihood
    tob = est[(est.table == "table3") & (est.model == "tobit")]
    assert set(tob["nobs"]) == {2780}
    md = (out["given"] / "table3.md").read_text()
    assert "informative rows" in md and "Within R²" in md
    # issue 24: the equation statistics as columns; sigma in the Tobit columns; one convention
    for _, g in tob.groupby("equation"):
        row = g.iloc[0]
        assert row.n_censored + row.n_uncensored == row.nobs and 0 < row.n_informative < row.nobs
        sig = g[g.term == "/sigma"].iloc[0]
        assert row.sigma == sig.coef and row.se_sigma == sig.se > 0 and np.isfinite(row.loglik)
    cnt = est[(est.table == "table3") & (est.equation == "rsi")].iloc[0]
    assert cnt.alpha == 0 and np.isnan(cnt.se_alpha) and np.isfinite(cnt.loglik)
    assert est[est.table == "table2"]["loglik"].isna().all() and est[est.table == "table2"]["sigma"].notna().all()
    lines = md.splitlines()
    sigma_row = next(ln for ln in lines if ln.startswith("| σ |"))
    assert sigma_row.split("|")[2].strip() and sigma_row.split("|")[3].strip()       # (1), (2)
    assert any(ln.startswith("| Log-likelihood |") for ln in lines)
    assert "| Bias correction | SPJ | SPJ | SPJ | SPJ | SPJ | SPJ |" in md
    for t in ("table3", "table8"):
        notes = (out["given"] / f"{t}.md").read_text()
        assert notes.count("cluster_df nested") == 1 and "cluster_df regress" not in notes


def _panel(seed: int = 4, n_c: int = 40, t: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([(c, 2011 + k) for c in range(n_c) for k in range(t)], columns=["city_code", "year"])
    n = len(d)
    ce = rng.normal(size=n_c)[d["city_code"]]
    # city-specific trends: correlated within a city beyond its dummy (what clustering is for)
    trend = rng.normal(size=n_c)[d["city_code"]] * (d["year"].values - 2014.5) / 2
    d["x1"], d["x2"], d["z"] = rng.normal(size=(3, n)) + 0.8 * trend
    e = rng.normal(size=(2, n)) + trend
    d["y2"] = 0.5 * d["x2"] + 0.8 * d["z"] + ce + e[1]
    d["y1"] = 0.3 * d["y2"] + 0.7 * d["x1"] + ce + e[0] + 0.5 * e[1]
    return d


def _spec(estimator: str, cluster_df: str = "nested", **extra) -> ModelSpec:
    return table_from_dict({"table": "t", "cluster_df": cluster_df, "models": [{
        "name": "m", "estimator": estimator, "iterate": False, "fixed_effects": ["city", "year"],
        "exogenous": ["z"], "cov_type": "clustered", "cluster": "city", **extra,
        "equations": [{"dependent": "y1", "regressors": ["y2", "x1"]},
                      {"dependent": "y2", "regressors": ["x2", "z"]}]}]}).models[0]


def _dummies(d: pd.DataFrame) -> pd.DataFrame:
    return pd.get_dummies(d[["city_code", "year"]].astype(str), drop_first=True, dtype=float).assign(const=1.0)


def _factor(rule: str, g: int, n: int, k: int) -> float:
    return g / (g - 1) * (1.0 if rule == "none" else (n - 1) / (n - k))


@pytest.mark.parametrize("rule", ["none", "regress", "nested"])
def test_clustered_3sls_equals_linearmodels_with_explicit_dummies(rule):
    """Fixed effects concentrated out + our clustered 3SLS = linearmodels IV3SLS clustered with the
    explicit dummies (its sandwich on the GLS-weighted scores, group_debias=False) times the
    table's convention, per equation: none G/(G-1); regress G/(G-1)(N-1)/(N-K) with K = the
    constant, 39 city and 7 year dummies and the equation's 2 slopes; nested the same without
    the 39 city dummies (nested in the city clusters). p-values t(G-1) except under none."""
    from linearmodels import IV3SLS
    from scipy import stats

    d = _panel()
    got = estimate(d, _spec("3sls", cluster_df=rule))
    dums = _dummies(d)
    eqs = {"y1": {"dependent": d["y1"], "exog": pd.concat([dums, d[["x1"]]], axis=1), "endog": d[["y2"]],
                  "instruments": d[["x2", "z"]]},
           "y2": {"dependent": d["y2"], "exog": pd.concat([dums, d[["x2", "z"]]], axis=1)}}
    ref = IV3SLS(eqs).fit(method="gls", cov_type="clustered", clusters=d["city_code"].values, group_debias=False)
    conv = estimate(d, _spec("3sls", cov_type="unadjusted", cluster=None))
    g, n = d["city_code"].nunique(), len(d)
    k = dums.shape[1] + 2 - (g - 1 if rule == "nested" else 0)
    for eq, terms in {"y1": ["y2", "x1"], "y2": ["x2", "z"]}.items():
        for t in terms:
            r = got.equations[eq]
            assert r.params[t] == pytest.approx(ref.params[f"{eq}_{t}"], rel=1e-8)
            assert r.std_errors[t] == pytest.approx(ref.std_errors[f"{eq}_{t}"] * np.sqrt(_factor(rule, g, n, k)),
                                                    rel=1e-7)
            assert r.params[t] == pytest.approx(conv.equations[eq].params[t], rel=1e-10)
            z = abs(r.params[t] / r.std_errors[t])
            p = 2 * (stats.norm.sf(z) if rule == "none" else stats.t.sf(z, g - 1))
            assert r.pvalues[t] == pytest.approx(p, rel=1e-9)
    # city-specific trends: the clustered SEs are larger than the conventional ones
    assert got.equations["y1"].std_errors["x1"] > 1.15 * conv.equations["y1"].std_errors["x1"]
    assert any("clustered by city (40 clusters)" in n for n in got.notes)
    assert any(f"cluster_df {rule}: sandwich on each cluster's summed scores" in n for n in got.notes)


def test_clustered_ols_and_2sls_equal_reference_implementations():
    """OLS clustered under `regress` = statsmodels OLS cov_type cluster with the dummies
    (G/(G-1)(N-1)/(N-K), t(G-1)); 2SLS clustered under `none` = linearmodels IV2SLS clustered
    times G/(G-1), both with explicit dummies."""
    import statsmodels.api as sm
    from linearmodels.iv import IV2SLS

    d = _panel(seed=6)
    dums = _dummies(d)
    got = estimate(d, _spec("ols", cluster_df="regress")).equations["y1"]
    X = pd.concat([dums, d[["y2", "x1"]]], axis=1)
    ref = sm.OLS(d["y1"], X).fit(cov_type="cluster", cov_kwds={"groups": d["city_code"].values}, use_t=True)
    for t in ("y2", "x1"):
        assert got.params[t] == pytest.approx(ref.params[t], rel=1e-9)
        assert got.std_errors[t] == pytest.approx(ref.bse[t], rel=1e-8)
        assert got.pvalues[t] == pytest.approx(ref.pvalues[t], rel=1e-6)
    got = estimate(d, _spec("2sls", cluster_df="none")).equations["y1"]
    ref = IV2SLS(d["y1"], pd.concat([dums, d[["x1"]]], axis=1), d[["y2"]], d[["x2", "z"]]).fit(
        cov_type="clustered", clusters=d["city_code"].values)
    g = d["city_code"].nunique()                   # IV2SLS has no G/(G-1) without its n/(n-k) as well
    for t in ("y2", "x1"):
        assert got.params[t] == pytest.approx(ref.params[t], rel=1e-9)
        assert got.std_errors[t] == pytest.approx(ref.std_errors[t] * np.sqrt(g / (g - 1)), rel=1e-8)


def _jtrain() -> pd.DataFrame:
    from linearmodels.datasets import jobtraining

    d = jobtraining.load()[["fcode", "year", "lscrap", "grant", "grant_1"]].dropna()
    return d.rename(columns={"fcode": "city_code"}).reset_index(drop=True)


def test_jtrain_clustered_ols_conventions():
    """Wooldridge's JTRAIN (linearmodels.datasets.jobtraining: 54 firms, 1987-89, 162 rows):
    lscrap on grant, grant_1 with firm and year effects, clustered by firm. `regress` equals
    statsmodels OLS with the 53 firm dummies (SE of grant 0.176); `nested` (Stata xtreg, fe
    vce(cluster): K = 4 slopes and constant, the firm dummies nested in the clusters not
    counted) gives the 0.143 of xtreg and equals statsmodels OLS on the firm-demeaned data
    with a constant (K = 5: the same sandwich, (N-1)/(N-5)); `none` is the sandwich times G/(G-1)."""
    import statsmodels.api as sm

    d = _jtrain()
    spec = lambda rule: table_from_dict({"table": "jtrain", "cluster_df": rule, "models": [{  # noqa: E731
        "name": "fe", "estimator": "ols", "fixed_effects": ["city", "year"], "cov_type": "clustered",
        "cluster": "city", "equations": [{"dependent": "lscrap", "regressors": ["grant", "grant_1"]}]}]}).models[0]
    res = {rule: estimate(d, spec(rule)).equations["lscrap"] for rule in ("regress", "nested", "none")}
    firms = pd.get_dummies(d["city_code"].astype(str), drop_first=True, dtype=float)
    years = pd.get_dummies(d["year"].astype(str), drop_first=True, dtype=float)
    X = pd.concat([firms, years, d[["grant", "grant_1"]]], axis=1).assign(const=1.0)
    ref = sm.OLS(d["lscrap"], X).fit(cov_type="cluster", cov_kwds={"groups": d["city_code"].values}, use_t=True)
    within = d[["lscrap", "grant", "grant_1"]].join(years) - d[["lscrap", "grant", "grant_1"]].join(years).groupby(
        d["city_code"]).transform("mean")
    ref_nested = sm.OLS(within["lscrap"], within.drop(columns="lscrap").assign(const=1.0)).fit(
        cov_type="cluster", cov_kwds={"groups": d["city_code"].values}, use_t=True)
    for t in ("grant", "grant_1"):
        for r in res.values():
            assert r.params[t] == pytest.approx(ref.params[t], rel=1e-9)
        assert res["regress"].std_errors[t] == pytest.approx(ref.bse[t], rel=1e-9)
        assert res["regress"].pvalues[t] == pytest.approx(ref.pvalues[t], rel=1e-7)
        assert res["nested"].std_errors[t] == pytest.approx(ref_nested.bse[t], rel=1e-9)
        g, n, k = 54, 162, X.shape[1]
        raw = ref.bse[t] / np.sqrt(g / (g - 1) * (n - 1) / (n - k))
        assert res["none"].std_errors[t] == pytest.approx(raw * np.sqrt(g / (g - 1)), rel=1e-9)
    assert round(res["regress"].std_errors["grant"], 3) == 0.176
    assert round(res["nested"].std_errors["grant"], 3) == 0.143
    assert res["regress"].params["grant"] == pytest.approx(-0.2523149, abs=1e-7)


def test_within_r2_is_the_r2_of_the_within_variation():
    """Within R² = 1 - SSR / SS(y after the dummies), with the dummies as explicit columns."""
    d = _panel(seed=8)
    res = estimate(d, _spec("ols", cov_type="unadjusted", cluster=None)).equations["y1"]
    dums = _dummies(d).values
    X = np.column_stack([dums, d[["y2", "x1"]].values])
    y = d["y1"].values
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    yw = y - dums @ np.linalg.lstsq(dums, y, rcond=None)[0]
    assert res.rsquared_within == pytest.approx(1 - resid @ resid / (yw @ yw), rel=1e-9)
    assert res.rsquared_within < res.rsquared
    pooled = estimate(d, _spec("ols", cov_type="unadjusted", cluster=None, fixed_effects=[])).equations["y1"]
    assert np.isnan(pooled.rsquared_within)


@pytest.mark.parametrize("bad, match", [({"cluster": None}, "needs 'cluster'"),
                                        ({"cov_type": "robust"}, "cov_type"),
                                        ({"cov_type": "unadjusted"}, "only used with cov_type: clustered"),
                                        ({"cluster_df": "stata"}, "cluster_df: expected one of regress, nested, none"),
                                        ({"bias_correction": "bootstrap"}, "bias_correction: expected one of")])
def test_cov_type_spec_errors(bad, match):
    with pytest.raises(UserError, match=match):
        _spec(bad.pop("estimator", "ols"), **bad)


def test_cluster_df_is_one_convention_per_table():
    """cluster_df is a table key copied into every model; a model-level cluster_df is an error;
    every estimator accepts cov_type: clustered."""
    doc = {"table": "t", "cluster_df": "regress", "models": [
        {"name": m, "estimator": m, "cov_type": "clustered", "cluster": "city",
         "equations": [{"column": f"({i})", "dependent": f"y{i}", "regressors": ["x1"]}]}
        for i, m in enumerate(("ols", "tobit", "2sls"))]}
    t = table_from_dict(doc)
    assert t.cluster_df == "regress" and {m.cluster_df for m in t.models} == {"regress"}
    doc["models"][0]["cluster_df"] = "none"
    with pytest.raises(UserError, match="one convention per table"):
        table_from_dict(doc)



@pytest.mark.parametrize("models, match", [
    ([], r"'models' must be a non-empty list"),
    ([{"name": "m", "equations": []}], r"\[m\]: 'equations' must be a non-empty list"),
    ([{"name": "m", "equations": [{"dependent": "y1", "regressors": ["x1"]},
                                  {"dependent": "y1", "regressors": ["x2"]}]}],
     r"two equations have the same dependent \(y1, y1\)"),
    ([{"name": "m", "equations": [{"dependent": "y1", "regressors": ["x1"], "column": "(1)"}]},
      {"name": "m", "equations": [{"dependent": "y2", "regressors": ["x1"], "column": "(2)"}]}],
     r"model names must be unique \(m, m\)"),
])
def test_model_and_equation_lists_must_be_non_empty_and_distinct(models, match):
    with pytest.raises(UserError, match=match):
        table_from_dict({"table": "t", "models": models})

def test_per_sd_effects_of_the_centralities(demo_panel):  # noqa: F811
    """The coefficient plot's note: coefficient x sample sd for every per_sd variable (labels.yaml)."""
    t2 = next(t for t in article_tables("all") if t.table == "table2")
    assert set(t2.per_sd) == {"dc_out", "dc_in", "bc_gt", "DC", "BC"}
    tr = run_table(demo_panel, t2)
    lines = per_sd_effects(tr)
    assert [ln.split(":")[0] for ln in lines] == ["(1)", "(2)", "(3)", "(4)"]
    r = tr.results["fe"].equations["ln_gtr"]
    sd = r.regressor_sd["dc_out[t-1]"]
    assert sd > 0
    assert f"{r.params['dc_out[t-1]'] * sd:+.3f}" in lines[1]
