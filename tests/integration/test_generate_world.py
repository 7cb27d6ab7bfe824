"""The synthetic world generator: determinism, and truth that agrees with the raw files (its
pieces without a world: tests/unit/synth/test_generate.py).

One small world (5,000 patents, network intensity boosted so that every year has edges)
is generated once for the module; the raw files are re-read here with plain pandas/csv code,
independent of the generator's writers, and recounted against truth/.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from greenlink.core.errors import UserError

from conftest import WORLD_OVERRIDES as OVERRIDES
from paths import CONF
from conftest import WORLD_PATENTS as N
from conftest import WORLD_SEED as SEED
REJECT = {"duplicate_row", "malformed_row", "missing_application_no", "bad_application_date", "bad_grant_date",
          "unknown_patent_type", "no_parseable_ipc", "no_applicant", "bad_effective_date", "missing_owners"}


@pytest.fixture(scope="module")
def world_dir(generated_world):
    return generated_world


@pytest.fixture(scope="module")
def sim():
    from greenlink.synth import params, system

    return system.simulate(SEED, N, params.load(OVERRIDES))


# --- independent readers of the raw files ------------------------------------------------------
def _aliases(kind: str) -> dict[str, str]:
    conf = yaml.safe_load((CONF / "headers.yaml").read_text(encoding="utf-8"))[kind]
    fold = lambda s: s.strip().replace(" ", "").replace("（", "(").replace("）", ")").lower()  # noqa: E731
    return {fold(a): canon for canon, al in conf["aliases"].items() for a in al}, fold


def read_raw(world: Path, kind: str) -> pd.DataFrame:
    """Every data row of every file: file, source_row, n_fields_ok, raw line, canonical columns."""
    alias, fold = _aliases(kind)
    frames = []
    for f in sorted((world / kind).iterdir()):
        rel = f"{kind}/{f.name}"
        if f.suffix == ".csv":
            data = f.read_bytes()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("gb18030")
            lines = text.splitlines()
            header = next(csv.reader([lines[0]]))
            cols = [alias[fold(h)] for h in header]
            recs = []
            for i, line in enumerate(lines[1:], start=1):
                fields = next(csv.reader([line]))
                ok = len(fields) == len(cols)
                recs.append({"file": rel, "source_row": i, "ok": ok, "line": line,
                             **(dict(zip(cols, fields)) if ok else {})})
            frames.append(pd.DataFrame(recs))
        else:
            d = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_excel(f, dtype=str, keep_default_na=False)
            d = d.rename(columns={c: alias[fold(c)] for c in d.columns}).fillna("")
            line = d.astype(str).agg("\u0001".join, axis=1)
            d.insert(0, "file", rel)
            d.insert(1, "source_row", np.arange(1, len(d) + 1))
            d.insert(2, "ok", True)
            d["line"] = line
            frames.append(d)
    return pd.concat(frames, ignore_index=True).fillna("")


def norm_no(s: str) -> str | None:
    s = re.sub(r"[\s.]", "", s.upper()).removeprefix("CN")
    return f"{s[:12]}.{s[12]}" if re.fullmatch(r"\d{12}[\dX]", s) else None


def parse_date(s: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            d = datetime.strptime(s.strip(), fmt).date()
            return d if 1985 <= d.year <= 2030 else None
        except ValueError:
            pass
    return None


def parse_symbol(tok: str):
    from greenlink.synth.ipcpool import Symbol

    t = unicodedata.normalize("NFKC", tok).upper()
    t = re.sub(r"\(\d{4}\.\d{1,2}\)", "", t).replace(" ", "")
    m = re.fullmatch(r"([A-H]\d\d[A-Z])(\d{4})(\d{6})", t)
    if m:
        sg = m.group(3).rstrip("0")
        return Symbol(m.group(1), int(m.group(2)), sg.ljust(2, "0"))
    m = re.fullmatch(r"([A-H]\d\d[A-Z])(\d{1,4})/(\d{2,6})", t)
    return Symbol(m.group(1), int(m.group(2)), m.group(3)) if m else None


def city_of_address(addrs) -> dict[str, str | None]:
    import cpca

    from greenlink.reference import gazetteer

    uniq = sorted({a for a in addrs if a})
    res = cpca.transform(uniq)["adcode"]
    return {a: (gazetteer.city_of_adcode(c) if isinstance(c, str) else None) for a, c in zip(uniq, res)}


@pytest.fixture(scope="module")
def raw(world_dir):
    return read_raw(world_dir, "patents"), read_raw(world_dir, "transfers")


@pytest.fixture(scope="module")
def truth(world_dir):
    t = world_dir / "truth"
    return {n: pd.read_parquet(t / f"{n}.parquet") for n in
            ("patents", "links", "orgs", "city_year", "defects", "edges", "transfers", "controls", "policies",
             "policy_synergy")}


def accepted_rows(rows: pd.DataFrame, defects: pd.DataFrame, record: str) -> pd.DataFrame:
    """Rows a correct pipeline accepts: not at a rejecting defect's file/row."""
    d = defects[(defects["record"] == record) & defects["kind"].isin(REJECT)]
    bad = set(zip(d["file"], d["source_row"].astype("Int64")))
    keep = [(f, r) not in bad for f, r in zip(rows["file"], rows["source_row"])]
    return rows[keep]


# --- the generated world -----------------------------------------------------------------------
def test_layout_and_manifest(world_dir):
    m = json.loads((world_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    assert (m["seed"], m["patents"]) == (SEED, N)
    for sub in ("patents", "transfers", "yearbook", "province", "cities", "policies", "truth"):
        assert (world_dir / sub).is_dir()
    files = {str(p.relative_to(world_dir)) for p in world_dir.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    assert files == set(m["files"])
    for rel, info in m["files"].items():
        assert hashlib.sha256((world_dir / rel).read_bytes()).hexdigest() == info["sha256"]
    fmts = {Path(p).suffix for p in files if p.startswith("patents/")}
    assert fmts == {".csv", ".parquet", ".xlsx"}
    # exactly one GBK file, and it is not valid UTF-8
    gbk = [p for p in files if p.startswith("patents/") and p.endswith(".csv")
           and not _is_utf8((world_dir / p).read_bytes())]
    assert len(gbk) == 1


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_same_seed_same_bytes(spark, world_dir, tmp_path):
    from greenlink.synth.world import generate

    again = generate(spark, tmp_path / "again", N, SEED, overrides=OVERRIDES)
    first = json.loads((world_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    assert {k: v["sha256"] for k, v in again["files"].items()} == {k: v["sha256"] for k, v in first["files"].items()}
    assert (tmp_path / "again" / "MANIFEST.json").read_bytes() == (world_dir / "MANIFEST.json").read_bytes()


def test_truth_equals_simulated_system(truth, sim):
    cy = truth["city_year"]
    panel = sim.panel[cy.columns].sort_values(["city_code", "year"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(cy, panel, check_dtype=False, atol=1e-12)
    assert len(cy) == 278 * 11
    assert (cy.groupby("year")["rsi"].sum() > 0).all() and (cy.groupby("year")["gtr"].sum() > 0).all()


def test_patent_counts_and_green_share(raw, truth):
    rows, _ = raw
    d, pt = truth["defects"], truth["patents"]
    extra = ((d["record"] == "patents") & d["kind"].isin(["duplicate_row", "near_duplicate"])).sum()
    assert len(rows) == N + extra
    assert len(pt) == N and pt["application_no"].is_unique
    assert 0.08 <= pt["is_green"].mean() <= 0.13
    # the 5th digit of every number is the type digit
    assert (pt["application_no"].str[4].map({"1": "invention", "2": "utility", "3": "design"}) == pt["patent_type"]).all()
    acc = accepted_rows(rows, d, "patents")
    assert acc["application_no"].map(norm_no).nunique() == (pt["fate"] == "accepted").sum()


def test_green_flags_recomputed_from_raw_ipc(raw, truth):
    from greenlink.synth.ipcpool import classify

    rows, _ = raw
    acc = accepted_rows(rows, truth["defects"], "patents").drop_duplicates("application_no")
    acc = acc.assign(no=acc["application_no"].map(norm_no)).dropna(subset=["no"]).drop_duplicates("no")
    syms = {t: parse_symbol(t) for field in acc["ipc"] for t in re.split(r"[;；,，]\s*", field)}
    valid = [s for s in syms.values() if s is not None]
    green = dict(zip([s.text for s in valid], classify(valid)["is_green"]))
    got = {no: any(green[syms[t].text] for t in re.split(r"[;；,，]\s*", f) if syms[t] is not None)
           for no, f in zip(acc["no"], acc["ipc"])}
    want = truth["patents"].set_index("application_no")["is_green"]
    assert got == {no: bool(want[no]) for no in got}
    # the dirty forms of SPEC §2 all occur
    text = ";".join(acc["ipc"])
    assert re.search(r"[A-H]\d\d[A-Z]\d{10}", text) and "(20" in text and re.search(r"[ａ-ｚＡ-Ｚ０-９]", text)
    assert re.search(r"[a-h]\d\d[a-z]", text) and re.search(r"[A-H]\d\d[A-Z]  \d", text)


def test_defects_are_at_their_rows(raw, truth):
    from greenlink.reference import gazetteer  # noqa: F401

    rows, trows = raw
    d = truth["defects"]
    assert set(d["kind"]) >= {"duplicate_row", "near_duplicate", "malformed_ipc", "no_parseable_ipc",
                              "bad_application_date", "missing_address", "foreign_address", "unknown_patent_type",
                              "missing_application_no", "malformed_row", "gbk_encoding"}
    by = {(r.file, r.source_row): r for r in rows.itertuples(index=False)}
    garbage = set(yaml.safe_load((CONF / "generator.yaml").read_text(
        encoding="utf-8"))["ipc"]["garbage"])
    known_types = {"发明", "发明专利", "发明申请", "发明授权", "实用新型", "外观设计", "invention", "utility", "design"}
    lines_by_file = rows.groupby("file")["line"].apply(list).to_dict()
    for x in d[d["record"] == "patents"].itertuples(index=False):
        if x.kind == "gbk_encoding":
            continue
        r = by[(x.file, int(x.source_row))]
        k = x.kind
        if k == "malformed_row":
            assert not r.ok
            continue
        assert r.ok
        toks = [t.strip() for t in re.split(r";", r.ipc)]
        if k == "duplicate_row":
            assert lines_by_file[x.file][: int(x.source_row) - 1].count(r.line) >= 1
        elif k == "near_duplicate":
            same = rows[(rows["application_no"].map(norm_no) == x.application_no)]
            assert len(same) >= 2 and same["line"].nunique() >= 2
        elif k == "malformed_ipc":
            assert any(t in garbage for t in toks) and any(t not in garbage for t in toks)
        elif k == "no_parseable_ipc":
            assert all(parse_symbol(t) is None for t in toks)
        elif k == "bad_application_date":
            assert parse_date(r.application_date) is None
        elif k == "bad_grant_date":
            g = parse_date(r.grant_date)
            assert g is None or g < parse_date(r.application_date)
        elif k == "unknown_patent_type":
            assert r.patent_type not in known_types
        elif k == "missing_application_no":
            assert r.application_no == ""
        elif k == "no_applicant":
            assert not [a for a in r.applicants.split(";") if a.strip()]
        elif k == "missing_address":
            assert r.applicant_address == ""
        elif k == "foreign_address":
            a = r.applicant_address
            assert a and (not re.search(r"[\u4e00-\u9fff]", a) or re.match(r"(日本|韩国|德国|美国|丹麦|瑞士|法国|新加坡)", a))
        elif k == "noncity_address":
            assert city_of_address([r.applicant_address])[r.applicant_address] is None
    tby = {(r.file, r.source_row): r for r in trows.itertuples(index=False)}
    for x in d[d["record"] == "transfers"].itertuples(index=False):
        r = tby[(x.file, int(x.source_row))]
        if x.kind == "bad_effective_date":
            assert parse_date(r.effective_date) is None
        elif x.kind == "missing_owners":
            assert r.owners_before == "" or r.owners_after == ""


def test_locatability_claims_hold_on_raw_rows(raw, truth):
    rows, _ = raw
    acc = accepted_rows(rows, truth["defects"], "patents")
    acc = acc.assign(no=acc["application_no"].map(norm_no))
    first = truth["links"][truth["links"]["applicant_order"] == 1].set_index("application_no")
    city = city_of_address(acc["applicant_address"])
    orgs = truth["orgs"].set_index("org_name")
    checked = 0
    for no, addr, apps in zip(acc["no"], acc["applicant_address"], acc["applicants"]):
        f = first.loc[no]
        name = apps.split(";")[0].strip()
        assert name == f["org_name"]
        if f["via"] == "address":
            assert city[addr] == f["city_code"], (addr, f["city_code"])
            checked += 1
        elif f["via"] in ("name", "first_applicant"):
            assert addr == "" and orgs.loc[name, "locatable"] in ("name", "first_applicant")
        else:
            assert not f["locatable"] and (addr == "" or city.get(addr) is None)
    assert checked > 0.9 * len(acc)
    # name-locatable organisations carry their city's short name
    from greenlink.reference import gazetteer

    shorts = gazetteer.cities().set_index("city_code")["short_name"]
    named = truth["orgs"][truth["orgs"]["locatable"] == "name"]
    assert all(shorts[c] in n for n, c in zip(named["org_name"], named["city_code"]))
    # individuals are never locatable as later applicants
    later = truth["links"][(truth["links"]["applicant_order"] > 1) & (truth["links"]["org_type"] == "individual")]
    assert not later["locatable"].any()


def test_app_collaboration_and_transfers_recounted_from_raw(raw, truth, sim):
    rows, trows = raw
    d = truth["defects"]
    sample = set(truth["city_year"]["city_code"])
    orgs = truth["orgs"].drop_duplicates("org_name").set_index("org_name")
    pt = truth["patents"].set_index("application_no")
    acc = accepted_rows(rows, d, "patents")
    acc = acc.assign(no=acc["application_no"].map(norm_no)).drop_duplicates("no")
    acc = acc[acc["no"].map(pt["fate"]) == "accepted"]     # classify-stage rejects
    addr_city = city_of_address(acc["applicant_address"])

    def org_city(name: str) -> str | None:
        if name not in orgs.index or orgs.loc[name, "org_type"] == "individual":
            return None
        return orgs.loc[name, "city_code"] if orgs.loc[name, "locatable"] != "none" else None

    # app: first applicant's city (address, else name/other records), application year
    app = {}
    for no, addr, apps, ad in zip(acc["no"], acc["applicant_address"], acc["applicants"], acc["application_date"]):
        first = apps.split(";")[0].strip()
        c = addr_city[addr] if addr else org_city(first)
        if c in sample:
            key = (c, parse_date(ad).year)
            app[key] = app.get(key, 0) + 1
    cy = truth["city_year"].set_index(["city_code", "year"])["app"]
    assert {k: v for k, v in cy.items() if v} == app
    # collaboration pairs of accepted granted green inventions
    ggi = acc[acc["no"].map(lambda n: pt.loc[n, "patent_type"] == "invention" and pt.loc[n, "granted"]
                            and pt.loc[n, "is_green"])]
    pairs = {}
    for no, apps in zip(ggi["no"], ggi["applicants"]):
        cs = sorted({c for a in apps.split(";") if (c := org_city(a.strip())) in sample})
        for i in range(len(cs)):
            for j in range(i + 1, len(cs)):
                key = (int(pt.loc[no, "year"]), cs[i], cs[j])
                pairs[key] = pairs.get(key, 0) + 1
    e = truth["edges"]
    ce = e[e["network"] == "collab"]
    assert dict(zip(zip(ce["year"], ce["src"], ce["dst"]), ce["weight"])) == pairs
    # transfers of accepted green inventions, first owner before -> first owner after
    tacc = accepted_rows(trows, d, "transfers")
    tacc = tacc.assign(no=tacc["application_no"].map(norm_no))
    to_city = city_of_address(tacc["current_owner_address"])
    flows = {}
    for no, before, addr, eff in zip(tacc["no"], tacc["owners_before"], tacc["current_owner_address"],
                                     tacc["effective_date"]):
        if no not in pt.index or pt.loc[no, "fate"] != "accepted" or not pt.loc[no, "is_green"] \
                or pt.loc[no, "patent_type"] != "invention":
            continue
        a, b = org_city(before.split(";")[0].strip()), to_city[addr]
        if a in sample and b in sample:
            key = (parse_date(eff).year, a, b)
            flows[key] = flows.get(key, 0) + 1
    te = e[e["network"] == "transfer"]
    assert dict(zip(zip(te["year"], te["src"], te["dst"]), te["weight"])) == flows
    assert sum(flows.values()) == truth["city_year"]["gtr"].sum() > 0


def test_panel_inputs(world_dir, truth):
    yb = pd.read_csv(world_dir / "yearbook" / "city_controls.csv", dtype=str, keep_default_na=False)
    assert len(yb) == 338 * 11
    c = truth["controls"]
    miss_cols = [x for x in c.columns if x.endswith("_missing")]
    share = c.groupby("city_code")[miss_cols].mean().mean(axis=1)
    sample = c.groupby("city_code")["sample"].first()
    assert share[~sample].min() > 0.3 and share[sample].max() < 0.1
    # printed gaps are exactly the truth's missing cells
    assert (yb.iloc[:, 2:].to_numpy() == "").sum() == c[miss_cols].to_numpy().sum()
    attrs = pd.read_csv(world_dir / "cities" / "city_attributes.csv", dtype=str, keep_default_na=False)
    assert (attrs["行政级别"].isin(["直辖市", "副省级城市", "省会城市"])).sum() == 36
    ps = pd.read_csv(world_dir / "province" / "ip_stats.csv")
    assert len(ps) == 31 * 11 and (ps["专利侵权纠纷案件数"] < ps["专利授权量"]).all()


def test_policies_name_their_agencies_and_tools(world_dir, truth):
    bank = yaml.safe_load((CONF / "generator_policy.yaml").read_text(encoding="utf-8"))
    recs = [json.loads(x) for x in (world_dir / "policies" / "policies.jsonl").read_text(encoding="utf-8").splitlines()]
    tp = truth["policies"].set_index("policy_id")
    for r in recs:
        t = tp.loc[r["policy_id"]]
        parts = [p for p in re.split(r"[、，\s]+", r["agencies"]) if p]
        assert len(parts) == t["n_agencies"]
        for ins in t["instruments"]:
            typ, name = ins.split(".")
            assert any(s.replace("{p}", r["province"]) in r["text"] for s in bank["instruments"][typ][name])
    syn = truth["policy_synergy"]
    assert np.allclose(syn["rps"], syn["zts"] * syn["gjs"])
    # against the policy parser's keyword dictionary (when present): no framing sentence names a
    # tool, and each instrument sentence names tools of its own type only
    tools_file = CONF / "policy_tools.yaml"
    if tools_file.exists():
        tools = yaml.safe_load(tools_file.read_text(encoding="utf-8"))["types"]
        kw = {k: t for t, td in tools.items() for ins in td["instruments"].values() for k in ins["keywords"]}
        for s in bank["opening"] + bank["closing"] + bank["titles"]:
            assert not [k for k in kw if k in s], s
        for typ, insts in bank["instruments"].items():
            for sents in insts.values():
                for s in sents:
                    hits = {kw[k] for k in kw if k in s}
                    assert hits == {typ}, (s, hits)


# --- next month's dump (synth.nextmonth) -------------------------------------------------------
SHARE = 0.02


@pytest.fixture(scope="module")
def next_dump(world_dir, tmp_path_factory):
    from greenlink.synth.nextmonth import next_month

    out = tmp_path_factory.mktemp("nextmonth") / "next"
    return out, next_month(world_dir, out, share=SHARE, seed=3)


def data_lines(path: Path) -> tuple[bytes, list[bytes]]:
    """Header and data rows of a CSV file as physical lines of bytes (the reader's records)."""
    data = path.read_bytes()
    eol = b"\r\n" if data.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    lines = data.removesuffix(eol).split(eol)
    return lines[0], lines[1:]


def dump_rows(dump: Path, kind: str) -> list[tuple[str, object, dict[str, str]]]:
    """(source file name, raw row, canonical fields) of every CSV/Parquet data row; a re-split
    part counts under the name of the file it was cut from."""
    alias, fold = _aliases(kind)
    out = []
    for f in sorted((dump / kind).iterdir()):
        name = re.sub(r"_part[12](\.csv)$", r"\1", f.name)
        if f.suffix == ".csv":
            header, lines = data_lines(f)
            enc = "utf-8-sig" if _is_utf8(f.read_bytes()) else "gb18030"
            cols = [alias[fold(h)] for h in next(csv.reader([header.decode(enc)]))]
            for line in lines:
                fields = next(csv.reader([line.decode(enc.replace("-sig", ""), errors="replace")]))
                out.append((name, line, dict(zip(cols, fields)) if len(fields) == len(cols) else {}))
        elif f.suffix == ".parquet":
            for rec in pd.read_parquet(f).fillna("").to_dict("records"):
                out.append((name, tuple(rec.values()), rec))
    return out


def numbers_of(rows) -> list[str]:
    return sorted(n for _, _, r in rows if (n := norm_no(r.get("application_no", ""))))


def test_next_month_counts_and_changed_rows(world_dir, next_dump):
    from collections import Counter

    from greenlink.reference.ids import check_digit
    from greenlink.reference.inventory import classify_symbols, read_inventory
    from greenlink.reference.ipc import ipc_symbols
    from greenlink.synth.nextmonth import GREEN_IPC, NON_GREEN_IPC

    out, rep = next_dump
    assert json.loads((out / "NEXT_MONTH.json").read_text(encoding="utf-8")) == rep
    ch = {k: v["application_nos"] for k, v in rep["changes"].items()}
    assert all(v["count"] == len(v["application_nos"]) for v in rep["changes"].values())
    src = {kind: dump_rows(world_dir, kind) for kind in ("patents", "transfers")}
    n, t = len(src["patents"]), len(src["transfers"])
    assert rep["rows"] == {"patents": n, "transfers": t}
    corrected = ch["patents.ipc"] + ch["patents.address"] + ch["patents.coapplicants"]
    assert len(corrected) == round(SHARE * n) and len(ch["patents.withdrawn"]) == round(SHARE / 4 * n)
    assert len(ch["patents.ipc"]) == round(0.4 * len(corrected)) and len(ch["patents.new"]) == round(SHARE / 2 * n)
    assert len(ch["transfers.corrected"]) == round(SHARE * t) and len(ch["transfers.removed"]) == round(SHARE / 4 * t)
    assert len(ch["transfers.new"]) == round(SHARE / 2 * t) > 0
    expect = {"patents": (corrected + ch["patents.withdrawn"], corrected + ch["patents.new"]),
              "transfers": (ch["transfers.corrected"] + ch["transfers.removed"],
                            ch["transfers.corrected"] + ch["transfers.new"])}
    new = {kind: dump_rows(out, kind) for kind in ("patents", "transfers")}
    for kind, (gone_nos, added_nos) in expect.items():
        # every file (the re-split parts together) holds its source's rows but exactly these
        before, after = Counter((f, r) for f, r, _ in src[kind]), Counter((f, r) for f, r, _ in new[kind])
        only_before, only_after = before - after, after - before
        gone = [x for x in src[kind] if (x[0], x[1]) in only_before]
        added = [x for x in new[kind] if (x[0], x[1]) in only_after]
        assert numbers_of(gone) == sorted(gone_nos) and numbers_of(added) == sorted(added_nos)
        assert sum(rep["files"][f"{kind}/{p.name}"] for p in (out / kind).iterdir() if p.suffix != ".xlsx") \
            == len(new[kind]) == len(src[kind]) - len(gone) + len(added)
    # what changed in the corrected patent rows
    old = {norm_no(r["application_no"]): r for _, _, r in src["patents"] if r.get("application_no")}
    now = {norm_no(r["application_no"]): r for _, _, r in new["patents"] if r.get("application_no")}
    rules = read_inventory()
    assert [classify_symbols([s], rules).is_green for s in (*GREEN_IPC, NON_GREEN_IPC)] == [True] * 4 + [False]
    flipped = [no for no in ch["patents.ipc"] if now[no]["ipc"] in GREEN_IPC]
    assert sorted(flipped) == rep["changes"]["patents.ipc"]["now_green"] and 0 < len(flipped) < len(ch["patents.ipc"])
    for no in ch["patents.ipc"]:
        was = classify_symbols(ipc_symbols(old[no]["ipc"]), rules).is_green
        assert was != classify_symbols(ipc_symbols(now[no]["ipc"]), rules).is_green
    addresses = {r["applicant_address"] for r in old.values()}
    for no in ch["patents.address"]:
        assert old[no]["applicant_address"] != now[no]["applicant_address"] in addresses
    firsts = {re.split(r"; ?", r["applicants"])[0] for r in old.values()}
    for no in ch["patents.coapplicants"]:
        a, b = re.split(r"; ?", old[no]["applicants"]), re.split(r"; ?", now[no]["applicants"])
        assert a[0] == b[0] and len(b) == max(len(a), 2) and b[1] != (a + [None])[1] and b[1] in firsts
    # new grants: valid, unused numbers (serial >= 9,000,000) with a grant date; new transfers move them
    used = set(numbers_of(src["patents"]) + numbers_of(src["transfers"]))
    for no in ch["patents.new"]:
        assert check_digit(no[:12]) == no[13] and int(no[5:12]) >= 9_000_000 and no not in used
        assert parse_date(now[no]["grant_date"]) >= parse_date(now[no]["application_date"])
    assert set(ch["transfers.new"]) <= set(ch["patents.new"])
    for _, _, r in new["transfers"]:
        if norm_no(r.get("application_no", "")) in ch["transfers.new"]:
            assert parse_date(r["effective_date"]) >= parse_date(now[norm_no(r["application_no"])]["application_date"])


def test_next_month_files(world_dir, next_dump):
    out, rep = next_dump
    assert {p.name for p in out.iterdir()} == {p.name for p in world_dir.iterdir()} - {"truth", "MANIFEST.json"} \
        | {"NEXT_MONTH.json"}
    for sub in ("cities", "province", "policies", "yearbook"):
        for f in (world_dir / sub).iterdir():
            assert (out / sub / f.name).read_bytes() == f.read_bytes()
    xlsx = "patents/supplement.xlsx"
    assert (out / xlsx).read_bytes() == (world_dir / xlsx).read_bytes()
    largest = max((world_dir / "patents").glob("*.csv"), key=lambda p: p.stat().st_size)
    parts = [out / "patents" / f"{largest.stem}_part{i}.csv" for i in (1, 2)]
    assert not (out / "patents" / largest.name).exists() and all(rep["files"][f"patents/{p.name}"] > 0 for p in parts)
    for f in [*(world_dir / "patents").glob("*.csv"), *(world_dir / "transfers").glob("*.csv")]:
        header, lines = data_lines(f)
        for g in (parts if f == largest else [out / f.parent.name / f.name]):
            data = g.read_bytes()
            assert data_lines(g)[0] == header and (b"\r\n" in data) == (b"\r\n" in f.read_bytes())   # BOM, CRLF kept
            assert _is_utf8(data) == _is_utf8(f.read_bytes())
        if f != largest:
            assert data_lines(out / f.parent.name / f.name)[1][:20] != lines[:20]                   # shuffled


def test_next_month_cli_same_bytes_without_spark_and_month_after(world_dir, next_dump, tmp_path, monkeypatch):
    import argparse

    from greenlink.ops.commands import generate as cli
    from greenlink.synth.nextmonth import next_month

    out, rep = next_dump
    monkeypatch.setattr(cli, "get_spark", lambda *a, **k: pytest.fail("next month needs no Spark"))
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    again = tmp_path / "again"
    assert cli.main(parser.parse_args(["--next-month-of", str(world_dir), "--out", str(again),
                                       "--share", str(SHARE), "--seed", "3"])) == 0
    files = lambda d: {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}  # noqa: E731
    assert files(again) == files(out)
    # the month after: from a next_month output (no MANIFEST.json, no truth/)
    later = next_month(out, tmp_path / "later", share=SHARE, seed=4)
    n = rep["rows"]["patents"] - rep["changes"]["patents.withdrawn"]["count"] + rep["changes"]["patents.new"]["count"]
    assert later["rows"]["patents"] == n and later["changes"]["patents.new"]["count"] == round(SHARE / 2 * n)
    assert not set(later["changes"]["patents.new"]["application_nos"]) & set(numbers_of(dump_rows(out, "patents")))
    assert later["source"] == str(out.resolve()) and later["changes"] != rep["changes"]
    with pytest.raises(UserError, match="not empty"):
        next_month(world_dir, out)
    with pytest.raises(UserError, match="share"):
        next_month(world_dir, tmp_path / "x", share=0.6)
    with pytest.raises(UserError, match="no patents/"):
        next_month(world_dir / "truth", tmp_path / "x")
    with pytest.raises(UserError, match="--share applies only"):
        cli.main(parser.parse_args(["--share", "0.1", "--out", str(tmp_path / "w")]))
