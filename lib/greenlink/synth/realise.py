"""Realisation of the city-year system as units: integer city strengths -> collaboration
patents (2 or 3 cities) and transfers (source -> destination city), and back to the SPEC §4
network variables those units add up to.

Every function draws from the numpy Generator it is given, in a fixed order; `system.simulate`
passes the same "networks" stream to all of them, year after year, so the call order there is
part of every generated world.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenlink.synth import netmetrics

NETWORK_VARS = ("rsi", "gtr", "DC", "BC", "dc_out", "dc_in", "bc_gt")


def _fitness(targets: np.ndarray, g: np.ndarray, iters: int = 300) -> np.ndarray:
    """Expected symmetric weights E = x xᵀ ∘ g with row sums ≈ targets (diag 0)."""
    x = np.sqrt(targets.astype(float)) + 0.0
    for _ in range(iters):
        s = g @ x
        x = np.where(targets > 0, np.sqrt(x * targets / np.where(s > 0, s, 1.0)), 0.0)
    e = np.outer(x, x) * g
    np.fill_diagonal(e, 0.0)
    return e


def collab_weights(targets: np.ndarray, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Symmetric integer weights, zero diagonal, row sums = targets (up to a stub or two that
    cannot be paired): expected weights from a gravity fitness model, floored, and the
    remaining stubs matched city by city preferring partners with large expected weight."""
    e = _fitness(targets, g)
    w = np.floor(e).astype(np.int64)
    w = np.minimum(w, w.T)
    rem = targets - w.sum(axis=1)
    n = len(targets)
    for i in np.flatnonzero(rem < 0):          # the fitness fit is approximate: trim overfull rows
        while rem[i] < 0:
            j = int(np.argmax(w[i]))
            w[i, j] -= 1
            w[j, i] -= 1
            rem[i] += 1
            rem[j] += 1
    while rem.sum() > 1:
        i = int(np.argmax(rem))
        cand = np.flatnonzero(rem > 0)
        cand = cand[cand != i]
        if len(cand) == 0:
            break
        pw = e[i, cand] - np.floor(e[i, cand]) + 1e-6 * g[i, cand] + 1e-12
        j = int(cand[rng.choice(len(cand), p=pw / pw.sum())])
        w[i, j] += 1
        w[j, i] += 1
        rem[i] -= 1
        rem[j] -= 1
    assert (rem >= 0).all() and n == w.shape[0]
    return w


def split_triangles(w: np.ndarray, share: float, rng: np.random.Generator) -> tuple[list[tuple[int, int, int]],
                                                                                   np.ndarray]:
    """Take pair-units of `w` three at a time into 3-city units (each adds 1 to its three pairs);
    returns (triangles, remaining pair units)."""
    rest = w.copy()
    want = int(share * np.triu(w, 1).sum() / 3)
    tris: list[tuple[int, int, int]] = []
    if want == 0:
        return tris, rest
    ii, jj = np.nonzero(np.triu(rest, 1))
    for k in rng.permutation(len(ii)):
        if len(tris) >= want:
            break
        i, j = int(ii[k]), int(jj[k])
        if rest[i, j] < 1:
            continue
        common = np.flatnonzero((rest[i] > 0) & (rest[j] > 0))
        common = common[(common != i) & (common != j)]
        if len(common) == 0:
            continue
        m = int(common[rng.integers(len(common))])
        for a, b in ((i, j), (i, m), (j, m)):
            rest[a, b] -= 1
            rest[b, a] -= 1
        tris.append(tuple(sorted((i, j, m))))
    return tris, rest


def transfer_flows(targets: np.ndarray, g: np.ndarray, size: np.ndarray, local_share: np.ndarray,
                   rng: np.random.Generator, size_power: float) -> np.ndarray:
    """Directed integer flows with row sums = targets: local part binomial, the rest multinomial
    over other cities ∝ gravity × size^size_power."""
    n = len(targets)
    f = np.zeros((n, n), dtype=np.int64)
    attract = size ** size_power
    for i in np.flatnonzero(targets > 0):
        loc = rng.binomial(int(targets[i]), local_share[i])
        f[i, i] = loc
        rest = int(targets[i]) - loc
        if rest:
            pw = g[i] * attract
            pw[i] = 0.0
            f[i] += rng.multinomial(rest, pw / pw.sum())
    return f


def year_units(gtr_t: np.ndarray, rsi_t: np.ndarray, sample_idx: np.ndarray, size: np.ndarray, g_col: np.ndarray,
               g_tr: np.ndarray, local_share: np.ndarray, net: dict[str, Any],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One year's units from the sample cities' targets (rsi_t: collaboration strengths with
    an even total, gtr_t: transfers out), as city indices: collaboration (c1, c2, c3 or -1,
    counted) and transfers (src, dst, counted), plus an uncounted layer touching degraded
    cities that the pipeline must drop."""
    s_idx = sample_idx
    w = collab_weights(rsi_t, g_col[np.ix_(s_idx, s_idx)], rng)
    tris, pairs = split_triangles(w, net["triangle_share"], rng)
    f = transfer_flows(gtr_t, g_tr[np.ix_(s_idx, s_idx)], size[s_idx], local_share[s_idx], rng,
                       net["transfer_size_power"])
    ia, ib = np.nonzero(np.triu(pairs, 1))
    reps = pairs[ia, ib]
    cu = np.column_stack([np.repeat(s_idx[ia], reps), np.repeat(s_idx[ib], reps),
                          np.full(reps.sum(), -1), np.ones(reps.sum(), dtype=np.int64)])
    if tris:
        t3 = s_idx[np.array(tris)]
        cu = np.vstack([cu, np.column_stack([t3, np.ones(len(t3), dtype=np.int64)])])
    fa, fb = np.nonzero(f)
    reps = f[fa, fb]
    tu = np.column_stack([np.repeat(s_idx[fa], reps), np.repeat(s_idx[fb], reps), np.ones(reps.sum(), dtype=np.int64)])
    return _degraded_layer(cu, tu, sample_idx, size, g_col, g_tr, net["degraded_layer_share"], rng)


def _degraded_layer(cu: np.ndarray, tu: np.ndarray, sample_idx: np.ndarray, size: np.ndarray, g_col: np.ndarray,
                    g_tr: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`cu`, `tu` plus `share` as many uncounted units from a degraded city (drawn ∝ size) to a
    gravity partner (transfers in either direction): realistic, dropped by the pipeline."""
    deg = np.setdiff1d(np.arange(len(size)), sample_idx)
    n_dc = int(round(share * len(cu)))
    n_dt = int(round(share * len(tu)))
    if len(deg) and (n_dc or n_dt):
        pd_ = size[deg] / size[deg].sum()
        extra_c = gravity_partners(deg[rng.choice(len(deg), size=n_dc, p=pd_)], g_col, size, rng)
        cu = np.vstack([cu, np.column_stack([extra_c, np.full(n_dc, -1), np.zeros(n_dc, dtype=np.int64)])])
        extra_t = gravity_partners(deg[rng.choice(len(deg), size=n_dt, p=pd_)], g_tr, size, rng)
        flip = rng.random(n_dt) < 0.5
        extra_t[flip] = extra_t[flip][:, ::-1]
        tu = np.vstack([tu, np.column_stack([extra_t, np.zeros(n_dt, dtype=np.int64)])])
    return cu, tu


def gravity_partners(src: np.ndarray, g: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(src, partner) rows: each partner drawn ∝ gravity × size, never src itself."""
    out = np.column_stack([src, np.zeros(len(src), dtype=np.int64)])
    for d in np.unique(src):
        rows = np.flatnonzero(src == d)
        pw = g[d] * size
        pw[d] = 0.0
        out[rows, 1] = rng.choice(len(size), size=len(rows), p=pw / pw.sum())
    return out


def sample_metrics(cu: np.ndarray, tu: np.ndarray, codes: np.ndarray, sample: np.ndarray,
                   sample_cities: pd.DataFrame) -> pd.DataFrame:
    """SPEC §4 variables of the sample networks per sample city: exactly what the units add up to."""
    ce = collab_edges(cu, codes, sample)
    te = transfer_edges(tu, codes, sample)
    return netmetrics.collab_metrics(ce, sample_cities).merge(netmetrics.transfer_metrics(te, sample_cities),
                                                              on="city_code")


def collab_edges(units: np.ndarray, codes: np.ndarray, sample: np.ndarray) -> pd.DataFrame:
    """Pair weights of the sample network from units (c1, c2, c3|-1, counted)."""
    pairs = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        a, b = units[:, i], units[:, j]
        ok = (a >= 0) & (b >= 0)
        ok[ok] = sample[a[ok]] & sample[b[ok]]
        lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
        pairs.append(pd.DataFrame({"city_a": codes[lo], "city_b": codes[hi]}))
    e = pd.concat(pairs, ignore_index=True)
    return e.groupby(["city_a", "city_b"]).size().rename("weight").reset_index()


def transfer_edges(units: np.ndarray, codes: np.ndarray, sample: np.ndarray) -> pd.DataFrame:
    """Directed weights of the sample transfer network from units (src, dst, counted)."""
    ok = sample[units[:, 0]] & sample[units[:, 1]]
    e = pd.DataFrame({"src": codes[units[ok, 0]], "dst": codes[units[ok, 1]]})
    return e.groupby(["src", "dst"]).size().rename("weight").reset_index()


def first_applicant_cities(cu: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """City index of each collaboration unit's first applicant: a member drawn ∝ size."""
    members = cu[:, :3]
    msize = np.where(members >= 0, size[np.maximum(members, 0)], 0.0)
    cum = np.cumsum(msize, axis=1) / msize.sum(axis=1, keepdims=True)
    pick = (rng.random(len(cu))[:, None] > cum).sum(axis=1)
    return members[np.arange(len(cu)), np.minimum(pick, 2)]


def transfer_app_years(tu: np.ndarray, y: int, y0: int, app: np.ndarray, used: np.ndarray, yidx: dict[int, int],
                       lag_weights: list[float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Application year of each patent transferred in year y: y minus a lag, moved later while
    its source city's applications of that year are used up (never before y0). Returns the
    years and `used` (applications taken per city and simulated year) with them counted."""
    lagw = np.array(lag_weights, dtype=float)
    used = used.copy()
    want = y - rng.choice(len(lagw), size=len(tu), p=lagw / lagw.sum())
    app_years = np.empty(len(tu), dtype=np.int64)
    for r, (a, want_y) in enumerate(zip(tu[:, 0].tolist(), want.tolist())):
        ay = y
        for yy in range(max(want_y, y0), y + 1):
            if app[a, yidx[yy]] - used[a, yidx[yy]] > 0:
                ay = yy
                break
        used[a, yidx[ay]] += 1
        app_years[r] = ay
    return app_years, used
