"""`greenlink policy` (SPEC §6) on a hand-made policy file: the audit, reasoned rejects and the
synergy table it writes, one-line input errors (its pure parts: tests/unit/gold/test_policy.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.core.text import parse_years
from greenlink.gold.policy import stage as P
from greenlink.gold.policy.stage import PolicyConfig
from greenlink.gold.tables import POLICY_REJECTS, POLICY_SYNERGY, POLICY_TOOLS
from greenlink.ops.commands import policy as policy_command

import paths
from frames import assert_frame_equal, rows_of

DATA = paths.DATA / "policy"
DOCS = yaml.safe_load((DATA / "documents.yaml").read_text(encoding="utf-8"))["documents"]


# --------------------------------------------------------------------------- the stage (Spark + Delta)

BAD_LINES = [
    ("{not json", "malformed_row"),
    ('["a list"]', "malformed_row"),
    (json.dumps({"province": "江苏省", "year": 2012, "agencies": "江苏省科技厅", "text": "设立专项资金。"},
                ensure_ascii=False), "missing_policy_id"),
    (json.dumps({"policy_id": "B1", "province": "江苏省", "year": "去年", "agencies": "江苏省科技厅",
                 "text": "设立专项资金。"}, ensure_ascii=False), "bad_year"),
    (json.dumps({"policy_id": "B2", "province": "香港", "year": 2012, "agencies": "创新科技署",
                 "text": "设立专项资金。"}, ensure_ascii=False), "unknown_province"),
    (json.dumps({"policy_id": "B3", "province": "江苏省", "year": 2012, "agencies": " 、等",
                 "text": "设立专项资金。"}, ensure_ascii=False), "missing_agencies"),
    (json.dumps({"policy_id": "B4", "province": "江苏省", "year": 2012, "agencies": "江苏省科技厅",
                 "text": ""}, ensure_ascii=False), "missing_text"),
]


def write_world(root: Path) -> dict[str, str]:
    """policies/policies.jsonl: the documents, the bad lines, an exact duplicate line and a
    second record reusing a policy_id. Returns policy_id -> expected reject reason."""
    lines = [json.dumps({k: d[k] for k in ("policy_id", "province", "year", "title", "agencies", "text")},
                        ensure_ascii=False) for d in DOCS]
    lines.insert(3, "")                                      # a blank line is no record
    lines += [b for b, _ in BAD_LINES]
    lines.append(lines[0])                                   # exact repeat of JS-2012-017
    changed = dict(DOCS[1], year=2016)
    lines.append(json.dumps({k: changed[k] for k in ("policy_id", "province", "year", "title", "agencies", "text")},
                            ensure_ascii=False))
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "policies.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {d["policy_id"]: None for d in DOCS}


def stage_args(root: Path) -> PolicyConfig:
    return PolicyConfig(input=str(root), years=(2010, 2020), tools=None, agencies=None)


def test_policy_stage_writes_audit_rejects_and_synergy(spark, fresh_warehouse, tmp_path):
    world = tmp_path / "world"
    write_world(world)
    counts = P.run(spark, stage_args(world))
    n_bad = len(BAD_LINES) + 2
    assert counts["policies.records_in"] == len(DOCS) + n_bad
    assert counts["policies.accepted"] == len(DOCS)
    assert counts["policies.rejected"] == n_bad
    assert counts["policies.blank_lines"] == 1
    assert counts["policies.rejected.malformed_row"] == 2
    assert counts["policies.rejected.duplicate_row"] == 1
    assert counts["policies.rejected.duplicate_policy_id"] == 1
    assert counts["policies.no_tool"] == 1                    # the meeting notice
    assert counts["synergy.observed"] == 12                   # 12 province-years with tool policies

    audit = {r["policy_id"]: r for r in tables.read(spark, POLICY_TOOLS.name).collect()}
    assert set(audit) == {d["policy_id"] for d in DOCS}
    for d in DOCS:
        row = audit[d["policy_id"]]
        assert row["agencies"] == sorted(d["expect"]["agencies"])
        assert row["n_agencies"] == len(d["expect"]["agencies"])
        assert row["tool_types"] == d["expect"]["types"]
        assert row["in_synergy"] == bool(d["expect"]["types"])
    gx = audit["GX-2017-009"]
    assert (gx["province_code"], gx["year"], gx["source_line"]) == ("450000", 2017, 9)   # after the blank line
    assert {m["keyword"] for m in gx["matches"] if m["type"] == "environment"} >= {"知识产权质押融资", "侵权"}
    hb = audit["HB-2013-005"]
    assert [(m["keyword"], m["n"], m["n_negated"]) for m in hb["matches"] if m["keyword"] == "专项资金"] == \
        [("专项资金", 0, 1)]

    rejects = {(r["source_line"], r["reason"]) for r in tables.read(spark, POLICY_REJECTS.name).collect()}
    first_bad = len(DOCS) + 2                                # 13 documents + the blank line
    assert rejects == {(first_bad + k, reason) for k, (_, reason) in enumerate(BAD_LINES)} | {
        (first_bad + len(BAD_LINES), "duplicate_row"), (first_bad + len(BAD_LINES) + 1, "duplicate_policy_id")}

    syn = {(r["province_code"], r["year"]): r for r in tables.read(spark, POLICY_SYNERGY.name).collect()}
    assert len(syn) == 31 * 11
    js = [syn[("320000", y)] for y in range(2010, 2021)]
    assert [r["fill"] for r in js] == ["missing", "missing"] + ["observed"] + ["carried_forward"] * 8
    assert (js[2]["zts"], js[2]["gjs"], js[2]["rps"]) == (2.0, 1.0, 2.0)   # 2 agencies, supply only
    assert js[10]["rps"] == 2.0 and js[10]["source_year"] == 2012
    gd = syn[("440000", 2015)]
    assert (gd["zts"], gd["gjs"], gd["rps"]) == (2.0, 3.0, 6.0)
    gz = syn[("520000", 2020)]                                # only the meeting notice: no tool
    assert (gz["n_policies"], gz["n_policies_used"], gz["fill"], gz["rps"]) == (1, 0, "missing", None)
    assert all(syn[("650000", y)]["fill"] == "missing" for y in range(2010, 2021))   # no policies at all

    before = {name: rows_of(tables.read(spark, name))
              for name in (POLICY_TOOLS.name, POLICY_SYNERGY.name, POLICY_REJECTS.name)}
    P.run(spark, stage_args(world))                          # rerun, unchanged input
    for name, rows in before.items():
        assert_frame_equal(tables.read(spark, name), rows)


def test_stage_input_errors_are_one_line(spark, fresh_warehouse, tmp_path):
    with pytest.raises(UserError, match="--input"):
        P.run(spark, PolicyConfig(input=None))
    with pytest.raises(UserError, match="no policies folder"):
        P.run(spark, stage_args(tmp_path))
    with pytest.raises(UserError, match="--years"):
        parse_years("2020-2010")
    parser = argparse.ArgumentParser()
    policy_command.configure(parser)
    ns = parser.parse_args(["--input", "w"])
    assert (ns.input, parse_years(ns.years), ns.profile) == ("w", (2010, 2020), "local")
