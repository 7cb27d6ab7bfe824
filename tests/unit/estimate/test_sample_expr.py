"""Spec `sample` expressions: the whitelisted language of econ/sample_expr.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenlink.core.errors import UserError
from greenlink.estimate import sample_expr

PANEL = pd.DataFrame({"rsi": [0.0, 1.0, np.nan, 5.0], "gtr": [1, 0, 2, 3], "year": [2011, 2012, 2013, 2014],
                      "city": ["a", "b", "c", "d"]})


@pytest.mark.parametrize("expr, want", [
    ("rsi > 0", [False, True, False, True]),                               # NaN compares false
    ("rsi > 0 and gtr > 0", [False, False, False, True]),
    ("rsi > 0 or gtr > 0", [True, True, True, True]),
    ("not (year >= 2013)", [True, True, False, False]),
    ("(rsi > 0) & ~(gtr == 0)", [False, False, False, True]),
    ("2012 <= year < 2014", [False, True, True, False]),
    ("gtr * 2 - 1 >= 3", [False, False, True, True]),
    ("-rsi < -0.5", [False, True, False, True]),
    ("city != 'b'", [True, False, True, True]),
    ("year / 2 == 1006", [False, True, False, False]),
])
def test_allowed_expressions(expr, want):
    assert sample_expr.evaluate(expr, PANEL, "t.yaml").tolist() == want


@pytest.mark.parametrize("expr, why", [
    ("__import__('os').system('echo hi')", "Call is not allowed"),
    ("rsi.abs() > 0", "Call is not allowed"),
    ("rsi.values", "Attribute is not allowed"),
    ("rsi[0] > 0", "Subscript is not allowed"),
    ("@x > 0", "not an expression"),
    ("(lambda: 1)()", "Call is not allowed"),
    ("[r for r in rsi]", "ListComp is not allowed"),
    ("rsi ** 2 > 1", "operator Pow is not allowed"),
    ("rsi in [1]", "only == != < <= > >= comparisons"),
    ("rsi > None", "literal None is not allowed"),
    ("rsi > 0; gtr", "not an expression"),
    ("", "empty expression"),
    ("x" * 501, "longer than 500 characters"),
    ("nope > 0", "'nope' is not a panel column"),
    ("rsi + 1", "must be a true/false condition per row"),
    ("rsi and gtr > 0", "and / or / not need true/false conditions"),
    ("city > 1", "cannot evaluate (TypeError"),
])
def test_anything_else_is_a_one_line_spec_error(expr, why):
    with pytest.raises(UserError) as err:
        sample_expr.evaluate(expr, PANEL, "conf/estimation/t.yaml: m")
    msg = str(err.value)
    assert msg.startswith("conf/estimation/t.yaml: m: sample ") and why in msg and "\n" not in msg


def test_names_and_control_bytes_in_messages():
    assert sample_expr.names("rsi > 0 and not gtr < year", "w") == {"rsi", "gtr", "year"}
    assert sample_expr.names("city == '\x1b[2J'", "w") == {"city"}          # a literal may hold anything
    with pytest.raises(UserError) as err:
        sample_expr.evaluate("rsi\x1b[2J > 0", PANEL, "w")
    assert "\x1b" not in str(err.value) and str(err.value).startswith("w: sample 'rsi\\x1b[2J > 0': ")
