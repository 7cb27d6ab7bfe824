"""Benchmark of the networks stage (not a test).

    .venv/bin/python bench/bench_networks.py --warehouse WAREHOUSE [--profile local]
        [--reports DIR] [--no-figures] [--patent-year application|grant] [--warm-up N] [--json OUT.json]

Runs `greenlink networks` once on an existing warehouse (silver.patents, silver.applicants,
silver.transfers and gold.sample_log must be there: run classify and controls first) and
reports the wall time of the whole run (session start excluded) and of each phase
(inputs, edges, graph, betweenness, metrics, summary, figures — the stage times them itself and
returns them as `phase_ms.*` counts; since the maps are drawn beside the graph phases, `figures`
is what they add to the stage's time and `figures_drawn_s` their own drawing time), with the share spent in the betweenness phase, the
machine's load average during the run and the network sizes. The stage OVERWRITES the gold
network tables and the maps of that warehouse.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

PHASES = ("inputs", "edges", "graph", "betweenness", "metrics", "summary", "figures")


class Load:
    """1-minute load average sampled every second (the machine is shared)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            time.sleep(1.0)

    def __enter__(self) -> "Load":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", required=True, help="warehouse holding the silver tables and gold.sample_log")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--reports", default=None, help="maps go to <reports>/networks (default: <warehouse>/../reports)")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--patent-year", choices=("application", "grant"), default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--warm-up", type=int, default=0, metavar="N",
                    help="run the stage N times first in the same session, untimed (a warm JVM, as in "
                         "`greenlink run --all`, where networks follows four stages)")
    a = ap.parse_args(argv)

    from greenlink.core.session import get_spark
    from greenlink.gold.networks import stage as networks_stage

    t0 = time.monotonic()
    spark = get_spark(a.profile, a.warehouse)
    session_s = time.monotonic() - t0
    config = networks_stage.NetworksConfig(patent_year=a.patent_year, figures=not a.no_figures, reports=a.reports,
                                            full=True)   # a build every time, not a skip
    for i in range(a.warm_up):
        t1 = time.monotonic()
        networks_stage.run(spark, config)
        print(f"warm-up run {i + 1}: {time.monotonic() - t1:.1f}s")
    with Load() as load:
        t1 = time.monotonic()
        counts = networks_stage.run(spark, config)
        wall = time.monotonic() - t1
    phases = {p: counts[f"phase_ms.{p}"] / 1000 for p in PHASES if f"phase_ms.{p}" in counts}
    result = {
        "warehouse": str(Path(a.warehouse).resolve()), "profile": a.profile,
        "session_start_s": round(session_s, 2), "warm_up_runs": a.warm_up, "wall_s": round(wall, 2),
        "phases_s": {p: round(v, 2) for p, v in phases.items()},
        "other_s": round(wall - sum(phases.values()), 2),   # reading the sample, run records, edge checks
        # the maps' own drawing time, beside the graph phases (recorded since 2026-12-07, night)
        "figures_drawn_s": counts["figures.draw_ms"] / 1000 if "figures.draw_ms" in counts else None,
        "betweenness_share": round(phases.get("betweenness", 0.0) / wall, 4) if wall else None,
        "load_avg": {"mean": round(sum(load.samples) / len(load.samples), 2) if load.samples else None,
                     "max": max(load.samples, default=None)},
        "cpus": os.cpu_count(),
        "sizes": {k: counts.get(k) for k in ("sample.cities", "patents.network", "links.network",
                                             "transfers.rows", "collab_edges.rows", "transfer_edges.rows",
                                             "collab.pairs", "transfers.network.accepted")},
    }
    print(f"networks stage on {result['warehouse']}: {wall:.1f}s wall "
          f"(session start {session_s:.1f}s not included), load average {result['load_avg']['mean']}")
    for p, v in phases.items():
        print(f"  {p:<12} {v:8.1f}s  {v / wall:6.1%}")
    print(f"  {'other':<12} {result['other_s']:8.1f}s")
    if result["figures_drawn_s"] is not None:
        print(f"maps drawn in {result['figures_drawn_s']:.1f}s beside the graph phases (figures: what it added)")
    print(f"betweenness share: {result['betweenness_share']:.1%}")
    print("sizes: " + ", ".join(f"{k}={v}" for k, v in result["sizes"].items()))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
