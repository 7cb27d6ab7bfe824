"""Where a stage's JVM time goes, frame by frame: Java Flight Recorder over a greenlink run (not a test).

    .venv/bin/python bench/profile_jfr.py --patents 1000000 --seed 1 --root /tmp/b1m --reuse-world \
        --stages ingest,classify [--top 15] [--json OUT.json] [--markdown OUT.md]

Runs the stages (as bench/bench_pipeline.py does: ingest forced) in one SparkSession while the
JDK's own Flight Recorder samples every thread (its `profile` settings: an execution sample per
thread every 10-20 ms), started through the JVM's `jdk.jfr` API just after the session starts and
dumped to ROOT/jfr/ when the stages end. Every `Run.phase` of the stages, and each stage as a
whole, is a time window; bench/JfrFrames.java (run by `java` as a single-file program) counts the
samples of Spark's task threads ("Executor task …", `TASK_THREADS`) in each window by frame:

- self: the frame on top of the stack (where the CPU is);
- inclusive: the frame anywhere in the stack (the work it stands for, callees included);
- kinds: each sample counted once, under the kind of its innermost marked frame (regex, case
  mapping, CSV parsing, sort, shuffle write, cached batches, Parquet, generated code, …;
  `KINDS`): a regex called by generated code inside a cache build is regex.

Prints one table per window (markdown) and writes the whole tally as JSON; `--recording FILE.jfr`
summarises an earlier recording again (its windows file beside it). Samples are of
threads that were running Java code; time a task spends waiting on Python or on disk does not
show as samples. Needs a world at ROOT/world (generated first unless --reuse-world finds one).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import run_pipeline, world_options  # noqa: E402  (bench/ helpers, not a package)

HERE = Path(__file__).resolve().parent
# Spark's task threads: "Executor task launch worker-N", or "Executor task idle worker#N" when the
# recording first saw the thread idle in the pool (short runs, the test profile)
TASK_THREADS = "Executor task "

# (kind, frame substrings). A sample's kind is that of the innermost frame (from the top of its
# stack) holding one of the substrings; where one frame matches several, the first kind listed wins.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("java.util.regex", ("java.util.regex.", "RegExpUtils")),
    ("translate", ("UTF8String.translate", "StringTranslate")),
    ("upper/lower case (ICU, locale)", ("toUpperCase", "toLowerCase", "com.ibm.icu.", "sun.util.locale.",
                                        "CollationSupport$Upper", "CollationSupport$Lower")),
    ("date parsing", ("DateFormatter", "TimestampFormatter", "java.time.")),
    ("sha2 / digest", ("MessageDigest", "DigestUtils", "sun.security.provider.")),
    ("CSV parsing (from_csv)", ("univocity", "UnivocityParser", "CSVExprUtils")),
    ("JSON (to_json)", ("Jackson",)),
    ("UTF-8 validation / decoding", ("UTF8String.makeValid", "UTF8String.isValid", "CharsetDecoder",
                                     "StringCoding", "String.decode")),
    ("sort", ("UnsafeExternalSorter", "UnsafeInMemorySorter", "TimSort", "RadixSort", "UnsafeKVExternalSorter",
              "UnsafeExternalRowSorter", "util.collection.unsafe.sort.")),
    ("hash aggregate / join maps", ("BytesToBytesMap", "UnsafeFixedWidthAggregationMap", "ObjectAggregationMap",
                                    "UnsafeHashedRelation", "LongHashedRelation", "execution.aggregate.")),
    ("compression (lz4/zstd/snappy)", ("net.jpountz.", "com.github.luben.", "org.xerial.snappy.",
                                       "io.airlift.compress.")),
    ("shuffle read", ("ShuffleBlockFetcherIterator", "BlockStoreShuffleReader")),
    ("shuffle write", ("org.apache.spark.shuffle.", "UnsafeRowSerializer", "ShuffleWriteProcessor")),
    ("cached batches (build/read)", ("org.apache.spark.sql.execution.columnar.", "org.apache.spark.storage.",
                                     "InMemoryRelation", "CachedRDDBuilder")),
    # one kind: a phase either reads Parquet or writes it, and writer and reader share classes
    ("Parquet (encoding, decoding)", ("org.apache.parquet.", "execution.datasources.parquet.", "fastutil")),
    ("Delta (stats, commit)", ("org.apache.spark.sql.delta.",)),
    ("Python workers (Arrow)", ("org.apache.spark.api.python.", "execution.python.", "ArrowWriter",
                                "org.apache.arrow.")),
    ("generated code", ("GeneratedClass",)),
    ("Spark expressions and rows", ("org.apache.spark.sql.catalyst.", "org.apache.spark.unsafe.")),
)
# Frames every task holds (thread pool, task runner, iterators): left out of the inclusive ranking.
SCAFFOLDING = ("java.lang.Thread.", "java.util.concurrent.", "org.apache.spark.executor.",
               "org.apache.spark.scheduler.", "org.apache.spark.util.Utils", "org.apache.spark.util.SparkErrorUtils",
               "org.apache.spark.TaskContext", "org.apache.spark.rdd.", "scala.collection.", "$$Lambda",
               "BufferedRowIterator", "WholeStageCodegenEvaluatorFactory", "InterruptibleIterator",
               "CompletionIterator", "NextIterator", "org.apache.spark.util.collection.Utils",
               "org.apache.spark.storage.", "org.apache.spark.serializer.", "scala.runtime.",
               "org.apache.spark.sql.execution.columnar.CachedRDDBuilder",
               "org.apache.spark.sql.execution.columnar.DefaultCachedBatchSerializer$$anon")


@contextmanager
def recording(spark, path: Path):
    """A Flight Recording with the JDK's `profile` settings around the block, dumped to `path`."""
    jvm = spark.sparkContext._jvm
    rec = jvm.jdk.jfr.Recording(jvm.jdk.jfr.Configuration.getConfiguration("profile"))
    rec.setName("greenlink-bench")
    rec.start()
    try:
        yield
    finally:
        rec.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        rec.dump(jvm.java.io.File(str(path)).toPath())
        rec.close()


@contextmanager
def phase_windows(windows: list[tuple[str, int, int]]):
    """Record every `Run.phase` as (`<job>.<phase>`, start ms, end ms) while the block runs."""
    from greenlink.core import runs

    original = runs.Run.phase

    @contextmanager
    def timed(self, name):
        t0 = int(time.time() * 1000)
        with original(self, name):
            yield
        windows.append((f"{self.job}.{name}", t0, int(time.time() * 1000)))

    runs.Run.phase = timed
    try:
        yield
    finally:
        runs.Run.phase = original


def frames(jfr: Path, windows: list[tuple[str, int, int]], threads: str) -> dict:
    tsv = jfr.with_suffix(".windows.tsv")
    tsv.write_text("".join(f"{n}\t{a}\t{b}\n" for n, a, b in windows), encoding="utf-8")
    kinds = jfr.with_suffix(".kinds.tsv")
    kinds.write_text("".join(f"{k}\t{m}\n" for k, markers in KINDS for m in markers), encoding="utf-8")
    java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    out = subprocess.run([str(java), "-Xmx4g", str(HERE / "JfrFrames.java"), str(jfr), str(tsv), str(kinds), threads],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def summarise(tally: dict, top: int) -> dict:
    n = max(tally["samples"], 1)

    def ranked(m: dict) -> list[tuple[str, float]]:
        return [(f, round(100 * c / n, 1)) for f, c in sorted(m.items(), key=lambda kv: -kv[1])[:top]]

    inclusive = {f: c for f, c in tally["inclusive"].items() if not any(x in f for x in SCAFFOLDING)}
    return {"samples": tally["samples"], "kinds": dict(ranked(tally["kinds"] | {})[:len(KINDS) + 1]),
            "self": ranked(tally["self"]), "inclusive": ranked(inclusive)}


def markdown(summary: dict, windows: list[tuple[str, int, int]]) -> str:
    secs = {name: round((b - a) / 1000, 1) for name, a, b in windows}
    lines = []
    for name, s in summary.items():
        lines.append(f"#### {name} ({s['samples']:,} task-thread samples"
                     + (f", {secs[name]} s wall" if name in secs else "") + ")\n")
        lines.append("| kind (innermost frame) | % |\n| --- | ---: |")
        lines += [f"| {k} | {v} |" for k, v in s["kinds"].items() if v >= 0.5]
        lines.append("\n| self frame | % | inclusive frame | % |\n| --- | ---: | --- | ---: |")
        for (sf, sp), (inf, ip) in zip(s["self"], s["inclusive"]):
            lines.append(f"| `{sf}` | {sp} | `{inf}` | {ip} |")
        lines.append("")
    return "\n".join(lines)


def read_windows(jfr: Path) -> list[tuple[str, int, int]]:
    rows = [line.split("\t") for line in jfr.with_suffix(".windows.tsv").read_text(encoding="utf-8").splitlines()]
    return [(n, int(a), int(b)) for n, a, b in rows]


def report(jfr: Path, a: argparse.Namespace) -> int:
    """Tables of an existing recording (the windows it was made with)."""
    windows = read_windows(jfr)
    tally = frames(jfr, windows, a.threads)
    wanted = a.windows.split(",") if a.windows else [n for n, _, _ in windows]
    summary = {n: summarise(tally["windows"][n], a.top) for n in wanted if n in tally["windows"]}
    text = markdown(summary, windows)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"recording": str(jfr), "threads": a.threads, "windows": summary},
                                           indent=1) + "\n", encoding="utf-8")
    if a.markdown:
        Path(a.markdown).write_text(text + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world_options(ap)
    ap.add_argument("--stages", default="ingest,classify")
    ap.add_argument("--threads", default=TASK_THREADS, help="thread name prefix of the samples counted ('' = all)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--recording", default=None, metavar="JFR",
                    help="summarise an earlier recording of this tool (its .windows.tsv beside it) instead of running")
    ap.add_argument("--windows", default=None, help="with --recording: only these windows (comma-separated)")
    a = ap.parse_args(argv)
    if a.recording:
        return report(Path(a.recording), a)


    from greenlink.core.session import get_spark
    from greenlink.ops.cli import PIPELINE
    from greenlink.ops.pipeline import PipelineConfig
    from greenlink.synth.world import generate

    stages = [s for s in PIPELINE if s in a.stages.split(",")]
    unknown = set(a.stages.split(",")) - set(PIPELINE)
    if unknown or not stages:
        ap.error(f"--stages: unknown or none ({', '.join(sorted(unknown))}); stages: {', '.join(PIPELINE)}")
    root = Path(a.root)
    world, warehouse = root / "world", root / "warehouse"
    spark = get_spark(a.profile, str(warehouse))
    if not (a.reuse_world and (world / "MANIFEST.json").exists()):
        generate(spark, world, a.patents, a.seed)
    config = PipelineConfig(reports=str(root / "reports"), input=str(world))
    jfr = root / "jfr" / f"{'_'.join(stages)}_{time.strftime('%Y%m%dT%H%M%S')}.jfr"
    windows: list[tuple[str, int, int]] = []
    with recording(spark, jfr), phase_windows(windows):
        timings = {}
        for stage in stages:
            t0 = int(time.time() * 1000)
            timings.update(run_pipeline(spark, [stage], config))
            windows.append((stage, t0, int(time.time() * 1000)))
    tally = frames(jfr, windows, a.threads)
    order = [s for s in stages] + [n for n, _, _ in windows if n not in stages]
    summary = {name: summarise(tally["windows"][name], a.top) for name in order if name in tally["windows"]}
    text = markdown(summary, windows)
    print(text)
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "patents": a.patents, "seed": a.seed,
              "recording": str(jfr), "threads": a.threads, "stages": timings, "windows": summary,
              "load_avg_1min": os.getloadavg()[0]}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if a.markdown:
        Path(a.markdown).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
