"""The synthetic world generator's pieces without a world: the check digit, log rounding,
betweenness, the simulated system's parameters and seeds, the command's errors (a generated
world against its truth: tests/integration/test_generate_world.py)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greenlink.core.errors import UserError


# --- unit pieces -------------------------------------------------------------------------------
def test_check_digit_spark_matches_rule(spark):
    from pyspark.sql import functions as F

    from greenlink.reference import ids
    from greenlink.synth.records import check_digit

    rng = np.random.default_rng(0)
    nums = ["".join(map(str, rng.integers(0, 10, 12))) for _ in range(300)] + ["201810123456", "200410018477"]
    got = spark.createDataFrame([(n,) for n in nums], "d string").select("d", check_digit(F.col("d")).alias("c")).collect()
    assert {r["d"]: r["c"] for r in got} == {n: ids.check_digit(n) for n in nums}
    # the rule itself, by hand: 2·2+0·3+1·4+8·5+1·6+0·7+1·8+2·9+3·2+4·3+5·4+6·5 = 148, 148 mod 11 = 5
    assert ids.check_digit("201810123456") == "5"
    assert any(ids.check_digit(n) == "X" for n in nums)


def test_log_round_is_unbiased_in_logs():
    from greenlink.synth.system import log_round

    rng = np.random.default_rng(1)
    for y in (0.2, 0.9, 2.3, 5.0):
        k = log_round(np.full(200_000, y), rng.random(200_000))
        assert abs(np.log1p(k).mean() - y) < 0.01
    assert (log_round(np.array([-1.0, -0.1]), np.array([0.0, 0.0])) == 0).all()


def test_betweenness_matches_networkx():
    import networkx as nx

    from greenlink.synth.netmetrics import betweenness_raw

    rng = np.random.default_rng(2)
    for directed in (False, True):
        a = rng.random((40, 40)) < 0.06
        np.fill_diagonal(a, False)
        if not directed:
            a = a | a.T
        g = (nx.DiGraph if directed else nx.Graph)(a)
        g.add_nodes_from(range(40))
        ref = nx.betweenness_centrality(g, normalized=True)
        got = betweenness_raw(a) / (39 * 38)
        assert np.allclose(got, [ref[i] for i in range(40)], atol=1e-12)


def test_system_parameters_round_trip():
    from greenlink.synth import params, system

    p = params.load({"system": {"alpha": 0.2, "beta": 0.05}})
    w = system.simulate(9, 3_000, p)
    assert (w.structural["alpha"], w.structural["beta"]) == (0.2, 0.05)
    assert len(w.structural["degraded_cities"]) == 60 and w.structural["sample_size"] == 278
    assert len(w.panel) == 278 * 11 and not w.panel.isna().any().any()
    assert w.app["app"].sum() + sum(w.defect_counts[k] for k in system.REMOVES_FROM_APP) == 3_000
    with pytest.raises(UserError, match="unknown generator parameter"):
        params.load({"system": {"alfa": 0.1}})


@pytest.mark.slow
def test_identical_and_different_seeds_at_city_level():
    from greenlink.synth import params, plan, system

    a, b = system.simulate(4, 2_000, params.load()), system.simulate(4, 2_000, params.load())
    c = system.simulate(8, 2_000, params.load())
    pd.testing.assert_frame_equal(a.panel, b.panel)
    assert not a.cities["size"].equals(c.cities["size"])
    ea, ec = plan.build(a, 4).entities, plan.build(c, 8).entities
    assert len(set(ea["name"]) & set(ec["name"])) < 0.5 * len(ea)


def test_cli_errors_and_demo_reuse(tmp_path, monkeypatch):
    import argparse

    from greenlink.ops.commands import generate as cli
    from greenlink.synth import params, world

    parser = argparse.ArgumentParser()
    cli.configure(parser)
    with pytest.raises(UserError, match="--patents"):
        cli.main(parser.parse_args(["--patents", "10", "--out", str(tmp_path / "w")]))
    with pytest.raises(UserError, match="--defect-rate"):
        cli.main(parser.parse_args(["--defect-rate", "0.9", "--out", str(tmp_path / "w")]))
    # ensure_demo_world: a matching manifest is reused, anything else regenerates
    calls = []
    monkeypatch.setattr("greenlink.synth.world.generate", lambda spark, out, n, s, *a, **k: calls.append((out, n, s)))
    out = tmp_path / "demo"
    out.mkdir()
    p = params.load()
    (out / "MANIFEST.json").write_text(json.dumps({"patents": 1000, "seed": 3, "defect_rate": p["defects"]["rate"],
                                                   "params_fingerprint": params.fingerprint(p), "overrides": {}}))
    assert world.ensure_demo_world(None, out, 1000, 3) == out and calls == []
    world.ensure_demo_world(None, out, 2000, 3)
    assert calls == [(out, 2000, 3)]
    other = tmp_path / "notaworld"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(UserError, match="not a generated world"):
        world.ensure_demo_world(None, other, 1000, 3)
