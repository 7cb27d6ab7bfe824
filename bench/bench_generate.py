"""Benchmark of `greenlink generate` (not a test).

    .venv/bin/python bench/bench_generate.py --patents 200000 [--seed 1] [--out /tmp/bench_world]
        [--profile local] [--json bench/results/generate_200000.json]

Records wall time per phase and in total, patents/s and raw rows/s, peak driver memory
(RSS of this process, sampled by psutil every 0.5 s; Spark runs in-process with the local
profile, so this includes the driver JVM's children only if they are this process — the
JVM is a child process: its peak RSS is sampled too and reported separately), the machine
load during the run, and the size of every output folder. Also prints the city-year moments
of the generated world next to the article's Table 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

ARTICLE = {   # Table 1 of the study (seed/000_d516d1aa5bcf81a8.txt): mean, sd, min, max
    "rsi": (28.492, 164.606, 0.0, 3676.0), "gtr": (14.321, 55.362, 0.0, 1125.0),
    "DC": (0.016, 0.038, 0.0, 0.585), "BC": (0.005, 0.036, 0.0, 0.829),
    "dc_out": (0.039, 0.072, 0.0, 0.653), "dc_in": (0.039, 0.060, 0.0, 0.497), "bc_gt": (0.003, 0.012, 0.0, 0.237),
    "ln_app": (6.364, 1.731, 1.609, 11.688),
}


class Peak:
    """Peak RSS of this process and of its child processes (the local Spark JVM and Spark's
    Python workers). `children` sums the children's RSS, as every earlier figure did; a forked
    Python worker's RSS also counts the pages it shares with the daemon it was forked from, so
    the workers are also summed by PSS (shared pages divided among their sharers), beside the
    JVM's RSS alone."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.driver = 0
        self.children = 0
        self.load: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()
        self._part = (0, 0)
        self._stage = (0, 0, 0)            # children RSS, JVM RSS, Python workers PSS

    def _run(self) -> None:
        while not self._stop.is_set():
            driver, kids, jvm, workers = self.me.memory_info().rss, 0, 0, 0
            for c in self.me.children(recursive=True):
                try:
                    rss = c.memory_info().rss
                    kids += rss
                    if c.name() == "java":
                        jvm += rss
                    else:
                        workers += c.memory_full_info().pss
                except psutil.Error:
                    pass
            with self._lock:
                self.driver, self.children = max(self.driver, driver), max(self.children, kids)
                self._part = (max(self._part[0], driver), max(self._part[1], kids))
                self._stage = tuple(max(a, b) for a, b in zip(self._stage, (kids, jvm, workers)))
            self.load.append(os.getloadavg()[0])
            time.sleep(0.5)

    def part(self) -> dict[str, int]:
        """Peak RSS (MB) since the last call: what one part of a benchmark used (the stages
        apart from generating the world and from the references that run in this process)."""
        with self._lock:
            (driver, kids), self._part = self._part, (0, 0)
        return {"python_driver_mb": round(driver / 2**20), "children_mb": round(kids / 2**20)}

    def stage(self) -> dict[str, int]:
        """Peaks (MB) since the last call, by process: the children's RSS summed, the JVM's RSS,
        the Python workers' PSS summed (one stage of a pipeline benchmark)."""
        with self._lock:
            (kids, jvm, workers), self._stage = self._stage, (0, 0, 0)
        return {"children_rss_mb": round(kids / 2**20), "jvm_rss_mb": round(jvm / 2**20),
                "python_workers_pss_mb": round(workers / 2**20)}

    def __enter__(self) -> "Peak":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def folder_sizes(out: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for f in out.rglob("*"):
        if f.is_file():
            top = f.relative_to(out).parts[0]
            sizes[top] = sizes.get(top, 0) + f.stat().st_size
    return dict(sorted(sizes.items()))


def moments(out: Path) -> pd.DataFrame:
    import numpy as np

    cy = pd.read_parquet(out / "truth" / "city_year.parquet")
    cy["ln_app"] = np.log1p(cy["app"])
    rows = []
    for v, (m, s, lo, hi) in ARTICLE.items():
        x = cy[v]
        rows.append((v, len(x), x.mean(), x.std(), x.min(), x.max(), m, s, lo, hi))
    return pd.DataFrame(rows, columns=["variable", "N", "mean", "sd", "min", "max",
                                       "article_mean", "article_sd", "article_min", "article_max"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patents", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/bench_world")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--warehouse", default="/tmp/bench_warehouse")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    a = ap.parse_args()

    from greenlink.core.session import get_spark
    from greenlink.synth.world import generate

    out = Path(a.out)
    phases: list[tuple[str, float]] = []
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        phases.append((msg, round(time.monotonic() - t0, 1)))
        print(f"[{phases[-1][1]:7.1f}s] {msg}", file=sys.stderr, flush=True)

    with Peak() as peak:
        spark = get_spark(a.profile, a.warehouse)
        t_start = time.monotonic()
        manifest = generate(spark, out, a.patents, a.seed, progress=progress)
        wall = time.monotonic() - t_start
    raw_rows = sum(v["rows"] or 0 for k, v in manifest["files"].items()
                   if k.startswith(("patents/", "transfers/")))
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "patents": a.patents, "seed": a.seed, "profile": a.profile,
        "wall_s": round(wall, 1), "patents_per_s": round(a.patents / wall, 1),
        "raw_rows": raw_rows, "raw_rows_per_s": round(raw_rows / wall, 1),
        "peak_rss_python_driver_mb": round(peak.driver / 2**20), "peak_rss_children_mb": round(peak.children / 2**20),
        "load_avg_1min_mean": round(sum(peak.load) / max(len(peak.load), 1), 2),
        "cpus": os.cpu_count(), "phases": phases, "output_bytes": folder_sizes(out),
        "files": {k: {"rows": v["rows"], "bytes": v["bytes"]} for k, v in manifest["files"].items()},
    }
    m = moments(out)
    result["moments"] = m.round(4).to_dict(orient="records")
    print(json.dumps({k: v for k, v in result.items() if k not in ("files", "moments")}, indent=1, ensure_ascii=False))
    print(m.round(4).to_string(index=False))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
