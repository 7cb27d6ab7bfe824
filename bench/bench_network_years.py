"""The networks stage on a warehouse whose last networks run built only some years (issue 23;
docs/benchmarks.md). Not a test.

    .venv/bin/python bench/bench_network_years.py --warehouse /tmp/b1m/inc_y2020/A \
        --copy-to /tmp/b1m/netw [--rule-only] [--json OUT.json]

In one JVM: the year rule (`gold.networks.stage.changed_years` between the silver versions the last two
networks runs read) three times, then — on a copy of the warehouse, which the builds rewrite —
the years the last run built and all years, built alternately twice.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", required=True, help="a warehouse after an incremental networks run")
    ap.add_argument("--copy-to", required=True, help="folder for the copy the builds write into")
    ap.add_argument("--rule-only", action="store_true", help="time the year rule only (no copy, no builds)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from pyspark.sql import functions as F

    from greenlink.core import tables
    from greenlink.core.runs import Run
    from greenlink.core.session import get_spark
    from greenlink.gold.networks import stage as S
    from greenlink.gold.networks.settings import NetworksSettings

    wh = Path(args.warehouse)
    if not args.rule_only:
        copy = Path(args.copy_to) / "A"
        if copy.parent.exists():
            shutil.rmtree(copy.parent)
        shutil.copytree(wh, copy)
        wh = copy
    spark = get_spark("local", str(wh))
    runs = (tables.read(spark, "_meta.runs").where((F.col("job") == "networks") & (F.col("event") == "end")
                                                    & (F.col("status") == "succeeded")).orderBy("at").collect())
    before, last = dict(runs[-2]["inputs"]), dict(runs[-1]["inputs"])
    cfg = NetworksSettings.load()
    since = {t: int(before[f"state.table:{t}"]) for t in S.SILVER_INPUTS}
    built = [int(y) for y in last["years.built"].split(",")]
    out: dict = {"warehouse": args.warehouse, "years_built": built, "load_before": os.getloadavg()[0], "rule_s": []}
    for _ in range(3):
        t = time.monotonic()
        years = S.changed_years(spark, since, cfg.patent_year, cfg.org_types)
        out["rule_s"].append(round(time.monotonic() - t, 2))
        assert sorted(years & set(cfg.year_list)) == built, years
    if not args.rule_only:
        inputs = S.StageInputs.from_warehouse(spark)
        cities = S._small_sample(inputs.cities)
        out["build_s"] = {"some": [], "all": []}
        for label, ys in (("some", built), ("all", cfg.year_list)) * 2:
            with Run(spark, "networks_bench") as r:
                t = time.monotonic()
                S._build_years(spark, r, inputs, cfg, cities, ys, Path(args.copy_to) / "reports",
                               every=ys == cfg.year_list)
                out["build_s"][label].append(round(time.monotonic() - t, 1))
    out["load_after"] = os.getloadavg()[0]
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
