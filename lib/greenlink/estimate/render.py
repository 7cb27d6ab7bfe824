"""Tables in the article's layout, as Markdown, LaTeX, HTML and CSV, and a coefficient plot.

Regression tables: a header row of dependent variables and one of column labels; per shown
term a coefficient row (stars: * p < 0.10, ** p < 0.05, *** p < 0.01) and a row with the
standard error in parentheses; then a "Controls" row when some regressors are not shown, one
row per fixed-effect set (Yes/No), an "Estimator" row when columns differ in estimator, N and
R². Notes give the star legend, the table's own notes, omitted (absorbed) regressors and
failed columns. Descriptive tables (Table 1): variable, name, N, mean, sd, min, max.
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from greenlink.estimate.fitting import TableResult
from greenlink.estimate.spec import TableDef

FORMATS = ("md", "tex", "html", "csv")
# auxiliary ML parameters shown below the coefficients (value, standard error in parentheses);
# stars only where the test of 0 means something (lambda = 0: no correlation of the equations)
AUX_LABELS = {"/sigma": "σ", "/alpha": "α (NB dispersion)", "/lambda": "λ (loading on the linear error)"}
AUX_STARS = {"/lambda"}
CORRECTION_NAMES = {"jackknife": "SPJ", "nickell": "Nickell", "none": "-"}
ESTIMATOR_NAMES = {"3sls": "3SLS", "2sls": "2SLS", "ols": "OLS", "tobit": "Tobit ML",
                   "mixed_ml/linear": "ML (linear)", "mixed_ml/negbin": "ML (NB count)"}


def stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


@dataclass
class Grid:
    """A rendered table before formatting: headers, body rows and notes."""

    title: str
    headers: list[list[str]]                       # each: [stub, cell, cell, ...]
    body: list[list[str]]
    notes: list[str] = field(default_factory=list)
    se_rows: set[int] = field(default_factory=set)   # body rows holding standard errors


def _fmt(x: float, digits: int) -> str:
    if x is None or not np.isfinite(x):
        return ""
    return f"{x:,.{digits}f}" if abs(x) >= 1e4 else f"{x:.{digits}f}"


def _label(table: TableDef, name: str) -> str:
    return table.labels.get(name, name)


def _shown_terms(tr: TableResult) -> tuple[list[str], bool]:
    """Terms to show (spec rows, or every regressor in order of appearance) and whether some
    estimated regressors are hidden (-> a Controls row)."""
    t = tr.table
    present: list[str] = []
    for m, e in t.columns():
        for term in e.regressors:
            if term.name not in present:
                present.append(term.name)
    if t.rows:
        return list(t.rows), any(x not in t.rows for x in present)
    return present, False


def regression_grid(tr: TableResult) -> Grid:
    t = tr.table
    cols = t.columns()
    digits = t.digits
    deps = [_label(t, e.label) for _, e in cols]
    headers = [[""] + deps, [""] + [e.column for _, e in cols]]
    eq_res = []
    for m, e in cols:
        res = tr.results.get(m.name)
        eq_res.append(res.equations.get(e.name) if res else None)
    terms, hidden = _shown_terms(tr)
    body: list[list[str]] = []
    se_rows: set[int] = set()
    omitted_notes: dict[tuple[str, str], list[str]] = {}
    for term in terms:
        coef_row, se_row = [_label(t, term)], [""]
        for (m, e), r in zip(cols, eq_res):
            if r is None:
                coef_row.append("n/a" if any(x.name == term for x in e.regressors) else "")
                se_row.append("")
            elif term in r.params.index:
                coef_row.append(_fmt(r.params[term], digits) + stars(r.pvalues[term]))
                se_row.append(f"({_fmt(r.std_errors[term], digits)})")
            elif term in r.omitted:
                coef_row.append("omitted")
                se_row.append("")
                omitted_notes.setdefault((term, r.omitted[term]), []).append(e.column)
            else:
                coef_row.append("")
                se_row.append("")
        body.append(coef_row)
        body.append(se_row)
        se_rows.add(len(body) - 1)
    aux = [a for a in AUX_LABELS if any(r is not None and a in r.params.index for r in eq_res)]
    for a in aux:
        coef_row, se_row = [t.labels.get(a, AUX_LABELS[a])], [""]
        for r in eq_res:
            if r is None or a not in r.params.index:
                coef_row.append("" if r is not None else "n/a")
                se_row.append("")
                continue
            coef_row.append(_fmt(r.params[a], digits) + (stars(r.pvalues[a]) if a in AUX_STARS else ""))
            se = _fmt(r.std_errors[a], digits)
            se_row.append(f"({se})" if se else "")
        body.append(coef_row)
        body.append(se_row)
        se_rows.add(len(body) - 1)
    if hidden:
        body.append(["Controls"] + ["Yes" if r is not None else "n/a" for r in eq_res])
    fe_names: list[str] = []
    for m, _ in cols:
        for f in m.fixed_effects:
            if f not in fe_names:
                fe_names.append(f)
    for f in fe_names:
        body.append([t.fe_labels.get(f, f"{f} fixed effects")]
                    + ["Yes" if f in m.fixed_effects else "No" for m, _ in cols])
    est = [ESTIMATOR_NAMES.get(r.estimator, r.estimator) if r is not None else "n/a" for r in eq_res]
    if len(set(est)) > 1:
        body.append(["Estimator"] + est)
    if any(m.bias_correction != "none" for m, _ in cols):
        body.append(["Bias correction"] + [
            "n/a" if r is None else "not applied" if r.stats.get("bias_correction_failed")
            else CORRECTION_NAMES.get(m.bias_correction, m.bias_correction) for (m, _), r in zip(cols, eq_res)])
    body.append(["N"] + [f"{r.nobs:,}" if r is not None else "n/a" for r in eq_res])
    body.append(["R²"] + [(_fmt(r.rsquared, digits) or "-") if r is not None else "n/a" for r in eq_res])
    if any(r is not None and np.isfinite(r.rsquared_within) for r in eq_res):
        # R² above counts the fixed effects as fitted; this is what the regressors explain within
        body.append(["Within R²"] + [(_fmt(r.rsquared_within, digits) or "-") if r is not None else "n/a"
                                     for r in eq_res])
    lls = [r.stats.get("loglik", float("nan")) if r is not None else float("nan") for r in eq_res]
    if any(np.isfinite(lls)):
        body.append(["Log-likelihood"] + [(_fmt(ll, 1) or "-") if r is not None else "n/a"
                                          for ll, r in zip(lls, eq_res)])
    notes = ["Standard errors in parentheses; * p < 0.10, ** p < 0.05, *** p < 0.01."] + list(t.notes)
    for (term, why), where in omitted_notes.items():
        notes.append(f"{_label(t, term)} omitted in {', '.join(where)}: {why}.")
    # rows excluded for reasons other than the lag and the declared sample filters
    for (m, e), r in zip(cols, eq_res):
        if r is None or r.counts is None:
            continue
        for why, n in r.counts.excluded.items():
            if not why.startswith(("no t-", "sample filter")):
                notes.append(f"{e.column}: {n:,} row(s) excluded: {why}.")
    model_notes: dict[str, list[str]] = {}          # the same note of several models is given once
    for m in t.models:
        if m.name in tr.failures:
            cols_m = ", ".join(e.column for e in m.equations)
            notes.append(f"{cols_m}: estimation failed: {tr.failures[m.name]}")
        res = tr.results.get(m.name)
        if res is not None:
            for n in res.notes:
                model_notes.setdefault(n, []).extend(e.column for e in m.equations)
    notes += [f"{', '.join(cols_n)}: {n}" for n, cols_n in model_notes.items()]
    return Grid(t.title or t.table, headers, body, notes, se_rows)


def descriptive_grid(tr: TableResult) -> Grid:
    t = tr.table
    d = tr.descriptive
    headers = [["Variable", "Name", "N", "Mean", "Sd", "Min", "Max"]]
    body = [[r.variable, r.name, f"{r.N:,}", _fmt(r.mean, t.digits), _fmt(r.sd, t.digits), _fmt(r.min, t.digits),
             _fmt(r.max, t.digits)] for r in d.itertuples(index=False)]
    return Grid(t.title or t.table, headers, body, list(t.notes))


def grid(tr: TableResult) -> Grid:
    return descriptive_grid(tr) if tr.table.kind == "descriptive" else regression_grid(tr)


def to_markdown(g: Grid) -> str:
    ncol = len(g.headers[0])
    lines = [f"**{g.title}**", ""]
    esc = lambda s: s.replace("|", "\\|")
    lines.append("| " + " | ".join(esc(c) for c in g.headers[0]) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (ncol - 1)) + "|")
    for h in g.headers[1:]:
        lines.append("| " + " | ".join(esc(c) for c in h) + " |")
    for row in g.body:
        lines.append("| " + " | ".join(esc(c) for c in row) + " |")
    lines.append("")
    lines += [f"{n}  " for n in g.notes]
    return "\n".join(lines).rstrip() + "\n"


def _tex(s: str) -> str:
    out = s
    for a, b in (("\\", "\x00"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}"),
                 ("\x00", r"\textbackslash{}"), ("²", r"$^2$"), ("σ", r"$\sigma$"), ("α", r"$\alpha$"),
                 ("λ", r"$\lambda$")):
        out = out.replace(a, b)
    return out


def _runs(cells: list[str]) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for c in cells:
        if runs and runs[-1][0] == c:
            runs[-1] = (c, runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    return runs


def to_latex(g: Grid) -> str:
    ncol = len(g.headers[0])
    spec = "l" + ("l" * 1 + "r" * (ncol - 2) if g.headers[0][:2] == ["Variable", "Name"] else "c" * (ncol - 1))
    lines = [r"\begin{table}[htbp]\centering", rf"\caption{{{_tex(g.title)}}}", rf"\begin{{tabular}}{{{spec}}}",
             r"\hline\hline"]
    for i, h in enumerate(g.headers):
        if i == 0 and len(g.headers) > 1:
            cells = [_tex(h[0])] + [rf"\multicolumn{{{n}}}{{c}}{{{_tex(c)}}}" if n > 1 else _tex(c)
                                    for c, n in _runs(h[1:])]
        else:
            cells = [_tex(c) for c in h]
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\hline")
    for row in g.body:
        lines.append(" & ".join(_tex(c) for c in row) + r" \\")
    lines += [r"\hline\hline", r"\end{tabular}"]
    if g.notes:
        lines.append(r"\par\footnotesize " + r" \\ ".join(_tex(n) for n in g.notes))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(g: Grid) -> str:
    e = html.escape
    out = [f"<table class=\"greenlink-table\">", f"<caption>{e(g.title)}</caption>", "<thead>"]
    for i, h in enumerate(g.headers):
        if i == 0 and len(g.headers) > 1:
            cells = [f"<th>{e(h[0])}</th>"] + [f"<th colspan=\"{n}\">{e(c)}</th>" if n > 1 else f"<th>{e(c)}</th>"
                                               for c, n in _runs(h[1:])]
        else:
            cells = [f"<th>{e(c)}</th>" for c in h]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</thead>\n<tbody>")
    for i, row in enumerate(g.body):
        cls = " class=\"se\"" if i in g.se_rows else ""
        out.append(f"<tr{cls}><th>{e(row[0])}</th>" + "".join(f"<td>{e(c)}</td>" for c in row[1:]) + "</tr>")
    out.append("</tbody>")
    if g.notes:
        out.append("<tfoot>" + "".join(f"<tr><td colspan=\"{len(g.headers[0])}\">{e(n)}</td></tr>" for n in g.notes)
                   + "</tfoot>")
    out.append("</table>")
    return "\n".join(out) + "\n"


def to_csv(g: Grid) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([g.title])
    for h in g.headers:
        w.writerow(h)
    for row in g.body:
        w.writerow(row)
    for n in g.notes:
        w.writerow([n])
    return buf.getvalue()


RENDERERS = {"md": to_markdown, "tex": to_latex, "html": to_html, "csv": to_csv}


def render_table(tr: TableResult, fmt: str = "md") -> str:
    """One table as Markdown (md), LaTeX (tex), HTML (html) or CSV (csv) text."""
    if fmt not in RENDERERS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return RENDERERS[fmt](grid(tr))


def plot_terms(tr: TableResult) -> list[str]:
    """Terms for the coefficient plot: those built from a dependent of the table's equations
    (the cross-equation effects alpha, beta, their margins and interactions, own lags), or
    every shown term when there is none (a user's single-equation table)."""
    deps = {e.dependent.factors[0].base for _, e in tr.table.columns()}
    deps |= {d.removeprefix("ln_") for d in list(deps)}
    terms, _ = _shown_terms(tr)
    out = []
    for m, e in tr.table.columns():
        for t in e.regressors:
            if t.name in terms and t.name not in out and any(
                    f.base in deps or f.base.removeprefix("ln_") in deps for f in t.factors):
                out.append(t.name)
    return out or terms


def per_sd_effects(tr: TableResult) -> list[str]:
    """Per-standard-deviation effects of the table's `per_sd` variables (the centralities):
    coefficient x sd of the regressor in the column's estimation sample, one line per term."""
    want = set(tr.table.per_sd)
    lines = []
    for m, e in tr.table.columns():
        res = tr.results.get(m.name)
        r = res.equations.get(e.name) if res else None
        if r is None:
            continue
        cells = []
        for term in r.params.index:
            sd = r.regressor_sd.get(term)
            if sd is None or not any(t.name == term and all(f.var in want for f in t.factors) for t in e.regressors):
                continue
            cells.append(f"{_label(tr.table, term)} {r.params[term] * sd:+.{tr.table.digits}f} (sd {sd:.3g})")
        if cells:
            lines.append(f"{e.column}: " + "; ".join(cells))
    return lines


def coefficient_plot(tr: TableResult, path: str | Path) -> Path | None:
    """PNG of the plot terms' coefficients with 95% intervals, one marker per column;
    None when the table has nothing to plot (descriptive, or no estimates)."""
    if tr.table.kind != "regression":
        return None
    import matplotlib  # local: heavy, only for coefficient plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for term in plot_terms(tr):
        for m, e in tr.table.columns():
            res = tr.results.get(m.name)
            r = res.equations.get(e.name) if res else None
            if r is not None and term in r.params.index:
                rows.append((f"{_label(tr.table, term)}  {e.column}", r.params[term], r.std_errors[term]))
    if not rows:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ypos = np.arange(len(rows))[::-1]
    coef = np.array([r[1] for r in rows])
    half = 1.96 * np.array([r[2] for r in rows])
    ax.errorbar(coef, ypos, xerr=half, fmt="o", color="#1b7837", ecolor="#5aae61", capsize=3)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(ypos, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("coefficient (95% confidence interval)")
    ax.set_title(tr.table.title or tr.table.table, fontsize=9)
    per_sd = per_sd_effects(tr)
    if per_sd:
        # the centralities are shares in [0, 1] with sds of ~0.01: their raw coefficients are not
        # comparable with the elasticities above, their effect of one sd is
        note = "Effect of one standard deviation (coefficient x sd in the sample):\n" + "\n".join(per_sd)
        fig.set_figheight(fig.get_figheight() + 0.16 * (len(per_sd) + 1))
        fig.text(0.01, 0.01, note, fontsize=6, va="bottom", ha="left", wrap=True)
        fig.tight_layout(rect=(0, 0.16 * (len(per_sd) + 1.5) / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_reports(results: list[TableResult], out_dir: str | Path, formats: tuple[str, ...] = FORMATS,
                  plots: bool = True) -> list[Path]:
    """Write <table>.<fmt> for every table and format, and <table>_coef.png; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tr in results:
        for fmt in formats:
            p = out / f"{tr.table.table}.{fmt}"
            p.write_text(render_table(tr, fmt), encoding="utf-8")
            written.append(p)
        if plots:
            png = coefficient_plot(tr, out / f"{tr.table.table}_coef.png")
            if png:
                written.append(png)
    return written
