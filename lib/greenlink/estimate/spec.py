"""Declarative estimation specs (SPEC §7): terms, equations, models and tables, validated from YAML.

A *term* is a product of factors, each a panel variable with an optional transform and lag:

    ln_rsi[t-1]                    variable lagged one period within the panel unit
    ln1p(gtr)                      ln(1 + gtr) of the current period
    ln(pgdp)[t-2]                  ln of a two-period lag
    ln_rsi_ip[t-1] * rps[t-1]      interaction (product of factors)

An *equation* has one dependent (a single factor without lag) and regressor terms; a *model*
groups equations estimated together (one estimator, one fixed-effect set, one sample rule);
a *table* groups models whose equations are the table's columns. Unknown keys, wrong types,
bad terms and unknown estimators are one-line `UserError`s naming the file and the key.

Over 400 lines on purpose: the grammar of terms, equations, models and tables and its
validation messages are one YAML contract (docs/estimation.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

from greenlink.core.config import load_yaml
from greenlink.core.errors import UserError

COV_TYPES = ("unadjusted", "clustered")
CLUSTER_DF = ("regress", "nested", "none")        # estimate/vce.py: the small-sample conventions
BIAS_CORRECTIONS = ("none", "jackknife", "nickell")   # jackknife: split-panel (Dhaene & Jochmans 2015);
                                                      # nickell: analytic, dynamic 3SLS systems (estimate/nickell.py)
ESTIMATORS = ("3sls", "2sls", "ols", "tobit", "mixed_ml")
FAMILIES = ("linear", "negbin")
TRANSFORMS = ("ln", "ln1p")

_FACTOR = re.compile(
    r"^\s*(?:(?P<func>ln1p|ln)\(\s*(?P<fvar>[A-Za-z_]\w*)\s*\)|(?P<var>[A-Za-z_]\w*))"
    r"\s*(?:\[\s*t\s*(?:-\s*(?P<lag>\d+))?\s*\])?\s*$")


@dataclass(frozen=True, order=True)
class Factor:
    """One panel variable, optionally transformed (ln, ln1p), at period t - lag of the same unit."""

    var: str
    func: str | None = None
    lag: int = 0

    @property
    def base(self) -> str:
        return f"{self.func}({self.var})" if self.func else self.var

    @property
    def name(self) -> str:
        return self.base + (f"[t-{self.lag}]" if self.lag else "")


@dataclass(frozen=True)
class Term:
    """A regressor: the product of its factors. `name` is the canonical spelling used everywhere."""

    factors: tuple[Factor, ...]

    @property
    def name(self) -> str:
        return "*".join(f.name for f in self.factors)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(f.var for f in self.factors)

    def __str__(self) -> str:
        return self.name


def parse_term(text: Any, where: str = "spec") -> Term:
    """`ln_rsi[t-1] * rps[t-1]` -> Term. Leads (t+1) and other syntax are UserErrors."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: a term must be a non-empty string, got {text!r}")
    factors = []
    for part in text.split("*"):
        m = _FACTOR.match(part)
        if not m:
            raise UserError(f"{where}: cannot read term {text!r} (expected e.g. x, x[t-1], ln1p(x)[t-1], a[t-1]*b)")
        var = m.group("fvar") or m.group("var")
        if var in TRANSFORMS and not m.group("fvar"):
            raise UserError(f"{where}: {text!r}: '{var}' is a transform, write {var}(variable)")
        factors.append(Factor(var=var, func=m.group("func"), lag=int(m.group("lag") or 0)))
    return Term(tuple(factors))


def _check_keys(data: Any, cls: type, where: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)} | set(extra)
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return data


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: expected a list of strings")
    return tuple(value)


def _parsed_list(data: dict[str, Any], key: str, where: str, parse: Callable[[Any, str], Any],
                 duplicate: str) -> tuple[Any, ...]:
    """`data[key]` as a non-empty list of parsed items whose `.name`s are distinct."""
    raw = data.get(key)
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: '{key}' must be a non-empty list")
    items = tuple(parse(x, f"{where}.{key}[{i}]") for i, x in enumerate(raw))
    names = [x.name for x in items]
    if len(set(names)) != len(names):
        raise UserError(f"{where}: {duplicate} ({', '.join(names)})")
    return items


@dataclass(frozen=True)
class EquationSpec:
    """One equation: `dependent = regressors (+ constant) (+ fixed effects) + error`.

    column   the table column this equation fills, e.g. "(1)" (default: the dependent)
    label    display name of the dependent in the table header (default: dependent)
    sample   extra row filter for this equation only (pandas expression on panel columns);
             only for estimators that fit equations one by one (ols, 2sls, tobit)
    family   linear, or negbin for the count equation of the mixed_ml estimator
    """

    dependent: Term
    regressors: tuple[Term, ...]
    column: str = ""
    label: str = ""
    sample: str | None = None
    family: str = "linear"

    @property
    def name(self) -> str:
        return self.dependent.name

    @classmethod
    def from_dict(cls, data: Any, groups: dict[str, tuple[str, ...]], where: str) -> "EquationSpec":
        data = _check_keys(data, cls, where)
        if "dependent" not in data or "regressors" not in data:
            raise UserError(f"{where}: 'dependent' and 'regressors' are required")
        dep = parse_term(data["dependent"], f"{where}.dependent")
        if len(dep.factors) != 1 or dep.factors[0].lag:
            raise UserError(f"{where}: the dependent must be one variable at period t, got {dep.name!r}")
        raw = data["regressors"]
        if not isinstance(raw, list) or not raw:
            raise UserError(f"{where}.regressors: expected a non-empty list of terms")
        items: list[str] = []
        for r in raw:
            if isinstance(r, str) and r.startswith("$"):
                if r[1:] not in groups:
                    raise UserError(f"{where}.regressors: unknown group {r!r}; defined: {', '.join(sorted(groups)) or 'none'}")
                items.extend(groups[r[1:]])
            else:
                items.append(r)
        regs = tuple(parse_term(r, f"{where}.regressors") for r in items)
        names = [t.name for t in regs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserError(f"{where}: regressor(s) listed twice: {', '.join(dup)}")
        if dep.name in names:
            raise UserError(f"{where}: the dependent {dep.name} is also a regressor")
        family = str(data.get("family", "linear"))
        if family not in FAMILIES:
            raise UserError(f"{where}.family: {family!r} is not one of {', '.join(FAMILIES)}")
        sample = data.get("sample")
        if sample is not None and not isinstance(sample, str):
            raise UserError(f"{where}.sample: expected an expression string")
        return cls(dependent=dep, regressors=regs, column=str(data.get("column") or dep.name),
                   label=str(data.get("label") or dep.name), sample=sample, family=family)


@dataclass(frozen=True)
class ModelSpec:
    """Equations estimated together, and how.

    estimator        3sls (system; iterated GLS when `iterate`, as Stata reg3, ireg3), 2sls or ols
                     (equation by equation), tobit (equation by equation, ML, censored below at
                     `censor_left`), mixed_ml (one negbin count equation + linear equations, ML)
    fixed_effects    dummy sets: `city`/`unit` (the panel unit), `year`/`time` (the period),
                     or any panel column (one dummy per level, first level dropped)
    constant         include an intercept (absorbed into the dummies when there are fixed effects)
    sample           row filter for all equations (pandas expression on current-period columns)
    endogenous       variables (or terms) that are endogenous where they appear at period t;
                     dependents of the system are always endogenous on the right-hand side
    exogenous        extra instruments that appear in no equation (Stata reg3 exog())
    contemporaneous  replace every regressor `y[t-1]` whose `y` is another equation's dependent
                     by `y[t]`, which is then endogenous (SPEC §7 option)
    iterate, tol, max_iter  iterated GLS for 3sls: stop when max_j |b_j - b_j'| / (|b_j'| + 1) < tol
    censor_left      tobit censoring point (y <= censor_left is censored)
    zero_truncated   mixed_ml: the count is observed only when positive (sample rsi > 0)
    quadrature_points  mixed_ml: Gauss-Hermite nodes for the latent normal heterogeneity
    on_absorbed      omit (default; reported, like Stata's "omitted") or error, for regressors
                     without variation beyond the constant/fixed effects (cgl under city dummies)
    cov_type         unadjusted (default; reg3/regress conventional) or clustered (every estimator:
                     the sandwich on each cluster's summed scores, estimate/vce.py)
    cluster          clustered: the cluster variable (`city`/`unit`, `year`/`time` or a panel column)
    cluster_df       the clustered small-sample convention (regress | nested | none, estimate/vce.py);
                     set once per table (the table's top-level `cluster_df`), never per model
    bias_correction  none (default); jackknife: the split-panel jackknife of Dhaene & Jochmans
                     (2015), 2·θ(all periods) − mean θ(first, second half of the periods), which
                     removes the O(1/T) bias of fixed-effect estimators with few periods
                     (incidental parameters of the ML estimators, Nickell bias; estimate/jackknife.py);
                     nickell (3sls with unit fixed effects): the analytic fixed-T correction of a
                     dynamic system's within estimator (estimate/nickell.py)
    """

    name: str
    equations: tuple[EquationSpec, ...]
    estimator: str = "3sls"
    fixed_effects: tuple[str, ...] = ()
    constant: bool = True
    sample: str | None = None
    endogenous: tuple[str, ...] = ()
    exogenous: tuple[Term, ...] = ()
    contemporaneous: bool = False
    iterate: bool = True
    tol: float = 1e-6
    max_iter: int = 100
    censor_left: float = 0.0
    zero_truncated: bool = True
    quadrature_points: int = 32
    on_absorbed: str = "omit"
    cov_type: str = "unadjusted"
    cluster: str | None = None
    cluster_df: str = "nested"
    bias_correction: str = "none"

    @classmethod
    def from_dict(cls, data: Any, groups: dict[str, tuple[str, ...]], where: str) -> "ModelSpec":
        data = _check_keys(data, cls, where)
        name = str(data.get("name") or "model")
        where = f"{where}[{name}]"
        if "cluster_df" in data:
            raise UserError(f"{where}.cluster_df: one convention per table: set cluster_df at the table's top level")
        eqs = _parsed_list(data, "equations", where, lambda e, w: EquationSpec.from_dict(e, groups, w),
                           "two equations have the same dependent")
        est = str(data.get("estimator", "3sls")).lower()
        if est not in ESTIMATORS:
            raise UserError(f"{where}.estimator: {est!r} is not one of {', '.join(ESTIMATORS)}")
        kw: dict[str, Any] = {"name": name, "equations": eqs, "estimator": est}
        for key in ("constant", "contemporaneous", "iterate", "zero_truncated"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise UserError(f"{where}.{key}: expected true or false")
                kw[key] = data[key]
        for key, typ in (("tol", float), ("censor_left", float), ("max_iter", int), ("quadrature_points", int)):
            if key in data:
                try:
                    kw[key] = typ(data[key])
                except (TypeError, ValueError):
                    raise UserError(f"{where}.{key}: expected a number, got {data[key]!r}") from None
        if kw.get("tol", 1e-6) <= 0 or kw.get("max_iter", 100) < 1 or kw.get("quadrature_points", 32) < 2:
            raise UserError(f"{where}: tol must be > 0, max_iter >= 1, quadrature_points >= 2")
        kw["fixed_effects"] = _str_list(data.get("fixed_effects"), f"{where}.fixed_effects")
        kw["endogenous"] = tuple(parse_term(t, f"{where}.endogenous").name
                                 for t in _str_list(data.get("endogenous"), f"{where}.endogenous"))
        kw["exogenous"] = tuple(parse_term(t, f"{where}.exogenous")
                                for t in _str_list(data.get("exogenous"), f"{where}.exogenous"))
        sample = data.get("sample")
        if sample is not None and not isinstance(sample, str):
            raise UserError(f"{where}.sample: expected an expression string")
        kw["sample"] = sample
        absorbed = str(data.get("on_absorbed", "omit"))
        if absorbed not in ("omit", "error"):
            raise UserError(f"{where}.on_absorbed: expected omit or error")
        kw["on_absorbed"] = absorbed
        cov = str(data.get("cov_type", "unadjusted"))
        if cov not in COV_TYPES:
            raise UserError(f"{where}.cov_type: expected one of {', '.join(COV_TYPES)}, got {cov!r}")
        cluster = data.get("cluster")
        if cov == "clustered" and not (isinstance(cluster, str) and cluster):
            raise UserError(f"{where}: cov_type: clustered needs 'cluster' (e.g. cluster: city)")
        if cluster is not None and cov != "clustered":
            raise UserError(f"{where}.cluster: only used with cov_type: clustered")
        kw["cov_type"], kw["cluster"] = cov, cluster
        bias = str(data.get("bias_correction", "none"))
        if bias not in BIAS_CORRECTIONS:
            raise UserError(f"{where}.bias_correction: expected one of {', '.join(BIAS_CORRECTIONS)}, got {bias!r}")
        if bias == "nickell" and est != "3sls":
            raise UserError(f"{where}: bias_correction: nickell is for 3sls dynamic systems, not {est}")
        kw["bias_correction"] = bias
        model = cls(**kw)
        model.check_roles(where)
        return model

    def check_roles(self, where: str) -> None:
        """Estimator-specific rules that need no data."""
        if self.contemporaneous and self.estimator not in ("3sls", "2sls"):
            raise UserError(f"{where}: contemporaneous needs an instrumental-variable estimator (3sls or 2sls)")
        if self.estimator == "3sls" and any(e.sample for e in self.equations):
            raise UserError(f"{where}: 3sls needs one common sample; put the filter in the model's 'sample' "
                            "or use estimator ols/2sls/tobit for equation-specific samples")
        counts = [e for e in self.equations if e.family == "negbin"]
        if self.estimator == "mixed_ml":
            if len(counts) != 1 or len(self.equations) < 2:
                raise UserError(f"{where}: mixed_ml needs exactly one equation with family: negbin and at "
                                "least one linear equation")
            if any(e.sample for e in self.equations):
                raise UserError(f"{where}: mixed_ml estimates the equations jointly; use the model's 'sample'")
            if counts[0].dependent.factors[0].func:
                raise UserError(f"{where}: the negbin dependent must be a raw count, not {counts[0].name}")
        elif counts:
            raise UserError(f"{where}: family: negbin is only used by the mixed_ml estimator")

    def contemporaneous_version(self) -> "ModelSpec":
        """SPEC §7 option: each cross-equation `y[t-1]` becomes `y[t]` (endogenous)."""
        deps = {e.dependent.factors[0].base for e in self.equations}
        eqs = []
        for e in self.equations:
            own = e.dependent.factors[0].base
            lags = {d: 0 for d in deps if d != own}
            regs = []
            for t in e.regressors:
                regs.append(Term(tuple(replace(f, lag=0) if (f.base in lags and f.lag == 1) else f
                                       for f in t.factors)))
            eqs.append(replace(e, regressors=tuple(regs)))
        return replace(self, equations=tuple(eqs), contemporaneous=True)


@dataclass(frozen=True)
class TableDef:
    """A reported table: regression models (columns) or descriptive statistics (Table 1).

    rows       display order of the regressor terms (default: order of first appearance)
    labels     term or dependent -> display label
    fe_labels  fixed-effect name -> row label ("Year FE")
    variables  descriptive tables: (column, label, description) per row ({var, label, name} in YAML)
    digits     decimals in the rendered cells
    per_sd     variables whose per-standard-deviation effects (coefficient x sample sd of the
               regressor) the coefficient plot's note gives (the centralities; labels.yaml)
    cluster_df the small-sample convention of every clustered column of the table (regress |
               nested | none; estimate/vce.py), copied into each model
    """

    table: str
    title: str = ""
    kind: str = "regression"
    unit: str | None = "city_code"
    time: str = "year"
    models: tuple[ModelSpec, ...] = ()
    rows: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    fe_labels: dict[str, str] = field(default_factory=dict)
    variables: tuple[tuple[str, str, str], ...] = ()
    notes: tuple[str, ...] = ()
    digits: int = 3
    source: str = ""
    per_sd: tuple[str, ...] = ()
    cluster_df: str = "nested"

    def columns(self) -> list[tuple[ModelSpec, EquationSpec]]:
        """(model, equation) pairs in the table's column order (sorted by column label)."""
        pairs = [(m, e) for m in self.models for e in m.equations]
        return sorted(pairs, key=lambda p: _column_key(p[1].column))


def _column_key(col: str) -> tuple:
    m = re.match(r"^\(?(\d+)\)?", col)
    return (0, int(m.group(1)), col) if m else (1, 0, col)


def table_from_dict(data: Any, source: str = "spec") -> TableDef:
    """Validate a parsed YAML document. A document with top-level `equations` is one model."""
    if isinstance(data, dict) and "equations" in data and "models" not in data:
        model_keys = {f.name for f in fields(ModelSpec)} - {"cluster_df"}
        table_keys = {"table", "title", "panel", "groups", "rows", "labels", "fe_labels", "notes", "digits",
                      "per_sd", "cluster_df"}
        data = {**{k: v for k, v in data.items() if k in table_keys},
                "models": [{k: v for k, v in data.items() if k in model_keys or k not in table_keys}]}
        data.setdefault("table", Path(source).stem)
    where = str(source)
    allowed = ("table", "title", "kind", "panel", "groups", "models", "rows", "labels", "fe_labels",
               "variables", "notes", "digits", "per_sd", "cluster_df")
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping with 'table' and 'models'")
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    table = str(data.get("table") or Path(source).stem)
    kind = str(data.get("kind", "regression"))
    if kind not in ("regression", "descriptive"):
        raise UserError(f"{where}.kind: expected regression or descriptive")
    panel = data.get("panel") or {}
    if not isinstance(panel, dict) or set(panel) - {"unit", "time"}:
        raise UserError(f"{where}.panel: expected a mapping with 'unit' and 'time'")
    unit = panel.get("unit", "city_code")
    time = str(panel.get("time", "year"))
    groups_raw = data.get("groups") or {}
    if not isinstance(groups_raw, dict):
        raise UserError(f"{where}.groups: expected a mapping name -> list of terms")
    groups = {str(k): _str_list(v, f"{where}.groups.{k}") for k, v in groups_raw.items()}
    labels = data.get("labels") or {}
    fe_labels = data.get("fe_labels") or {}
    for key, val in (("labels", labels), ("fe_labels", fe_labels)):
        if not isinstance(val, dict):
            raise UserError(f"{where}.{key}: expected a mapping")
    try:
        digits = int(data.get("digits", 3))
    except (TypeError, ValueError):
        raise UserError(f"{where}.digits: expected an integer") from None
    notes = _str_list(data.get("notes"), f"{where}.notes")
    if kind == "descriptive":
        rows = data.get("variables")
        if not isinstance(rows, list) or not rows:
            raise UserError(f"{where}.variables: a descriptive table needs a list of {{var, name}}")
        variables = []
        for i, r in enumerate(rows):
            if isinstance(r, str):
                r = {"var": r}
            if not isinstance(r, dict) or "var" not in r or set(r) - {"var", "label", "name"}:
                raise UserError(f"{where}.variables[{i}]: expected {{var: column, label: shown, name: description}}")
            variables.append((str(r["var"]), str(r.get("label", r["var"])), str(r.get("name", ""))))
        return TableDef(table=table, title=str(data.get("title", "")), kind=kind, unit=unit, time=time,
                        variables=tuple(variables), labels={str(k): str(v) for k, v in labels.items()},
                        notes=notes, digits=digits, source=str(source))
    cluster_df = str(data.get("cluster_df", "nested"))
    if cluster_df not in CLUSTER_DF:
        raise UserError(f"{where}.cluster_df: expected one of {', '.join(CLUSTER_DF)}, got {cluster_df!r}")
    models = _parsed_list(data, "models", where, lambda m, w: ModelSpec.from_dict(m, groups, w),
                          "model names must be unique")
    models = tuple(replace(m, cluster_df=cluster_df) for m in models)
    cols = [e.column for m in models for e in m.equations]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise UserError(f"{where}: column(s) used twice: {', '.join(dup)}")
    rows = tuple(parse_term(r, f"{where}.rows").name for r in _str_list(data.get("rows"), f"{where}.rows"))
    return TableDef(table=table, title=str(data.get("title", "")), kind=kind, unit=unit, time=time,
                    models=models, rows=rows, labels={str(k): str(v) for k, v in labels.items()},
                    fe_labels={str(k): str(v) for k, v in fe_labels.items()}, notes=notes, digits=digits,
                    source=str(source), per_sd=_str_list(data.get("per_sd"), f"{where}.per_sd"), cluster_df=cluster_df)


def load_table(path: str | Path) -> TableDef:
    """Read and validate one spec file (a table, or a single model)."""
    return table_from_dict(load_yaml(path), str(path))


def load_tables(paths: list[str | Path] | str | Path) -> list[TableDef]:
    """Spec files, or every *.yaml of a directory in name order (labels.yaml is shared labels)."""
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        folder = Path(paths)
        shared = load_yaml(folder / "labels.yaml") if (folder / "labels.yaml").exists() else {}
        out = []
        for p in sorted(folder.glob("*.yaml")):
            if p.name == "labels.yaml":
                continue
            t = load_table(p)
            out.append(replace(t, labels={**(shared.get("labels") or {}), **t.labels},
                               fe_labels={**(shared.get("fe_labels") or {}), **t.fe_labels},
                               per_sd=t.per_sd or _str_list(shared.get("per_sd"), f"{folder / 'labels.yaml'}.per_sd")))
        return out
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return [load_table(p) for p in paths]
