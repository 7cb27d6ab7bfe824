"""One-line UserErrors for bad specs and panels, and row accounting that reconciles."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenlink.core.errors import UserError
from greenlink.estimate import estimate, table_from_dict


def _panel(n_c: int = 30, years=range(2010, 2016), seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([(f"{c:06d}", t) for c in range(n_c) for t in years], columns=["city_code", "year"])
    n = len(d)
    d["x"], d["w"], d["z"] = rng.normal(size=(3, n))
    d["level"] = np.repeat(rng.normal(size=n_c), len(years))          # constant within city
    d["y1"] = 0.5 * d["x"] + rng.normal(size=n)
    d["y2"] = 0.3 * d["w"] + rng.normal(size=n)
    d["cnt"] = rng.poisson(2.0, n)
    return d


def _model(**kw):
    base = {"name": "m", "estimator": "3sls",
            "equations": [{"dependent": "y1", "regressors": ["y2[t-1]", "x"]},
                          {"dependent": "y2", "regressors": ["y1[t-1]", "w"]}]}
    base.update(kw)
    return table_from_dict({"table": "t", "models": [base]}).models[0]


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_variable_is_named():
    m = _model(equations=[{"dependent": "y1", "regressors": ["ln_foo[t-1]", "x", "ln1p(bar)"]}])
    with pytest.raises(UserError) as exc:
        estimate(_panel(), m)
    msg = _one_line(exc)
    assert "not in the panel: ln_foo, bar" in msg


def test_missing_variable_in_sample_filter():
    with pytest.raises(UserError, match="not in the panel: rsi"):
        estimate(_panel(), _model(sample="rsi > 0"))


def test_perfectly_collinear_regressors_are_named():
    d = _panel().assign(x2=lambda f: 2 * f["x"] - 1)
    m = _model(equations=[{"dependent": "y1", "regressors": ["x", "w", "x2"]}])
    with pytest.raises(UserError) as exc:
        estimate(d, m)
    msg = _one_line(exc)
    assert "perfectly collinear regressors: x, x2" in msg and "w" not in msg.split(":")[-1]


def test_collinear_after_fixed_effects():
    d = _panel().assign(x3=lambda f: f["x"] + f["level"])            # x3 - x varies only across cities
    m = _model(fixed_effects=["city", "year"], equations=[{"dependent": "y1", "regressors": ["x", "x3", "w"]}])
    with pytest.raises(UserError, match="perfectly collinear regressors after the fixed effects: x, x3"):
        estimate(d, m)


def test_absorbed_regressor_omitted_or_error():
    d = _panel()
    eqs = [{"dependent": "y1", "regressors": ["x", "level"]}]
    res = estimate(d, _model(fixed_effects=["city"], estimator="ols", equations=eqs))
    r = res.equations["y1"]
    assert "level" not in r.params.index and "city fixed effects" in r.omitted["level"]
    row = r.to_frame().set_index("term").loc["level"]
    assert np.isnan(row["coef"]) and "absorbed" in row["note"]
    with pytest.raises(UserError, match="without variation beyond the constant/fixed effects: level"):
        estimate(d, _model(fixed_effects=["city"], estimator="ols", equations=eqs, on_absorbed="error"))


def test_non_converging_iteration_reports_count():
    with pytest.raises(UserError) as exc:
        estimate(_panel(), _model(max_iter=1, tol=1e-15))
    assert "did not converge after 1 iterations" in _one_line(exc)


def test_panel_too_small_for_spec():
    d = _panel(n_c=3, years=range(2010, 2013))
    m = _model(fixed_effects=["city", "year"])
    with pytest.raises(UserError) as exc:
        estimate(d, m)
    msg = _one_line(exc)
    assert "panel too small for the spec: equation y1 has 6 observations for 6 parameters" in msg
    assert "(incl. 4 constant/fixed-effect parameters)" in msg
    # one more city: enough parameters counted, but no residual degrees of freedom for Sigma
    with pytest.raises(UserError) as exc:
        estimate(_panel(n_c=4, years=range(2010, 2013)), m)
    assert "8 observations" in _one_line(exc)


def test_not_identified_contemporaneous_system():
    m = _model(equations=[{"dependent": "y1", "regressors": ["y2[t-1]", "x"]},
                          {"dependent": "y2", "regressors": ["y1[t-1]", "x"]}], contemporaneous=True)
    with pytest.raises(UserError, match="equation y1 is not identified: 1 endogenous regressor"):
        estimate(_panel(), m)


def test_duplicate_keys_and_bad_time():
    d = _panel()
    with pytest.raises(UserError, match="duplicate"):
        estimate(pd.concat([d, d.iloc[:3]]), _model())
    with pytest.raises(UserError, match="integer periods"):
        estimate(d.assign(year=d["year"] + 0.5), _model())


@pytest.mark.parametrize("doc, match", [
    ({"table": "t", "models": [{"name": "m", "equations": [{"dependent": "y", "regressors": ["x[t+1]"]}]}]},
     "cannot read term 'x\\[t\\+1\\]'"),
    ({"table": "t", "models": [{"name": "m", "estimator": "gmm", "equations": [{"dependent": "y", "regressors": ["x"]}]}]},
     "'gmm' is not one of"),
    ({"table": "t", "models": [{"name": "m", "fixed_effect": ["city"], "equations": [{"dependent": "y", "regressors": ["x"]}]}]},
     "unknown key\\(s\\) fixed_effect"),
    ({"table": "t", "models": [{"name": "m", "equations": [{"dependent": "y", "regressors": ["$X"]}]}]},
     "unknown group '\\$X'"),
    ({"table": "t", "models": [{"name": "m", "equations": [{"dependent": "y", "regressors": ["x", "x"]}]}]},
     "listed twice: x"),
    ({"table": "t", "models": [{"name": "m", "equations": [{"dependent": "y[t-1]", "regressors": ["x"]}]}]},
     "dependent must be one variable at period t"),
    ({"table": "t", "models": [{"name": "m", "estimator": "3sls",
                                "equations": [{"dependent": "y", "sample": "x > 0", "regressors": ["x"]}]}]},
     "3sls needs one common sample"),
    ({"table": "t", "models": [{"name": "m", "estimator": "mixed_ml",
                                "equations": [{"dependent": "y", "regressors": ["x"]}]}]},
     "exactly one equation with family: negbin"),
])
def test_spec_validation(doc, match):
    with pytest.raises(UserError, match=match):
        table_from_dict(doc, "spec.yaml")


def test_row_accounting_reconciles_with_reasons():
    d = _panel()
    d["w"] = d["w"].astype(object)
    d.loc[[3, 4], "x"] = np.nan              # missing values
    d.loc[[10], "w"] = -1.0                  # ln of a non-positive value
    d.loc[[11], "w"] = "n/a"                 # text in a numeric column
    m = table_from_dict({"table": "t", "models": [{"name": "m", "estimator": "ols", "sample": "z > -1.5",
                                                   "equations": [{"dependent": "y1",
                                                                  "regressors": ["x", "ln(w)[t-1]"]}]}]}).models[0]
    r = estimate(d, m).equations["y1"]
    c = r.counts
    assert c.reconciles()
    got = c.as_dict()
    assert got["rows"] == len(d) and got["used"] == r.nobs
    assert got["excluded: sample filter z > -1.5"] == int((pd.to_numeric(d["z"]) <= -1.5).sum())
    assert got["excluded: no t-1 row of the same unit (first period)"] > 0
    assert any(k.startswith("excluded: invalid value of ln(w)[t-1]") for k in got)
    assert any(k.startswith("excluded: missing x") for k in got)


def test_cli_reports_user_errors_as_one_line(tmp_path, capsys):
    import argparse

    from greenlink.ops.commands import estimate as cli

    d = _panel()
    d.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "spec.yaml").write_text("table: t\nmodels:\n  - name: m\n    equations:\n"
                                        "      - {dependent: y1, regressors: [nope]}\n")
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--panel", str(tmp_path / "panel.csv"), "--spec", str(tmp_path / "spec.yaml"),
                              "--out", str(tmp_path / "out")])
    with pytest.raises(UserError, match="not in the panel: nope"):
        cli.main(args)
    with pytest.raises(UserError, match="panel not found"):
        cli.main(parser.parse_args(["--panel", str(tmp_path / "none.csv"), "--spec", str(tmp_path / "spec.yaml"),
                                    "--out", str(tmp_path / "out")]))
