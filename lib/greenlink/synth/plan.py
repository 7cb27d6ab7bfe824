"""Strata of patents realising the simulated world exactly (driver side, small tables).

Every patent belongs to one stratum; ids (pid) are contiguous per stratum:

- `collab`   one granted green invention per collaboration unit: applicants are organisations
             of exactly the unit's cities (first applicant in `first_city`);
- `source`   one granted green invention per transfer unit, filed by an organisation of the
             transfer's source city, later transferred;
- `anchor`   one patent per applicant organisation, filed alone with a valid address: the
             record that lets a correct pipeline locate the organisation anywhere else;
- `ordinary` the rest of each city-year's `app` (green granted inventions among them keep all
             organisation applicants in one city, so they add no collaboration pair);
- `reject:<kind>` / `foreign` / `noncity`: patents a correct pipeline does not count in `app`
             (rejected rows, or first applicant abroad / in no city unit), exact counts from
             system.defect_counts.

So a correct pipeline's `app`, collaboration pairs and transfers equal the simulation's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenlink.core.errors import UserError
from greenlink.synth import names
from greenlink.synth.rng import stream
from greenlink.synth.system import REMOVES_FROM_APP, World, _largest_remainder

REJECT_KINDS = tuple(k for k in REMOVES_FROM_APP if k not in ("foreign_address", "noncity_address"))


@dataclass
class Plan:
    world: World
    entities: pd.DataFrame        # names.ENTITY_COLUMNS
    offsets: pd.DataFrame         # city_code, pool -> offset, size
    collab: pd.DataFrame          # pid, unit_id, year, first_city, c1, c2, c3, counted
    source: pd.DataFrame          # pid, unit_id, year (application), t_year, src, dst, counted
    anchors: pd.DataFrame         # pid, year, city_code, entity_id
    blocks: pd.DataFrame          # stratum, city_code, year, n, start_pid (ordinary and extras)
    green_prob: dict[int, float]  # probability that an ordinary patent of a year is green
    n_patents: int


def build(world: World, seed: int) -> Plan:
    p = world.params
    pp = p["patents"]
    years = world.years
    cities = world.cities
    codes = cities["city_code"].tolist()
    y0 = years[0]

    # used room per city-year by units
    cu = world.collab_units.copy()
    tu = world.transfer_units.copy()
    app = world.app.set_index(["city_code", "year"])["app"]
    used = (cu.groupby(["first_city", "year"]).size().rename("n").rename_axis(["city_code", "year"])
            .add(tu.groupby(["src", "app_year"]).size().rename("n").rename_axis(["city_code", "year"]), fill_value=0))
    room = (app - used.reindex(app.index, fill_value=0)).astype(np.int64)
    if (room < 0).any():
        raise AssertionError("system left a city-year with more unit patents than applications")
    room_city = room.groupby(level=0).sum()

    # entity pools per city, sized from the city's room for ordinary patents
    shares = pp["org_type_shares"]
    ind_share = np.mean([pp["individual_first_share"][t] * s for t, s in pp["type_shares"].items()])
    rows = []
    for code in codes:
        r = int(room_city.get(code, 0))
        n_app = min(r, max(1, int(round(r / pp["patents_per_org"])))) if r > 0 else 0
        n_univ = min(pp["max_univ_per_city"], int(round(n_app * shares["university"])))
        n_inst = int(round(n_app * shares["institute"]))
        n_other = int(round(n_app * shares["other"]))
        n_ent = max(n_app - n_univ - n_inst - n_other, 1 if n_app else 0)
        n_lead = int(round(r * ind_share / pp["patents_per_individual"]))
        rows.append((code, n_univ, n_inst, n_other, n_ent,
                     max(2, int(round(n_app * pp["recipient_orgs_per_city"]))), n_lead, max(1, n_lead // 2)))
    counts = pd.DataFrame(rows, columns=["city_code", "n_univ", "n_inst", "n_other", "n_ent", "n_recip",
                                         "n_lead", "n_co"])
    entities = names.generate_entities(seed, counts, p["names"])
    offsets = names.pool_offsets(entities)

    # anchors: every app-pool organisation once, spread over the city's years with room
    rng = stream(seed, "plan")
    app_pool = entities[entities["pool"] == "app"]
    anchor_rows = []
    for code, grp in app_pool.groupby("city_code", sort=True):
        r = room.loc[code].reindex(years, fill_value=0)
        n = len(grp)
        alloc = _capped_allocation(r.to_numpy(), n)
        yrs = np.repeat(np.array(years), alloc)
        rng.shuffle(yrs)
        anchor_rows.append(pd.DataFrame({"year": yrs, "city_code": code, "entity_id": grp["entity_id"].to_numpy()}))
    anchors = pd.concat(anchor_rows, ignore_index=True) if anchor_rows else \
        pd.DataFrame(columns=["year", "city_code", "entity_id"])
    n_anchor = anchors.groupby(["city_code", "year"]).size().reindex(room.index, fill_value=0)
    ordinary = (room - n_anchor).rename("n").reset_index()
    if (ordinary["n"] < 0).any():
        raise AssertionError("anchors exceed room")

    # extras: rejected rows and unlocatable first applicants, spread over years like app
    dc = world.defect_counts
    year_w = world.app.groupby("year")["app"].sum().reindex(years).to_numpy(dtype=float)
    extra = []
    for kind in REMOVES_FROM_APP:
        k = int(dc.get(kind, 0))
        if k == 0:
            continue
        per_year = _largest_remainder(k * year_w / year_w.sum(), k)
        stratum = {"foreign_address": "foreign", "noncity_address": "noncity"}.get(kind, f"reject:{kind}")
        for y, n in zip(years, per_year):
            if n:
                # rejected rows get a first applicant from a city drawn ∝ app; unlocatable ones none
                if stratum.startswith("reject"):
                    cw = world.app[world.app["year"] == y].set_index("city_code")["app"].reindex(codes).to_numpy(float)
                    cnt = rng.multinomial(n, cw / cw.sum())
                    extra += [(stratum, c, y, int(m)) for c, m in zip(codes, cnt) if m]
                else:
                    extra.append((stratum, None, y, int(n)))
    blocks = pd.concat([ordinary.assign(stratum="ordinary")[["stratum", "city_code", "year", "n"]],
                        pd.DataFrame(extra, columns=["stratum", "city_code", "year", "n"])], ignore_index=True)
    blocks = blocks[blocks["n"] > 0].reset_index(drop=True)

    # pids: collab, source, anchor, then blocks
    cu = cu.sort_values("unit_id").reset_index(drop=True)
    cu.insert(0, "pid", np.arange(len(cu), dtype=np.int64))
    tu = tu.sort_values("unit_id").reset_index(drop=True).rename(columns={"year": "t_year", "app_year": "year"})
    tu.insert(0, "pid", len(cu) + np.arange(len(tu), dtype=np.int64))
    start = len(cu) + len(tu)
    anchors.insert(0, "pid", start + np.arange(len(anchors), dtype=np.int64))
    start += len(anchors)
    blocks["start_pid"] = start + np.concatenate([[0], np.cumsum(blocks["n"].to_numpy())[:-1]]).astype(np.int64)
    n_total = int(start + blocks["n"].sum())
    if n_total != world.n_patents:
        raise UserError(f"the network intensities need {n_total - world.n_patents:,} more patents than "
                        f"{world.n_patents:,}: lower network.intensity_boost or generate more patents")

    # green probability of ordinary patents per year so that the year's green share is green_share
    green_prob = {}
    for y in years:
        n_y = (cu["year"] == y).sum() + (tu["year"] == y).sum() + (anchors["year"] == y).sum() \
            + blocks.loc[blocks["year"] == y, "n"].sum()
        forced = (cu["year"] == y).sum() + (tu["year"] == y).sum()
        free = n_y - forced
        green_prob[y] = float(np.clip((pp["green_share"] * n_y - forced) / free, 0.0, 1.0)) if free > 0 else 0.0
    return Plan(world=world, entities=entities, offsets=offsets, collab=cu, source=tu, anchors=anchors,
                blocks=blocks, green_prob=green_prob, n_patents=n_total)


def _capped_allocation(room: np.ndarray, n: int) -> np.ndarray:
    """n items over slots ∝ room, never more than room per slot (n ≤ Σ room)."""
    room = np.asarray(room, dtype=np.int64)
    n = min(n, int(room.sum()))
    alloc = np.minimum(np.array(_largest_remainder(n * room / max(room.sum(), 1), n)), room)
    short = n - int(alloc.sum())
    for i in np.argsort(-(room - alloc), kind="stable"):
        if short <= 0:
            break
        add = min(short, int(room[i] - alloc[i]))
        alloc[i] += add
        short -= add
    return alloc
