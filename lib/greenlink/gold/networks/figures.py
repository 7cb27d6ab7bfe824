"""Maps of the yearly city networks: cities at their coordinates, edges by weight (PNG + SVG).

One figure per network and year. Only CITY-LEVEL aggregates reach the driver: the edge lists
of the drawn years of `collab_edges` / `transfer_edges` (at most N(N−1) rows per year, one
collect per network) and the sample cities. Drawing uses matplotlib's object API with the Agg canvas (no pyplot state, no
display needed); SVG output carries no date and a fixed hash salt, so a rerun on the same
data writes the same SVG bytes.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.collections import PathCollection
from matplotlib.path import Path as MplPath
from matplotlib.transforms import IdentityTransform
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

_STYLE = {
    "collab": {"label": "Collaboration", "color": "#2e7d32", "directed": False},
    "transfer": {"label": "Technology transfer", "color": "#1565c0", "directed": True},
}
_MAX_WIDTH = 4.0      # points, heaviest edge
_MIN_WIDTH = 0.3      # points, weight-1 edge on a busy map stays visible
_MAX_NODE_AREA = 220  # points², strongest city
_MIN_NODE_AREA = 4


def strength(edges: pd.DataFrame) -> pd.Series:
    """Node strength per city_code: total weight of the city's rows (local transfers once)."""
    if edges.empty:
        return pd.Series(dtype="float64")
    a = edges[["src", "dst", "weight"]]
    ends = pd.concat([a[["src", "weight"]].rename(columns={"src": "city_code"}),
                      a.loc[a["src"] != a["dst"], ["dst", "weight"]].rename(columns={"dst": "city_code"})])
    return ends.groupby("city_code")["weight"].sum().astype("float64")


def draw_network(edges: pd.DataFrame, cities: pd.DataFrame, *, network: str, year: int) -> Figure:
    """The map of one network-year.

    edges: pandas (src, dst, weight[, is_local]) — collab edges as src = city_a, dst = city_b;
    cities: pandas (city_code, longitude, latitude) of the sample. Edge width ∝ √weight,
    node area ∝ √strength (rsi for collaboration; transfers out + in, local once, for the
    transfer network); directed edges carry an arrow head; local transfers count in node
    size only. Cities without ties are small grey dots.
    """
    style = _STYLE[network]
    pos = cities.set_index("city_code")[["longitude", "latitude"]].astype("float64")
    graph = edges[edges["src"] != edges["dst"]].sort_values("weight", kind="stable")
    graph = graph[graph["src"].isin(pos.index) & graph["dst"].isin(pos.index)]
    s = strength(edges).reindex(pos.index).fillna(0.0)

    fig = Figure(figsize=(8.0, 6.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    wmax = float(graph["weight"].max()) if len(graph) else 1.0
    widths = _MIN_WIDTH + (_MAX_WIDTH - _MIN_WIDTH) * np.sqrt(graph["weight"].to_numpy(float) / wmax)
    p0 = pos.loc[graph["src"]].to_numpy()
    p1 = pos.loc[graph["dst"]].to_numpy()
    # equal ground distances on both axes at the map's mean latitude
    aspect = 1.0 / max(math.cos(math.radians(float(pos["latitude"].mean()))), 0.1)
    if len(graph):
        ax.add_collection(LineCollection(np.stack([p0, p1], axis=1), linewidths=widths,
                                         colors=style["color"], alpha=0.45, zorder=1))
        if style["directed"]:
            ax.add_collection(_arrow_heads(ax, p0, p1, widths, aspect, style["color"]))
    smax = float(s.max()) if len(s) and s.max() > 0 else 1.0
    tied = s > 0
    ax.scatter(pos.loc[~tied, "longitude"], pos.loc[~tied, "latitude"], s=_MIN_NODE_AREA,
               color="#9e9e9e", zorder=2, linewidths=0)
    ax.scatter(pos.loc[tied, "longitude"], pos.loc[tied, "latitude"],
               s=_MIN_NODE_AREA + (_MAX_NODE_AREA - _MIN_NODE_AREA) * np.sqrt(s[tied] / smax),
               color=style["color"], edgecolors="white", linewidths=0.4, zorder=3)
    ax.set_xlim(pos["longitude"].min() - 1, pos["longitude"].max() + 1)
    ax.set_ylim(pos["latitude"].min() - 1, pos["latitude"].max() + 1)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(f"{style['label']} network {year}: {len(graph)} edges, "
                 f"{int(tied.sum())} of {len(pos)} cities with ties")
    ax.text(0.01, 0.01, f"edge width ∝ √weight (max {wmax:g}); node area ∝ √strength (max {smax:g})",
            transform=ax.transAxes, fontsize=7, color="#424242")
    fig.tight_layout()
    return fig


_HEAD = np.array([[0.0, 0.0], [-1.0, 0.45], [-1.0, -0.45], [0.0, 0.0]])  # tip at origin, pointing +x
_HEAD_AT = 0.75   # heads sit 3/4 along the edge, so they do not pile up under big nodes


def _arrow_heads(ax, p0: np.ndarray, p1: np.ndarray, widths: np.ndarray, aspect: float,
                 color: str) -> PathCollection:
    """One collection of triangular heads (sized in points, like scatter markers).

    A patch per arrow (FancyArrowPatch) takes ~6 ms each to render, minutes for a busy
    year; one PathCollection draws thousands in well under a second. The display angle uses
    the fixed axes aspect: one latitude degree is `aspect` longitude degrees on screen.
    """
    d = p1 - p0
    angles = np.arctan2(aspect * d[:, 1], d[:, 0])
    paths = []
    for a in angles:
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        paths.append(MplPath(_HEAD @ rot.T, closed=True))
    heads = PathCollection(paths, sizes=(3.0 + 2.0 * widths) ** 2, offsets=p0 + _HEAD_AT * d,
                           offset_transform=ax.transData, facecolors=color, edgecolors="none",
                           alpha=0.7, zorder=2)
    heads.set_transform(IdentityTransform())
    return heads


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write `<stem>.png` (150 dpi) and `<stem>.svg`; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with rc_context({"svg.hashsalt": "greenlink"}):
        fig.savefig(out[0], dpi=150, metadata={"Software": None})
        fig.savefig(out[1], metadata={"Date": None})
    return out


def _edges_by_year(edges: DataFrame, network: str, years: list[int]) -> dict[int, pd.DataFrame]:
    """The network's (src, dst, weight) edges of each year, collected in ONE job (city-level:
    at most N(N−1) rows per year; a job per year cost more than the drawing on small worlds).
    Sorted by (src, dst) so that the drawing order, hence the SVG, does not depend on how
    the table's files were scanned."""
    e = edges.filter(F.col("year").isin(years))
    if network == "collab":
        e = e.select("year", F.col("city_a").alias("src"), F.col("city_b").alias("dst"), "weight")
    else:
        e = e.select("year", "src", "dst", "weight")
    pdf = e.toPandas().sort_values(["year", "src", "dst"], kind="stable")
    return {y: pdf.loc[pdf["year"] == y, ["src", "dst", "weight"]].reset_index(drop=True) for y in years}


FigureInputs = tuple[pd.DataFrame, dict[str, dict[int, pd.DataFrame]]]


def figure_inputs(collab: DataFrame, transfer: DataFrame, cities: DataFrame, years: Iterable[int]) -> FigureInputs:
    """What the maps of `years` are drawn from, on the driver: the sample cities' positions and
    each network's edges per year (three small Spark jobs; see `network_figures`)."""
    ys = sorted({int(y) for y in years})
    pos = cities.select("city_code", "longitude", "latitude").toPandas()
    edges = {network: _edges_by_year(df, network, ys) for network, df in (("collab", collab), ("transfer", transfer))}
    return pos, edges


def draw_figures(inputs: FigureInputs, out_dir: str | Path) -> list[Path]:
    """Draw and write every map of `inputs` (`figure_inputs`): no Spark, so it can run in a
    thread beside the stage's Spark work. Returns the written paths."""
    out_dir = Path(out_dir)
    pos, edges = inputs
    written: list[Path] = []
    for year in sorted(edges["collab"]):
        for network in ("collab", "transfer"):
            fig = draw_network(edges[network][year], pos, network=network, year=year)
            written += save_figure(fig, out_dir / f"{network}_network_{year}")
    return written


def network_figures(collab: DataFrame, transfer: DataFrame, cities: DataFrame,
                    years: Iterable[int], out_dir: str | Path) -> list[Path]:
    """A map per year and network into out_dir: `<network>_network_<year>.png|.svg`.

    collab: (year, city_a, city_b, weight); transfer: (year, src, dst, weight[, is_local]);
    cities: the sample (city_code, longitude, latitude). Returns the written paths.
    """
    return draw_figures(figure_inputs(collab, transfer, cities, years), out_dir)
