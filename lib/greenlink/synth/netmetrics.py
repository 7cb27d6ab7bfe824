"""SPEC §4 city-level network variables from city-pair weights (driver side, small data).

Used twice with the same definitions: by the system simulation (realised metrics feed the
next year's lagged regressors) and by the truth (from the generated records). Betweenness
is Brandes' algorithm run for all sources at once with dense matrix products (n ≤ 338
cities), exact on unweighted shortest paths (fewest hops); tests compare it with networkx.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COLLAB_COLUMNS = ["rsi", "ex", "in", "DC", "BC", "rsi_ip"]
TRANSFER_COLUMNS = ["gtr", "gtr_local", "gtr_other", "ex_gt", "in_gt", "dc_out", "dc_in", "bc_gt", "gtr_ip"]


def betweenness_raw(adj: np.ndarray) -> np.ndarray:
    """Σ over ordered pairs (s, t), s ≠ v ≠ t, of σ_st(v)/σ_st on the directed graph `adj`
    (bool n×n, no self loops). For an undirected graph pass the symmetric matrix: each
    unordered pair is then counted twice."""
    n_all = adj.shape[0]
    adj = adj.copy()
    np.fill_diagonal(adj, False)
    # isolated nodes lie on no path and have betweenness 0: work on the others only
    active = np.flatnonzero(adj.any(axis=0) | adj.any(axis=1))
    out = np.zeros(n_all)
    if len(active) < 3:
        return out
    a = adj[np.ix_(active, active)].astype(np.float64)
    n = len(active)
    dist = np.full((n, n), -1, dtype=np.int64)
    sigma = np.zeros((n, n))
    np.fill_diagonal(dist, 0)
    np.fill_diagonal(sigma, 1.0)
    frontier = np.eye(n, dtype=bool)
    depth = 0
    while frontier.any():
        reach = (sigma * frontier) @ a               # paths extended by one hop
        new = (reach > 0) & (dist < 0)
        depth += 1
        dist[new] = depth
        sigma[new] = reach[new]
        frontier = new
    delta = np.zeros((n, n))
    for d in range(depth, 1, -1):
        at_d = dist == d
        coef = np.where(at_d, (1.0 + delta) / np.where(sigma > 0, sigma, 1.0), 0.0)
        back = coef @ a.T                            # Σ over successors w of v at depth d
        prev = dist == d - 1
        delta[prev] += (sigma * back)[prev]
    np.fill_diagonal(delta, 0.0)
    out[active] = delta.sum(axis=0)
    return out


def _matrix(edges: pd.DataFrame, index: dict[str, int], a: str, b: str, w: str) -> np.ndarray:
    n = len(index)
    m = np.zeros((n, n))
    if len(edges):
        ia = edges[a].map(index).to_numpy()
        ib = edges[b].map(index).to_numpy()
        np.add.at(m, (ia, ib), edges[w].to_numpy(dtype=float))
    return m


def collab_metrics(edges: pd.DataFrame, cities: pd.DataFrame) -> pd.DataFrame:
    """edges: city_a, city_b, weight (one year, a ≠ b, sample cities only, each pair once);
    cities: city_code, province_code (the sample; N = its length). Returns city_code + COLLAB_COLUMNS."""
    codes = cities["city_code"].tolist()
    idx = {c: i for i, c in enumerate(codes)}
    n = len(codes)
    w = _matrix(edges, idx, "city_a", "city_b", "weight")
    w = w + w.T
    prov = cities["province_code"].to_numpy()
    same = prov[:, None] == prov[None, :]
    rsi = w.sum(axis=1)
    ex = (w > 0).sum(axis=1)
    bc = betweenness_raw(w > 0) / 2.0 / ((n - 1) * (n - 2) / 2.0) if n > 2 else np.zeros(n)
    return pd.DataFrame({
        "city_code": codes, "rsi": rsi.astype(np.int64), "ex": ex.astype(np.int64),
        "in": np.divide(rsi, ex, out=np.zeros(n), where=ex > 0), "DC": ex / (n - 1), "BC": bc,
        "rsi_ip": (w * same).sum(axis=1).astype(np.int64)})


def transfer_metrics(edges: pd.DataFrame, cities: pd.DataFrame) -> pd.DataFrame:
    """edges: src, dst, weight (one year, sample cities; src = dst is a local transfer).
    Returns city_code + TRANSFER_COLUMNS (SPEC §4; bc_gt is SPEC's transfer `bc`)."""
    codes = cities["city_code"].tolist()
    idx = {c: i for i, c in enumerate(codes)}
    n = len(codes)
    f = _matrix(edges, idx, "src", "dst", "weight")
    prov = cities["province_code"].to_numpy()
    same = prov[:, None] == prov[None, :]
    local = np.diag(f).copy()
    off = f.copy()
    np.fill_diagonal(off, 0.0)
    gtr = f.sum(axis=1)
    ex_gt = (f > 0).sum(axis=1)
    bc = betweenness_raw(off > 0) / ((n - 1) * (n - 2)) if n > 2 else np.zeros(n)
    return pd.DataFrame({
        "city_code": codes, "gtr": gtr.astype(np.int64), "gtr_local": local.astype(np.int64),
        "gtr_other": (gtr - local).astype(np.int64), "ex_gt": ex_gt.astype(np.int64),
        "in_gt": np.divide(gtr, ex_gt, out=np.zeros(n), where=ex_gt > 0),
        "dc_out": (off > 0).sum(axis=1) / (n - 1), "dc_in": (off > 0).sum(axis=0) / (n - 1),
        "bc_gt": bc, "gtr_ip": (f * same).sum(axis=1).astype(np.int64)})


def city_year_metrics(collab: pd.DataFrame, transfers: pd.DataFrame, cities: pd.DataFrame,
                      years: list[int]) -> pd.DataFrame:
    """All SPEC §4 network variables for every sample city and year (zeros, not missing).
    collab: year, city_a, city_b, weight; transfers: year, src, dst, weight."""
    out = []
    for y in years:
        c = collab_metrics(collab[collab["year"] == y], cities)
        t = transfer_metrics(transfers[transfers["year"] == y], cities)
        m = c.merge(t, on="city_code")
        m.insert(1, "year", y)
        out.append(m)
    return pd.concat(out, ignore_index=True)
