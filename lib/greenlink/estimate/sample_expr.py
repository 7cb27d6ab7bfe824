"""Spec `sample` expressions (`rsi > 0`, `gtr > 0 and year >= 2012`): a spec is user input,
so they are parsed with Python's `ast` and only this small language is evaluated:

- names of panel columns; number, string and True/False literals;
- comparisons `== != < <= > >=` (chains like `0 < x <= 5` included);
- boolean `and`, `or`, `not` (and pandas' `&`, `|`, `~`);
- arithmetic `+ - * /` and unary `-`/`+`, parentheses.

Anything else (calls, attributes, subscripts, `@local` variables, lambdas, comprehensions,
names that are not columns) is a one-line UserError naming the spec and the construct.
Missing values compare false (as pandas does), so a row with a missing value is outside
the sample; the result must be one true/false value per row.
"""
from __future__ import annotations

import ast
import operator
from typing import Any, Callable

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError
from greenlink.core.printable import printable

MAX_CHARS = 500
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.inv, ast.Invert: operator.inv}


def _error(where: str, expr: str, why: str) -> UserError:
    return UserError(f"{where}: sample '{printable(expr)}': {printable(why)}")


def _check(node: ast.AST, expr: str, where: str) -> None:
    """Raise for any node outside the language."""
    if isinstance(node, ast.Expression):
        return _check(node.body, expr, where)
    if isinstance(node, ast.BoolOp):
        children = node.values
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise _error(where, expr, "only == != < <= > >= comparisons are allowed (not in / is)")
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITHMETIC:
            raise _error(where, expr, f"operator {type(node.op).__name__} is not allowed (+ - * / & | only)")
        children = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise _error(where, expr, f"operator {type(node.op).__name__} is not allowed")
        children = [node.operand]
    elif isinstance(node, ast.Name):
        return None
    elif isinstance(node, ast.Constant):
        if node.value is None or not isinstance(node.value, (bool, int, float, str)):
            raise _error(where, expr, f"literal {node.value!r} is not allowed (numbers, strings, True/False)")
        return None
    else:
        raise _error(where, expr, f"{type(node).__name__} is not allowed: use column names, literals, "
                                  "comparisons, and/or/not and + - * /")
    for child in children:
        _check(child, expr, where)
    return None


def parse(expr: str, where: str) -> ast.Expression:
    """The checked syntax tree of `expr`; UserError for anything outside the language."""
    if not isinstance(expr, str) or not expr.strip():
        raise _error(where, str(expr), "empty expression")
    if len(expr) > MAX_CHARS:
        raise _error(where, expr, f"longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise _error(where, expr, f"not an expression ({exc.msg})") from None
    _check(tree, expr, where)
    return tree


def names(expr: str, where: str) -> set[str]:
    """Column names `expr` uses (after checking it)."""
    return {n.id for n in ast.walk(parse(expr, where)) if isinstance(n, ast.Name)}


def evaluate(expr: str, panel: pd.DataFrame, where: str) -> np.ndarray:
    """Boolean mask of the rows of `panel` inside the sample (missing values: outside)."""
    tree = parse(expr, where)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Name):
            if node.id not in panel.columns:
                raise _error(where, expr, f"{node.id!r} is not a panel column")
            return panel[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BoolOp):
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            out = _truth(ev(node.values[0]))
            for v in node.values[1:]:
                out = combine(out, _truth(ev(v)))
            return out
        if isinstance(node, ast.Compare):
            out, left = None, ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                part = _COMPARE[type(op)](left, right)
                out = part if out is None else out & part
                left = right
            return out
        if isinstance(node, ast.BinOp):
            return _ARITHMETIC[type(node.op)](ev(node.left), ev(node.right))
        value = ev(node.operand)                                      # ast.UnaryOp (checked)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            value = _truth(value)
            return (not value) if isinstance(value, (bool, np.bool_)) else ~value
        return _UNARY[type(node.op)](value)

    try:
        res = ev(tree)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. comparing text with numbers
        raise _error(where, expr, f"cannot evaluate ({type(exc).__name__}: {printable(exc)})") from None
    if not isinstance(res, pd.Series) or res.dtype != bool:
        raise _error(where, expr, "must be a true/false condition per row")
    return res.fillna(False).to_numpy(dtype=bool)


def _truth(value: Any) -> Any:
    """A boolean operand: a bool Series or a bool literal (`x and 3` is an error, not truthiness)."""
    if isinstance(value, pd.Series) and value.dtype == bool or isinstance(value, (bool, np.bool_)):
        return value
    raise TypeError("and / or / not need true/false conditions on both sides")
