"""The analyst notebooks execute top to bottom (nbclient) against a warehouse given by
GREENLINK_WAREHOUSE, reading Delta tables without Spark.

Two warehouses: the shared pipeline run (`pipeline_warehouse`, once conftest defines it),
and a small hand-made one holding the gold tables the notebooks read, written with delta-rs
in the declared layouts, so the notebooks' code is checked before the gold stages exist."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300          # per cell; kernels start slowly on a loaded machine


def execute(notebook: Path, warehouse: Path, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("GREENLINK_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(notebook, as_version=4)
    NotebookClient(book, timeout=TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()


def test_notebooks_exist_without_outputs():
    import nbformat

    assert [p.name for p in NOTEBOOKS] == ["01_panel_exploration.ipynb", "02_network_maps.ipynb",
                                           "03_tables_1_2.ipynb"]
    for p in NOTEBOOKS:
        book = nbformat.read(p, as_version=4)
        nbformat.validate(book)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), f"{p.name}: clear outputs"
        assert "pyspark" not in "".join(c.source for c in book.cells), f"{p.name} must not need Spark"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_pipeline_warehouse(notebook, pipeline_warehouse, monkeypatch):
    execute(notebook, pipeline_warehouse, monkeypatch)


# --------------------------------------------------------------------------- hand-made gold

CITIES = pd.DataFrame({
    "city_code": ["110000", "120000", "130100", "310000", "320100", "440100"],
    "city_name": ["北京市", "天津市", "石家庄市", "上海市", "南京市", "广州市"],
    "province_code": ["110000", "120000", "130000", "310000", "320000", "440000"],
    "longitude": [116.4, 117.2, 114.5, 121.5, 118.8, 113.3],
    "latitude": [39.9, 39.1, 38.0, 31.2, 32.1, 23.1],
})
YEARS = range(2010, 2021)


def gold_tables(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    grid = CITIES.merge(pd.DataFrame({"year": list(YEARS)}), how="cross")
    n = len(grid)
    counts = {c: rng.poisson(3, n) for c in ("rsi", "gtr", "app")}
    panel = grid.drop(columns=["longitude", "latitude"]).assign(
        **counts, ex=np.minimum(counts["rsi"], 3), DC=rng.uniform(0, 1, n), BC=rng.uniform(0, 0.2, n),
        dc_out=rng.uniform(0, 1, n), dc_in=rng.uniform(0, 1, n), bc_gt=rng.uniform(0, 0.2, n),
        ln_pgdp=rng.normal(10.5, 0.5, n), er=rng.uniform(0, 1, n), ins=rng.uniform(30, 70, n),
        ln_fdi=rng.uniform(5, 12, n), fin=rng.uniform(1, 4, n), cgl=rng.integers(0, 2, n),
        HSR=rng.integers(0, 2, n), qrate=rng.uniform(0.8, 1, n), zts=rng.uniform(1, 3, n),
        gjs=rng.uniform(1, 3, n))
    panel = panel.assign(rps=panel["zts"] * panel["gjs"], ln_rsi=np.log1p(panel["rsi"]),
                         ln_gtr=np.log1p(panel["gtr"]), ln_app=np.log1p(panel["app"]))
    panel.loc[0, "er"] = np.nan                                    # controls may be missing
    terms = ["ln_rsi[t-1]", "ln_gtr[t-1]", "dc_out[t-1]", "DC[t-1]", "cgl", "const"]
    est = [("r1", "table2", col, eq, t, rng.normal(0, 0.3), 0.1, rng.uniform(0, 0.2), 600, 0.4)
           for col, eq in (("(1)", "ln_gtr"), ("(2)", "ln_gtr"), ("(3)", "ln_rsi"), ("(4)", "ln_rsi"))
           for t in terms if not (eq == "ln_gtr" and t == "ln_gtr[t-1]") and not (eq == "ln_rsi" and t == "ln_rsi[t-1]")]
    estimates = pd.DataFrame(est, columns=["run", "table", "column", "equation", "term", "coef", "se", "p", "nobs", "r2"])
    codes = CITIES["city_code"].tolist()
    pairs = [(y, a, b, int(rng.integers(1, 5))) for y in YEARS for i, a in enumerate(codes) for b in codes[i + 1:]
             if rng.uniform() < 0.4]
    collab = pd.DataFrame(pairs, columns=["year", "city_a", "city_b", "weight"])
    moves = [(y, a, b, int(rng.integers(1, 4)), a == b) for y in YEARS for a in codes for b in codes if rng.uniform() < 0.15]
    transfer = pd.DataFrame(moves, columns=["year", "src", "dst", "weight", "is_local"])
    sample = CITIES.assign(n_values=100, n_missing=0, missing_share=0.0, threshold=0.2, in_sample=True, reason=None)
    sample.loc[len(sample)] = ["659001", "石河子市", "650000", 86.0, 44.3, 100, 60, 0.6, 0.2, False, "missing_controls"]
    metrics = panel[["city_code", "year", "rsi", "ex", "DC", "BC", "gtr", "dc_out", "dc_in", "bc_gt"]].assign(
        pagerank=rng.uniform(0, 0.3, n), pagerank_gt=rng.uniform(0, 0.3, n))
    summary = pd.DataFrame([(net, y, 6, 4, 2, 5, 9, 1 if net == "transfer" else None, 0.33, 2, 3, 0.5,
                             1 if net == "transfer" else None, 0.25 if net == "transfer" else None)
                            for net in ("collab", "transfer") for y in YEARS],
                           columns=["network", "year", "n_cities", "nodes_with_ties", "isolated_cities", "edges",
                                    "total_weight", "local_transfers", "density", "components",
                                    "largest_component_size", "largest_component_share", "reciprocated_pairs",
                                    "reciprocity"])
    return {"gold.city_year_panel": panel, "gold.estimates": estimates, "gold.collab_edges": collab,
            "gold.transfer_edges": transfer, "gold.sample_log": sample, "gold.city_network_metrics": metrics,
            "gold.network_summary": summary}


@pytest.fixture(scope="module")
def small_gold_warehouse(tmp_path_factory) -> Path:
    from deltalake import write_deltalake

    wh = tmp_path_factory.mktemp("nb") / "warehouse"
    for name, frame in gold_tables(np.random.default_rng(7)).items():
        write_deltalake(str(wh / name.replace(".", "/")), frame)
    return wh


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_small_gold_warehouse(notebook, small_gold_warehouse, monkeypatch):
    execute(notebook, small_gold_warehouse, monkeypatch)
