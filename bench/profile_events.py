"""Profile of a run from its Spark event log (not a test).

    .venv/bin/python bench/profile_events.py EVENT_LOG_FILE [--top 25] [--json OUT.json]

bench/bench_pipeline.py --event-log DIR writes the log (`spark.eventLog.enabled`). This reads
it and reports, per greenlink job (the `greenlink.job` local property that `runs.Run` sets)
and per Spark job inside it (its call site: the Python line that triggered the action):
wall time, tasks, task time (executor run time summed over tasks), JVM CPU time of the tasks
(the measure that a busy machine inflates least), input rows, shuffle
read/write bytes, spill bytes and the time Python workers spent (SQL metrics of pandas/Arrow
UDF operators). "driver" time of a greenlink job is its wall time outside any Spark job:
planning, Delta log work, Python on the driver.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

def with_event_log(profile, folder: str | Path):
    """`profile` (a greenlink Profile) writing Spark's event log into `folder` (uncompressed,
    for this module to read); what the benches' `--event-log DIR` options use."""
    from dataclasses import replace

    Path(folder).mkdir(parents=True, exist_ok=True)
    return replace(profile, spark_conf={**profile.spark_conf, "spark.eventLog.enabled": "true",
                                        "spark.eventLog.dir": Path(folder).resolve().as_uri(),
                                        "spark.eventLog.compress": "false"})


_TOTALS = ("tasks", "run_ms", "cpu_ms", "input_rows", "shuffle_read", "shuffle_write", "spill", "python_ms")
_PY_METRICS = ("time spent executing python code", "time to execute python code", "python time")


@dataclass
class Job:
    job_id: int
    group: str
    call_site: str
    start_ms: int
    end_ms: int = 0
    stages: list[int] = field(default_factory=list)

    @property
    def wall_ms(self) -> int:
        return max(self.end_ms - self.start_ms, 0)


@dataclass
class StageTotals:
    tasks: int = 0
    run_ms: int = 0
    cpu_ms: int = 0
    input_rows: int = 0
    shuffle_read: int = 0
    shuffle_write: int = 0
    spill: int = 0
    python_ms: int = 0


def _py_ms(accumulables: list[dict]) -> int:
    total = 0
    for acc in accumulables or []:
        name = str(acc.get("Name", "")).lower()
        if any(k in name for k in _PY_METRICS):
            try:
                total += int(acc.get("Value", 0))
            except (TypeError, ValueError):
                pass
    return total


def event_files(path: Path) -> list[Path]:
    """The event files of one application: a plain log file, a rolling log folder
    (`eventlog_v2_<app>/events_<n>_<app>`), or a folder of those (its newest application)."""
    if path.is_file():
        return [path]
    apps = [p for p in path.iterdir() if p.name.startswith("eventlog_v2_") or p.is_file()]
    if not path.name.startswith("eventlog_v2_"):
        if not apps:
            raise SystemExit(f"no event log in {path}")
        path = max(apps, key=lambda p: p.stat().st_mtime)
        if path.is_file():
            return [path]
    parts = [p for p in path.iterdir() if p.name.startswith("events_")]
    return sorted(parts, key=lambda p: int(p.name.split("_")[1]))


def _lines(files: list[Path]):
    for f in files:
        if f.suffix == ".zstd":     # Spark compresses event logs with zstd unless told not to
            done = subprocess.run(["zstd", "-dcq", str(f)], capture_output=True)
            text = done.stdout.decode("utf-8", "replace")
            yield from text.splitlines()[:-1] if done.returncode else text.splitlines()
        else:
            with open(f, encoding="utf-8") as fh:
                yield from fh


def read_log(files: list[Path]) -> tuple[dict[int, Job], dict[int, StageTotals], dict[str, tuple[int, int]]]:
    jobs: dict[int, Job] = {}
    stages: dict[int, StageTotals] = defaultdict(StageTotals)
    spans: dict[str, list[int]] = {}
    for line in _lines(files):
        try:
            ev = json.loads(line)
        except ValueError:          # the last line of a log still being written
            continue
        kind = ev.get("Event")
        if kind == "SparkListenerJobStart":
            props = ev.get("Properties") or {}
            group = props.get("greenlink.job") or "(outside a greenlink job)"
            # Delta names its own jobs ("Delta: Compute snapshot for version: 3"); ours carry the
            # Python line that started them
            desc = re.sub(r"\d+", "N", props.get("spark.job.description") or "")
            site = desc or props.get("callSite.short") or (ev.get("Stage Infos") or [{}])[0].get("Stage Name", "?")
            job = Job(ev["Job ID"], group, site, ev["Submission Time"], stages=list(ev.get("Stage IDs", [])))
            jobs[job.job_id] = job
            lo, hi = spans.get(group, [job.start_ms, job.start_ms])
            spans[group] = [min(lo, job.start_ms), hi]
        elif kind == "SparkListenerJobEnd":
            job = jobs.get(ev["Job ID"])
            if job:
                job.end_ms = ev["Completion Time"]
                spans[job.group][1] = max(spans[job.group][1], job.end_ms)
        elif kind == "SparkListenerTaskEnd":
            m = ev.get("Task Metrics") or {}
            st = stages[ev["Stage ID"]]
            st.tasks += 1
            st.run_ms += int(m.get("Executor Run Time", 0))
            st.cpu_ms += int(m.get("Executor CPU Time", 0)) // 1_000_000       # ns
            st.input_rows += int((m.get("Input Metrics") or {}).get("Records Read", 0))
            sr = m.get("Shuffle Read Metrics") or {}
            st.shuffle_read += int(sr.get("Remote Bytes Read", 0)) + int(sr.get("Local Bytes Read", 0))
            st.shuffle_write += int((m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0))
            st.spill += int(m.get("Disk Bytes Spilled", 0))
        elif kind == "SparkListenerStageCompleted":
            info = ev.get("Stage Info") or {}
            stages[info.get("Stage ID")].python_ms += _py_ms(info.get("Accumulables"))
    return jobs, stages, {k: (v[0], v[1]) for k, v in spans.items()}


def summarise(jobs: dict[int, Job], stages: dict[int, StageTotals], top: int) -> dict:
    by_group: dict[str, dict] = {}
    done = [j for j in jobs.values() if j.end_ms]
    for group in sorted({j.group for j in done}, key=lambda g: min(j.start_ms for j in done if j.group == g)):
        gj = [j for j in jobs.values() if j.group == group and j.end_ms]
        lo, hi = min(j.start_ms for j in gj), max(j.end_ms for j in gj)
        busy = _union_ms([(j.start_ms, j.end_ms) for j in gj])
        sites: dict[str, dict] = defaultdict(lambda: dict.fromkeys(_TOTALS + ("jobs", "wall_ms"), 0))
        for j in gj:
            s = sites[j.call_site]
            s["jobs"] += 1
            s["wall_ms"] += j.wall_ms
            for sid in j.stages:
                t = stages.get(sid)
                if t is None:
                    continue
                for k in _TOTALS:
                    s[k] += getattr(t, k)
        ranked = sorted(sites.items(), key=lambda kv: -kv[1]["wall_ms"])
        by_group[group] = {"span_s": round((hi - lo) / 1000, 1), "in_jobs_s": round(busy / 1000, 1),
                           "spark_jobs": len(gj),
                           "call_sites": [{"call_site": k, **dict(v)} for k, v in ranked[:top]]}
    return by_group


def _union_ms(spans: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for lo, hi in sorted(spans):
        if end is None or lo > end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def render(summary: dict) -> str:
    out = []
    for group, g in summary.items():
        out.append(f"\n## {group}: {g['spark_jobs']} Spark jobs, {g['in_jobs_s']} s inside jobs "
                   f"(first job start to last job end {g['span_s']} s)\n")
        out.append("| call site | jobs | wall s | tasks | task s | JVM CPU s | input rows | shuffle r/w MB | spill MB | python s |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in g["call_sites"]:
            out.append(f"| {s['call_site']} | {s['jobs']} | {s['wall_ms'] / 1000:.1f} | {s['tasks']} | "
                       f"{s['run_ms'] / 1000:.1f} | {s['cpu_ms'] / 1000:.1f} | {s['input_rows']:,} | {_mb(s['shuffle_read'])}/{_mb(s['shuffle_write'])} | "
                       f"{_mb(s['spill'])} | {s['python_ms'] / 1000:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="an event log file (or a folder: its newest file)")
    ap.add_argument("--top", type=int, default=25, help="call sites shown per greenlink job")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    jobs, stages, _ = read_log(event_files(Path(a.log)))
    summary = summarise(jobs, stages, a.top)
    print(render(summary))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
