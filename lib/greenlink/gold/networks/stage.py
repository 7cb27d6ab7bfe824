"""`greenlink networks`: silver tables -> the SPEC §4 city networks and network variables.

Inputs (written by `greenlink classify`, and `greenlink controls` for the sample):
- silver.patents: application_no, year (application year), patent_type, granted, grant_year,
  is_green — one row per application number;
- silver.applicants (`silver.tables.APPLICANTS`): application_no, year, org_type, city_code,
  unlocated_reason — one row per applicant link;
- silver.transfers: application_no, year (registration = effective year), in_dump,
  patent_type, is_green, from_city, to_city — one row per registered transfer;
- the sample: `sample.sample_cities` (gold.sample_log, in_sample rows); N = its size.

What enters the networks (docs/networks.md, "The stage"):
- network patents = granted green inventions; their year is the application year, or the
  grant year with `patent_year: grant` (conf/networks.yaml);
- patent_cities = one row per distinct located city of a network patent's ORGANISATION
  applicants (org_type in the config's `org_types`; individuals are never network actors);
- network transfers = transfers of in-dump green inventions with both ends located; year =
  registration year.
Everything else is counted by reason into `_meta.runs`, and the counts reconcile.

Outputs (specs in `greenlink.gold.networks.edges`): gold.collab_edges, gold.transfer_edges,
gold.city_network_metrics, gold.network_summary — overwritten whole, or, when only the silver
tables changed since the last run and not in every year, only the rows of the years they
changed in (`plan`; every network quantity is per year) — and maps
`<reports>/networks/<network>_network_<year>.png|.svg`. Either way the tables hold what a
full run on the same input writes.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from graphframes import GraphFrame
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import state, tables
from greenlink.core.config import conf_file
from greenlink.core.errors import UserError
from greenlink.core.runs import Run
from greenlink.core.session import reports_dir
from greenlink.gold.networks import edges as nw, metrics as nm
from greenlink.gold.networks.inputs import (LINK_REASONS, PATENT_OUTCOMES, TRANSFER_REASONS, applicant_links,
                                           link_audit, network_patents, network_transfers, patent_audit,
                                           patent_cities, transfer_rows)
from greenlink.gold.networks.settings import NetworksSettings
from greenlink.gold.sample import sample_cities
from greenlink.gold.tables import CITY_NETWORK_METRICS, COLLAB_EDGES, NETWORK_SUMMARY, SAMPLE_LOG, TRANSFER_EDGES
from greenlink.silver.tables import APPLICANTS, PATENTS, TRANSFERS

# Maps written by figures.draw_figures (stale ones are removed before a run writes).
_FIGURE_NAME = re.compile(r"^(collab|transfer)_network_(\d{4})\.(png|svg)$")


# --------------------------------------------------------------------------- the stage

SILVER_INPUTS = (PATENTS.name, APPLICANTS.name, TRANSFERS.name)
_SAMPLE_SCHEMA = T.StructType([T.StructField("city_code", T.StringType()), T.StructField("city_name", T.StringType()),
                               T.StructField("province_code", T.StringType()),
                               T.StructField("longitude", T.DoubleType()), T.StructField("latitude", T.DoubleType())])


@dataclass(frozen=True)
class StageInputs:
    """What the stage reads: silver-shaped patents, applicants and transfers (the columns of
    the module docstring) and the sample cities (city_code, city_name, province_code,
    longitude, latitude). `source` names where they came from (run record)."""

    patents: DataFrame
    applicants: DataFrame
    transfers: DataFrame
    cities: DataFrame
    source: dict[str, str]

    @classmethod
    def from_warehouse(cls, spark: SparkSession) -> "StageInputs":
        """The silver tables and gold.sample_log's sample; missing ones are a UserError."""
        for name in SILVER_INPUTS:
            if not tables.exists(spark, name):
                raise UserError(f"{name} does not exist yet at {tables.path(spark, name)}: "
                                "run `greenlink classify` (or `greenlink run`) first")
        patents, applicants, transfers = (tables.read(spark, name) for name in SILVER_INPUTS)
        return cls(patents, applicants, transfers, sample_cities(spark),
                   {name: tables.path(spark, name) for name in (*SILVER_INPUTS, SAMPLE_LOG.name)})


def _small_sample(cities: DataFrame) -> DataFrame:
    """The sample as a small in-memory DataFrame, read once (N rows; every later use — the
    audits, metrics, summary, maps — would otherwise re-read its source)."""
    pdf = cities.select(*_SAMPLE_SCHEMA.fieldNames()).toPandas()
    if pdf.empty:
        raise UserError(f"the sample ({SAMPLE_LOG.name}) keeps no city: the networks need it (SPEC §3)")
    return cities.sparkSession.createDataFrame(pdf.sort_values("city_code"), _SAMPLE_SCHEMA)


class _Phases:
    """Wall time per phase: logged with Run.log and kept as `phase_ms.<name>` counts (the
    benchmark reads them back)."""

    def __init__(self, run: Any) -> None:
        self.run = run

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        self.run.log(f"{name} ...")
        with self.run.progress(name):
            yield
        dt = time.monotonic() - t0
        self.run.count(f"phase_ms.{name}", round(dt * 1000))
        self.run.log(f"{name} done in {dt:.1f}s")


def _reconcile(what: str, lhs: int, rhs: int) -> None:
    if lhs != rhs:
        raise RuntimeError(f"networks counts do not reconcile: {what}: {lhs} != {rhs}")


def input_audit(links: DataFrame, net_patents: DataFrame, pc: DataFrame, trows: DataFrame,
                cities: DataFrame, years: Sequence[int]) -> DataFrame:
    """Every input row by outcome, all audits in ONE small frame (one Spark job to collect):
    (item, reason, detail, n long), summed over years.

    item `links`: `link_audit` (detail = unlocated_reason); `patents`: `patent_audit`;
    `patent_cities`: `networks.collab_audit` rows, `collab_pairs`: its pairs; `transfers`:
    silver.transfers rows by TRANSFER_REASONS, usable ones as `network`;
    `network_transfers`: `networks.transfer_audit` of those.
    """
    none = F.lit(None).cast("string")
    ca = nw.collab_audit(pc, cities, years)
    parts = [
        link_audit(links).select(F.lit("links").alias("item"), "reason", F.col("unlocated_reason").alias("detail"),
                                 F.col("rows").alias("n")),
        patent_audit(net_patents, pc).select(F.lit("patents").alias("item"), F.col("outcome").alias("reason"),
                                             none.alias("detail"), F.col("patents").alias("n")),
        ca.select(F.lit("patent_cities").alias("item"), "reason", none.alias("detail"), F.col("rows").alias("n")),
        ca.select(F.lit("collab_pairs").alias("item"), "reason", none.alias("detail"), F.col("pairs").alias("n")),
        trows.select(F.lit("transfers").alias("item"), F.coalesce("reason", F.lit("network")).alias("reason"),
                     none.alias("detail"), F.lit(1).alias("n")),
        nw.transfer_audit(network_transfers(trows), cities, years).select(
            F.lit("network_transfers").alias("item"), "reason", none.alias("detail"), F.col("rows").alias("n")),
    ]
    audit = parts[0]
    for part in parts[1:]:
        audit = audit.unionByName(part.select("item", "reason", "detail", F.col("n").cast("long")))
    return audit.groupBy("item", "reason", "detail").agg(F.sum("n").cast("long").alias("n"))


COLLAB_AUDIT_REASONS = ("accepted", "duplicate", "city_not_in_sample", "null_field", "year_out_of_range")
TRANSFER_AUDIT_REASONS = ("accepted", "city_not_in_sample", "null_field", "year_out_of_range")


def audit_counts(audit: Sequence[Any]) -> dict[str, int]:
    """The collected `input_audit` rows as the run's flat counts; raises when they do not
    reconcile. Keys (each family sums to its total):

    links.network = Σ links.<LINK_REASONS>; links.unlocated = Σ links.unlocated.<reason>;
    patents.network = Σ patents.network.<PATENT_OUTCOMES>;
    links.patent_city = Σ patent_cities.<COLLAB_AUDIT_REASONS>; collab.pairs = accepted
    pairs (= Σ collab_edges.weight), collab.pairs_city_not_in_sample = pairs lost;
    transfers.rows = Σ transfers.<TRANSFER_REASONS> + transfers.network;
    transfers.network = Σ transfers.network.<TRANSFER_AUDIT_REASONS>.
    """
    got: dict[tuple[str, str], int] = {}
    out: dict[str, int] = {}
    for row in audit:
        key = (row["item"], row["reason"])
        got[key] = got.get(key, 0) + int(row["n"])
        if key == ("links", "unlocated"):
            out[f"links.unlocated.{row['detail'] or 'unknown'}"] = int(row["n"])

    def total(item: str) -> int:
        return sum(v for (i, _), v in got.items() if i == item)

    out["links.network"] = total("links")
    out.update({f"links.{r}": got.get(("links", r), 0) for r in LINK_REASONS})
    out["patents.network"] = total("patents")
    out.update({f"patents.network.{o}": got.get(("patents", o), 0) for o in PATENT_OUTCOMES})
    out.update({f"patent_cities.{r}": got.get(("patent_cities", r), 0) for r in COLLAB_AUDIT_REASONS})
    out["collab.pairs"] = got.get(("collab_pairs", "accepted"), 0)
    out["collab.pairs_city_not_in_sample"] = got.get(("collab_pairs", "city_not_in_sample"), 0)
    out["transfers.rows"] = total("transfers")
    out.update({f"transfers.{r}": got.get(("transfers", r), 0) for r in TRANSFER_REASONS})
    out["transfers.network"] = got.get(("transfers", "network"), 0)
    out.update({f"transfers.network.{r}": got.get(("network_transfers", r), 0) for r in TRANSFER_AUDIT_REASONS})

    _reconcile("links = Σ link reasons", out["links.network"], sum(out[f"links.{r}"] for r in LINK_REASONS))
    _reconcile("patent_city links = Σ patent-city outcomes", out["links.patent_city"], total("patent_cities"))
    _reconcile("transfers = Σ reasons + network", out["transfers.rows"],
               out["transfers.network"] + sum(out[f"transfers.{r}"] for r in TRANSFER_REASONS))
    _reconcile("network transfers = Σ transfer audit", out["transfers.network"], total("network_transfers"))
    for item, reasons in (("links", LINK_REASONS), ("patents", PATENT_OUTCOMES), ("patent_cities", COLLAB_AUDIT_REASONS),
                          ("transfers", (*TRANSFER_REASONS, "network")),
                          ("network_transfers", TRANSFER_AUDIT_REASONS)):
        unknown = sorted({r for (i, r) in got if i == item} - set(reasons))
        if unknown:
            raise RuntimeError(f"networks audit: unexpected {item} reason(s) {unknown}")
    return out


@dataclass(frozen=True)
class NetworksConfig:
    """What `greenlink networks` runs on (the command's options as values): a settings file
    (NetworksSettings) and the overrides given with it."""

    config: str | None = None                 # settings file (None: conf/networks.yaml)
    years: tuple[int, int] | None = None      # panel years (None: the settings')
    patent_year: str | None = None            # application | grant (None: the settings')
    figures: bool = True                      # False: do not draw the network maps
    reports: str | None = None                # reports folder (None: <warehouse>/../reports)
    full: bool = False                        # run even when the inputs are unchanged


def config_of(stage: NetworksConfig) -> NetworksSettings:
    """conf/networks.yaml (or `stage.config`) with the stage's overrides."""
    return NetworksSettings.load(stage.config).with_overrides(
        "command line", patent_year=stage.patent_year, years=stage.years,
        figures=None if stage.figures else False)


CONFIG = NetworksConfig  # the config `run` takes (core.stages: how the pipeline finds it)


def run(spark: SparkSession, config: NetworksConfig = NetworksConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """The stage: read the silver tables and the sample from the warehouse, build and write the
    networks; returns the run's counts (also recorded in _meta.runs)."""
    cfg = config_of(config)
    inputs = StageInputs.from_warehouse(spark)
    inputs = replace(inputs, source={**inputs.source, "config": str(config.config or conf_file("networks.yaml"))})
    return build_networks(spark, inputs, cfg, Path(reports_dir(spark, config)) / "networks",
                          parent_run_id=parent_run_id, full=config.full)


OWNS = (COLLAB_EDGES.name, TRANSFER_EDGES.name, CITY_NETWORK_METRICS.name, NETWORK_SUMMARY.name)


# --------------------------------------------------------------------------- which years to build

def changed_years(spark: SparkSession, since: dict[str, int], patent_year: str,
                  org_types: Sequence[str]) -> set[int] | str:
    """The network years whose inputs changed in the silver tables after the versions `since`
    (table -> version), from their change data feeds; a str says why they cannot be told (the
    stage then runs in full).

    Only what the networks read counts: network patents with their network year
    (`network_patents`), the located cities of their organisation applicants, and network
    transfers (`network_transfers`). Each feed is split into the rows it removed (pre-images,
    deletes) and the rows it added (post-images, inserts), both reduced to those facts; a fact
    on one side only (as a multiset) is a change, in its year — a patent that moved counts in
    both. So a patent whose chosen record or own address changed, an individual who moved, or a
    transfer of a non-green patent touches no year. A changed applicant's year is its patent's
    network year in the old or the new silver.patents (it is a network patent in one of them,
    or it does not count). A silver table rewritten whole in between (a full classify) is not
    compared row by row: the stage runs in full."""
    feeds: dict[str, DataFrame] = {}
    now: dict[str, int | None] = {}
    for name, version in since.items():
        now[name] = state.log_version(spark, name)
        if now[name] is None:
            return f"{name} does not exist"
        if now[name] == version:
            continue
        ops = (DeltaTable.forPath(spark, tables.path(spark, name)).history()
               .where(F.col("version") > version).select("operation", "operationParameters").collect())
        if any(o["operation"] != "MERGE" for o in ops):
            return f"{name} was rewritten since version {version} (not by MERGE): every year is built again"
        feeds[name] = (spark.read.format("delta").option("readChangeFeed", "true")
                       .option("startingVersion", version + 1).option("endingVersion", now[name])
                       .load(tables.path(spark, name)))
    removed = F.col("_change_type").isin("update_preimage", "delete")

    def one_side(df: DataFrame, facts: Callable[[DataFrame], DataFrame]) -> DataFrame:
        old, new = facts(df.where(removed)), facts(df.where(~removed))
        return old.exceptAll(new).unionByName(new.exceptAll(old))

    parts = []
    if PATENTS.name in feeds:
        parts.append(one_side(feeds[PATENTS.name], lambda d: network_patents(d, patent_year)).select("year"))
    if TRANSFERS.name in feeds:
        parts.append(one_side(feeds[TRANSFERS.name],
                              lambda d: network_transfers(transfer_rows(d))).select("year"))
    if APPLICANTS.name in feeds:
        located = (F.col("org_type").isin(list(org_types)) & F.col("city_code").isNotNull())
        numbers = one_side(feeds[APPLICANTS.name],
                           lambda d: d.where(located).select("application_no", "city_code")
                           ).select("application_no").distinct()
        parts += [network_patents(tables.read(spark, PATENTS.name, version=v), patent_year)
                  .join(numbers, "application_no", "left_semi").select("year")
                  for v in sorted({since[PATENTS.name], now[PATENTS.name]})]
    if not parts:
        return set()
    years = parts[0]
    for part in parts[1:]:
        years = years.unionByName(part)
    try:
        return {int(r["year"]) for r in years.where(F.col("year").isNotNull()).distinct().collect()}
    except Exception as e:     # noqa: BLE001 - a feed not kept for these versions (vacuumed, not enabled)
        return f"the silver change feed after the versions of the last run cannot be read ({type(e).__name__})"


def plan(spark: SparkSession, st: state.StageState, previous: dict | None, cfg: NetworksSettings,
         full: bool) -> tuple[str, str, list[int]]:
    """(mode, reason, the years to build): `skipped` when nothing the networks depend on
    changed; `incremental` when only the silver tables did, and not in every year: the years
    their change feeds touch are built again and the others keep their rows (every network
    quantity is per year: edges, metrics, summary, maps); else `full`, saying why."""
    every = cfg.year_list
    mode, reason = state.plan(spark, st, previous, full, incremental_on=SILVER_INPUTS)
    if mode != "incremental":
        return mode, reason, [] if mode == "skipped" else every
    run_id, inputs = previous["run_id"], previous["inputs"]
    since = {t: inputs.get(f"state.table:{t}", "None") for t in SILVER_INPUTS}
    if not all(v.isdigit() for v in since.values()):
        return "full", f"run {run_id} recorded no version of the silver tables", every
    years = changed_years(spark, {t: int(v) for t, v in since.items()}, cfg.patent_year, cfg.org_types)
    if isinstance(years, str):
        return "full", years, every
    touched = sorted(years & set(every))
    if touched == every:
        return "full", f"silver changed in every year {every[0]}-{every[-1]} since run {run_id}", every
    listed = ", ".join(map(str, touched)) or "none of the network years"
    return "incremental", f"silver changed since run {run_id} in {listed}", touched


def build_networks(spark: SparkSession, inputs: StageInputs, cfg: NetworksSettings, figures_dir: Path,
                   parent_run_id: str | None = None, full: bool = True) -> dict[str, int]:
    """Build the networks from `inputs` and write the four gold tables and the maps (into
    figures_dir) as one `networks` run — every year, or with inputs from the warehouse only the
    years the silver tables changed in since the last run (`plan`); returns the run's counts."""
    years = cfg.year_list
    cities = _small_sample(inputs.cities)
    n = nw.sample_size(cities)
    out_dir = Path(figures_dir)
    # inputs from the warehouse can be checked for changes; frames given by a caller cannot (full)
    from_warehouse = set(SILVER_INPUTS) <= set(inputs.source)
    st = state.stage_state(spark, "networks", __name__, reads=(*SILVER_INPUTS, SAMPLE_LOG.name), owns=OWNS,
                           settings={**asdict(cfg), "figures_dir": str(out_dir)})
    previous = state.last_success(spark, "networks")
    with Run(spark, "networks", inputs=inputs.source, args=asdict(cfg), parent_run_id=parent_run_id) as r:
        mode, reason, redo = plan(spark, st, previous, cfg, full or not from_warehouse)
        if r.track(st, mode=mode, reason=reason) == "skipped":
            return dict(r.counts)
        r.inputs["years.built"] = ",".join(map(str, redo))
        r.count("years.built", len(redo))
        r.count("sample.cities", n)
        if redo:
            _build_years(spark, r, inputs, cfg, cities, redo, out_dir, every=redo == years)
        return dict(r.counts)


def _build_years(spark: SparkSession, r: Run, inputs: StageInputs, cfg: NetworksSettings, cities: DataFrame,
                 years: list[int], out_dir: Path, every: bool) -> None:
    """Build and write the networks of `years` (`every`: all the configured years: the tables are
    overwritten; else only those years' rows are replaced). The run's counts cover these years."""
    # local: matplotlib, only when maps are drawn
    from greenlink.gold.networks.figures import draw_figures, figure_inputs

    phase = _Phases(r)
    in_years = F.col("year").isin(years)

    def put(df: DataFrame, spec: tables.TableSpec) -> None:
        if every:
            tables.write(df, spec, mode="overwrite")
        else:
            tables.write(df, spec, mode="replace_where", replace_where=f"year IN ({', '.join(map(str, years))})")

    def built(spec: tables.TableSpec) -> DataFrame:
        df = tables.read(spark, spec.name)
        return df if every else df.where(in_years)

    net_patents, applicants, transfers = network_patents(inputs.patents, cfg.patent_year), inputs.applicants, \
        inputs.transfers
    if not every:   # only these years' rows (both silver tables are partitioned by year)
        net_patents, transfers = net_patents.where(in_years), transfers.where(in_years)
        if cfg.patent_year == "application":
            applicants = applicants.where(in_years)
    # patent-level frames used by several audits and the edges: computed once
    links = applicant_links(net_patents, applicants, cfg.org_types).persist()
    pc = patent_cities(links).persist()
    trows = transfer_rows(transfers).persist()
    try:
        with phase("inputs"):
            for key, v in audit_counts(input_audit(links, net_patents, pc, trows, cities, years).collect()).items():
                r.count(key, v)
            r.log(f"{r.counts['patents.network']} network patents, {r.counts['patent_cities.accepted']} "
                  f"sample patent cities, {r.counts['transfers.network.accepted']} sample transfers")
        with phase("edges"):
            put(nw.collab_edges(pc, cities, years), COLLAB_EDGES)
            put(nw.transfer_edges(network_transfers(trows), cities, years), TRANSFER_EDGES)
    finally:
        for df in (links, pc, trows):
            df.unpersist()
    collab, transfer = built(COLLAB_EDGES), built(TRANSFER_EDGES)
    ce = collab.agg(F.count(F.lit(1)).alias("n"), F.sum("weight").alias("w")).first()
    te = transfer.agg(F.count(F.lit(1)).alias("n"), F.sum("weight").alias("w"),
                      F.sum(F.when(F.col("is_local"), F.col("weight"))).alias("local")).first()
    _reconcile("collab pairs = Σ collab_edges.weight", r.counts["collab.pairs"], int(ce["w"] or 0))
    _reconcile("accepted transfers = Σ transfer_edges.weight", r.counts["transfers.network.accepted"],
               int(te["w"] or 0))
    r.count("collab_edges.rows", ce["n"])
    r.count("transfer_edges.rows", te["n"])
    r.count("transfers.local", int(te["local"] or 0))

    # the maps need only the edges: drawn in a thread (matplotlib, no Spark) while the graph
    # work below runs in the JVM, so that they add little to the stage's time
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="greenlink-maps")
    try:
        drawing = None
        if cfg.figures:
            with phase("figures"):
                _remove_maps(out_dir, years, every)
                drawing = pool.submit(_timed, draw_figures, figure_inputs(collab, transfer, cities, years), out_dir)
        _graph_phases(r, phase, put, built, collab, transfer, cities, years, cfg)
        if drawing is not None:
            with phase("figures"):      # what is left of the drawing once the Spark work is done
                written, seconds = drawing.result()
            r.count("figures.files", len(written))
            r.count("figures.draw_ms", round(seconds * 1000))
            r.log(f"{len(written)} figures in {out_dir} (drawn in {seconds:.1f}s beside the graph work)")
    finally:
        pool.shutdown(wait=True)     # no map is written after the run has ended, even a failed one


def _timed(step: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = step(*args)
    return out, time.monotonic() - t0


def _remove_maps(out_dir: Path, years: Sequence[int], every: bool) -> None:
    """Delete the maps of `years` (all of them with `every`): a rerun with other years must
    not leave old maps behind."""
    if out_dir.exists():
        for f in out_dir.iterdir():
            m = _FIGURE_NAME.match(f.name)
            if m and (every or int(m[2]) in years):
                f.unlink()


def _graph_phases(r: Run, phase: _Phases, put: Callable[[DataFrame, tables.TableSpec], None],
                  built: Callable[[tables.TableSpec], DataFrame], collab: DataFrame, transfer: DataFrame,
                  cities: DataFrame, years: list[int], cfg: NetworksSettings) -> None:
    """The graph, betweenness, metrics and summary phases: gold.city_network_metrics and
    gold.network_summary of `years` written (`put`) and counted."""
    n = nw.sample_size(cities)
    with phase("graph"):
        # ONE GraphFrame for both networks and all years, its edges materialised once
        # (city-level rows): degrees, betweenness arcs, PageRank and components read them
        graph = nm.network_graph(collab, transfer, cities, years)
        graph = GraphFrame(graph.vertices.localCheckpoint(eager=True), graph.edges.localCheckpoint(eager=True))
    with phase("betweenness"):
        # materialised on its own (city-level rows) so that its cost is visible
        bcs = nm.network_betweenness(graph, n, sources_per_task=cfg.sources_per_task).localCheckpoint(eager=True)
    with phase("metrics"):
        metrics = nm.city_network_metrics(collab, transfer, cities, years, betweenness_rows=bcs, graph=graph,
                                          pagerank_tol=cfg.pagerank_tol)
        put(metrics, CITY_NETWORK_METRICS)
        metrics = built(CITY_NETWORK_METRICS)
        r.count("city_network_metrics.rows", metrics.count())
    with phase("summary"):
        summary = nm.network_summary(collab, transfer, metrics, cities, years, top_k=cfg.top_k, graph=graph,
                                     components_algorithm=cfg.components_algorithm)
        put(summary, NETWORK_SUMMARY)
        r.count("network_summary.rows", built(NETWORK_SUMMARY).count())
    _reconcile("metric rows = N x years", r.counts["city_network_metrics.rows"], n * len(years))
