"""Panel inputs of a world (SPEC §1, §5–§6): yearbook controls with gaps, province IP
statistics, city attributes and provincial 产学研 policy documents, plus their truth.

Gaps: sample cities miss only a few values of the five environmental indicators (each
series keeps at least two observations, so interpolation/extrapolation can fill it); the
degraded cities miss `degraded_gap_rate` of all control values, in runs and scattered cells,
so a missing-share rule drops exactly them (docs/generator.md gives the shares).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from greenlink.core.config import conf_file, load_yaml
from greenlink.synth.names import _ambiguous_city_shorts
from greenlink.synth.regressors import ENV_COLUMNS, policy_synergy
from greenlink.synth.rng import stream
from greenlink.synth.system import World

YEARBOOK_HEADERS = {
    "city": "城市", "year": "年份", "pgdp": "人均地区生产总值(元)", "fdi": "当年实际使用外资金额(万美元)",
    "deposits_loans": "年末金融机构存贷款余额(万元)", "gdp": "地区生产总值(万元)", "ins": "第三产业增加值占GDP比重(%)",
    "so2": "工业二氧化硫去除率(%)", "cod": "工业化学需氧量去除率(%)", "solid": "一般工业固体废物综合利用率(%)",
    "sewage": "污水处理厂集中处理率(%)", "garbage": "生活垃圾无害化处理率(%)",
}
VALUE_COLUMNS = ["pgdp", "fdi", "deposits_loans", "gdp", "ins", *ENV_COLUMNS]
DECIMALS = {"pgdp": 0, "fdi": 1, "deposits_loans": 0, "gdp": 0, "ins": 2, **{k: 2 for k in ENV_COLUMNS}}


def _fmt(v: float, decimals: int) -> str:
    if pd.isna(v):
        return ""
    return f"{v:.{decimals}f}" if decimals else str(int(round(v)))


def yearbook(world: World, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(printed yearbook table with Chinese headers, missing-cell mask per city-year-column)."""
    cp = world.params["controls"]
    rng = stream(seed, "yearbook-gaps")
    c = world.controls.copy()
    cities = world.cities.set_index("city_code")
    miss = pd.DataFrame(False, index=c.index, columns=VALUE_COLUMNS)
    years = world.years
    run_lo, run_hi = cp["degraded_gap_run_years"]
    for code, grp in c.groupby("city_code", sort=True):
        idx = grp.sort_values("year").index.to_numpy()
        if cities.loc[code, "sample"]:
            for col in ENV_COLUMNS:
                k = rng.binomial(len(idx), cp["sample_env_gap_rate"])
                k = min(k, len(idx) - 2)
                if k > 0:
                    miss.loc[rng.choice(idx, size=k, replace=False), col] = True
        else:
            # a run of missing years for everything, and scattered cells elsewhere
            run = int(rng.integers(run_lo, run_hi + 1))
            start = int(rng.integers(0, len(idx) - run + 1))
            miss.loc[idx[start:start + run], :] = True
            rest = np.setdiff1d(idx, idx[start:start + run])
            target = cp["degraded_gap_rate"] * len(idx) * len(VALUE_COLUMNS) - run * len(VALUE_COLUMNS)
            p = max(0.0, target / max(len(rest) * len(VALUE_COLUMNS), 1))
            cells = rng.random((len(rest), len(VALUE_COLUMNS))) < p
            miss.loc[rest, :] = miss.loc[rest, :].to_numpy() | cells
    ambiguous = _ambiguous_shorts()
    short_ok = [code for code in sorted(cities.index) if cities.loc[code, "short_name"] not in ambiguous]
    use_short = set(np.array(short_ok)[rng.random(len(short_ok)) < cp["yearbook_short_name_share"]])
    names = {code: (cities.loc[code, "short_name"] if code in use_short else cities.loc[code, "city_name"])
             for code in cities.index}
    out = pd.DataFrame({YEARBOOK_HEADERS["city"]: c["city_code"].map(names), YEARBOOK_HEADERS["year"]: c["year"]})
    for col in VALUE_COLUMNS:
        vals = c[col].where(~miss[col])
        out[YEARBOOK_HEADERS[col]] = [_fmt(v, DECIMALS[col]) for v in vals]
    order = np.lexsort((c["year"].to_numpy(), c["city_code"].to_numpy()))
    mask = pd.concat([c[["city_code", "year"]], miss], axis=1)
    return out.iloc[order].reset_index(drop=True), mask.iloc[order].reset_index(drop=True)


def _ambiguous_shorts() -> set[str]:
    return _ambiguous_city_shorts()


def province_stats(world: World) -> pd.DataFrame:
    names = world.cities.drop_duplicates("province_code").set_index("province_code")["province_name"]
    d = world.province_year.sort_values(["province_code", "year"])
    return pd.DataFrame({"省份": d["province_code"].map(names).to_numpy(), "年份": d["year"].to_numpy(),
                         "专利侵权纠纷案件数": d["disputes"].to_numpy(), "专利授权量": d["grants"].to_numpy()})


def city_attributes(world: World) -> pd.DataFrame:
    c = world.cities.sort_values("city_code")
    return pd.DataFrame({"城市": c["city_name"].to_numpy(), "省份": c["province_name"].to_numpy(),
                         "行政级别": c["admin_level"].to_numpy(),
                         "高铁开通年份": [str(y) if y >= 0 else "" for y in c["hsr_year"]]})


def policies(world: World, seed: int) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """(JSONL records, truth per policy, truth per province-year)."""
    bank = load_yaml(conf_file("generator_policy.yaml"))
    rng = stream(seed, "policies")
    prov_names = world.cities.drop_duplicates("province_code").set_index("province_code")["province_name"]
    ag = bank["agencies"]
    ag_keys = list(bank["agency_weights"])
    ag_w = np.array([bank["agency_weights"][k] for k in ag_keys], dtype=float)
    numerals = "一二三四五六七八九十"
    records, truth = [], []
    for r in world.policy_plan.sort_values(["province_code", "year", "policy_no"]).itertuples(index=False):
        pname = prov_names[r.province_code]
        muni = r.province_code[:2] in ("11", "12", "31", "50")
        chosen = [str(k) for k in rng.choice(ag_keys, size=r.n_agencies, replace=False, p=ag_w / ag_w.sum())]
        style = "full" if muni else str(rng.choice(["full", "short", "mixed"]))
        level = "市" if muni else ("自治区" if pname.endswith("自治区") else "省")
        written = []
        for i, k in enumerate(chosen):
            if muni:
                written.append(pname + ag[k]["municipal"])
            elif style == "full" or (style == "mixed" and i == 0):
                written.append(pname + ag[k]["full"])
            else:
                written.append(level + ag[k]["short"])
        sep = str(rng.choice(bank["separators"]))
        instruments: list[str] = []
        paras = []
        for t in r.tool_types:
            avail = list(bank["instruments"][t])
            k = int(rng.integers(1, min(3, len(avail)) + 1))
            for ins in rng.choice(avail, size=k, replace=False):
                sents = bank["instruments"][t][ins]
                paras.append(str(sents[int(rng.integers(len(sents)))]).replace("{p}", pname))
                instruments.append(f"{t}.{ins}")
        order = rng.permutation(len(paras))
        body = "".join(f"{numerals[j]}、{paras[i]}" for j, i in enumerate(order))
        text = str(rng.choice(bank["opening"])) + body + str(rng.choice(bank["closing"]))
        title = str(rng.choice(bank["titles"])).replace("{p}", pname)
        pid = f"{r.province_code}-{r.year}-{r.policy_no:02d}"
        records.append({"policy_id": pid, "province": pname, "year": int(r.year), "title": title,
                        "agencies": sep.join(written), "text": text})
        truth.append({"policy_id": pid, "province_code": r.province_code, "province": pname, "year": int(r.year),
                      "agencies": sorted(chosen), "n_agencies": len(chosen), "tool_types": sorted(r.tool_types),
                      "n_tool_types": len(r.tool_types), "instruments": sorted(instruments)})
    syn = policy_synergy(world.policy_plan)
    syn.insert(1, "province", syn["province_code"].map(prov_names))
    return records, pd.DataFrame(truth), syn


def write_all(world: World, seed: int, out: Path) -> dict[str, int]:
    """Write yearbook/, province/, cities/, policies/ and their truth; returns rows per file."""
    rows: dict[str, int] = {}
    yb, mask = yearbook(world, seed)
    _csv(yb, out / "yearbook" / "city_controls.csv")
    rows["yearbook/city_controls.csv"] = len(yb)
    ps = province_stats(world)
    _csv(ps, out / "province" / "ip_stats.csv")
    rows["province/ip_stats.csv"] = len(ps)
    ca = city_attributes(world)
    _csv(ca, out / "cities" / "city_attributes.csv")
    rows["cities/city_attributes.csv"] = len(ca)
    recs, ptruth, syn = policies(world, seed)
    p = out / "policies" / "policies.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8", newline="\n") as fh:
        for r in recs:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    rows["policies/policies.jsonl"] = len(recs)
    t = out / "truth"
    t.mkdir(parents=True, exist_ok=True)
    controls = world.controls.merge(world.cities[["city_code", "city_name", "sample"]], on="city_code")
    miss = mask.rename(columns={c: f"{c}_missing" for c in VALUE_COLUMNS})
    controls = controls.merge(miss, on=["city_code", "year"]).sort_values(["city_code", "year"]).reset_index(drop=True)
    for name, df in (("controls.parquet", controls), ("policies.parquet", ptruth),
                     ("policy_synergy.parquet", syn.sort_values(["province_code", "year"]).reset_index(drop=True))):
        df.to_parquet(t / name, index=False)
        rows[f"truth/{name}"] = len(df)
    return rows


def _csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
