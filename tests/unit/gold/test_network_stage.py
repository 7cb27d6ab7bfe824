"""`greenlink networks`: its inputs' filters and counts, config validation, the CLI wiring (the
stage against the generated world's truth/: tests/integration/test_network_stage_world.py)."""
from __future__ import annotations

import argparse

import pytest

from greenlink.core.errors import UserError
from greenlink.gold.networks import edges as nw, stage as S
from greenlink.gold.networks.settings import NetworksSettings
from greenlink.ops.commands import networks as networks_command

from paths import ROOT
from frames import assert_frame_equal



def stage_args(**kw) -> S.NetworksConfig:
    """The stage's config as `greenlink networks` builds it from these options."""
    base = dict(profile="test", warehouse=None, reports=None, config=None, patent_year=None, years=None,
                no_figures=False, full=False)
    return networks_command.config(argparse.Namespace(**{**base, **kw}))


# --------------------------------------------------------------------------- the input filters

def test_network_inputs_filters_and_year_basis(spark):
    P = [  # application_no, year, patent_type, granted, grant_year, is_green
        ("A", 2012, "invention", True, 2014, True),
        ("B", 2012, "invention", False, None, True),     # not granted
        ("C", 2012, "utility", True, 2013, True),        # not an invention
        ("D", 2013, "invention", True, 2015, False),     # not green
        ("E", 2020, "invention", True, 2021, True),      # granted after the panel years
    ]
    L = [  # application_no, year, org_type, city_code, unlocated_reason
        ("A", 2012, "university", "110000", None), ("A", 2012, "enterprise", "110000", None),   # same city
        ("A", 2012, "institute", "320100", None), ("A", 2012, "individual", "440100", None),
        ("A", 2012, "enterprise", None, "foreign_name"),
        ("B", 2012, "enterprise", "110000", None), ("B", 2012, "other", "320100", None),
        ("E", 2020, "other", "110000", None), ("E", 2020, "enterprise", "320100", None),
    ]
    patents = spark.createDataFrame(P, "application_no string, year int, patent_type string, granted boolean, "
                                       "grant_year int, is_green boolean")
    applicants = spark.createDataFrame(L, "application_no string, year int, org_type string, city_code string, "
                                          "unlocated_reason string")
    orgs = ("university", "institute", "enterprise", "other")

    np_app = S.network_patents(patents, "application")
    assert_frame_equal(np_app, [("A", 2012, 2012), ("E", 2020, 2020)])
    np_grant = S.network_patents(patents, "grant")
    assert_frame_equal(np_grant, [("A", 2012, 2014), ("E", 2020, 2021)])

    links = S.applicant_links(np_grant, applicants, orgs)
    pc = S.patent_cities(links)
    assert_frame_equal(pc, [("A", 2014, "110000"), ("A", 2014, "320100"), ("E", 2021, "110000"), ("E", 2021, "320100")])
    audit = {(r["reason"], r["unlocated_reason"]): r["rows"] for r in S.link_audit(links).collect()}
    assert audit == {("not_organisation", None): 1, ("unlocated", "foreign_name"): 1,
                     ("patent_city", None): 4, ("same_city", None): 1}
    outcomes = {r["outcome"]: r["patents"] for r in S.patent_audit(np_grant, pc).collect()}
    assert outcomes == {"several_cities": 2}
    cities = spark.createDataFrame([("110000", "110000"), ("320100", "320000")], "city_code string, province_code string")
    by_year = {(r["year"], r["reason"]): r["rows"] for r in nw.collab_audit(pc, cities, [2010, 2020]).collect()}
    assert by_year == {(2014, "year_out_of_range"): 2, (2021, "year_out_of_range"): 2}
    assert nw.collab_edges(pc, cities, list(range(2010, 2021))).count() == 1   # only A (2014)

    T_ = [  # application_no, year, in_dump, patent_type, is_green, from_city, to_city
        ("A", 2015, True, "invention", True, "110000", "320100"),
        ("A", 2016, True, "invention", True, "320100", "320100"),
        ("Z", 2015, False, None, None, "110000", "320100"),
        ("C", 2015, True, "utility", True, "110000", "320100"),
        ("D", 2015, True, "invention", False, "110000", "320100"),
        ("E", 2021, True, "invention", True, None, "320100"),
        ("E", 2021, True, "invention", True, "110000", None),
    ]
    transfers = spark.createDataFrame(T_, "application_no string, year int, in_dump boolean, patent_type string, "
                                          "is_green boolean, from_city string, to_city string")
    rows = S.transfer_rows(transfers)
    assert [r["reason"] for r in rows.orderBy("application_no", "year", "from_city").collect()] == [
        None, None, "not_invention", "not_green", "unlocated_from", "unlocated_to", "not_in_dump"]
    assert_frame_equal(S.network_transfers(rows), [("A", 2015, "110000", "320100"), ("A", 2016, "320100", "320100")])


# --------------------------------------------------------------------------- config and wiring

def _cfg(**kw):
    base = dict(years=[2010, 2020], patent_year="application",
                org_types=["university", "institute", "enterprise", "other"], sources_per_task=64, top_k=5,
                figures=True, components_algorithm="graphx", pagerank_tol=1e-6)
    return NetworksSettings.from_dict({**base, **kw}, "test")


def test_config_is_validated():
    cfg = NetworksSettings.load()
    assert cfg == _cfg() and cfg.year_list == list(range(2010, 2021))
    for bad, match in [(dict(years=[2020, 2010]), "years"), (dict(years=[2010]), "years"),
                       (dict(patent_year="publication"), "patent_year"),
                       (dict(org_types=["enterprise", "individual"]), "individuals"),
                       (dict(org_types=[]), "org_types"), (dict(sources_per_task=0), "sources_per_task"),
                       (dict(top_k=True), "top_k"), (dict(figures="yes"), "figures"),
                       (dict(components_algorithm="bfs"), "components_algorithm"),
                       (dict(pagerank_tol=0), "pagerank_tol"), (dict(pagerank_tol="small"), "pagerank_tol"),
                       (dict(colour="green"), "unknown setting")]:
        with pytest.raises(UserError, match=match):
            _cfg(**bad)
    with pytest.raises(UserError, match="missing setting"):
        NetworksSettings.from_dict({"years": [2010, 2020]}, "test")
    over = S.config_of(stage_args(patent_year="grant", years="2012-2014", no_figures=True))
    assert (over.patent_year, over.years, over.figures) == ("grant", (2012, 2014), False)
    with pytest.raises(UserError, match="--years"):
        S.config_of(stage_args(years="2012"))


def test_cli_registers_the_stage():
    from greenlink.ops.cli import COMMANDS, PIPELINE, build_parser

    assert COMMANDS["networks"][0] == "greenlink.gold.networks.stage"
    assert "networks" in PIPELINE
    ns = build_parser().parse_args(["networks", "--patent-year", "grant", "--no-figures"])
    assert (ns.patent_year, ns.no_figures, ns.config) == ("grant", True, None)
    wrapper = ROOT / "jobs" / "networks.py"
    assert 'main(["networks", *sys.argv[1:]])' in wrapper.read_text(encoding="utf-8")


def test_missing_inputs_are_one_line_errors(spark, fresh_warehouse):
    with pytest.raises(UserError, match="greenlink classify"):
        S.run(spark, stage_args())
