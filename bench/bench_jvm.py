"""The whole pipeline under other JVMs: JDK 17, JDK 25, and JDK 25 with an ahead-of-time cache (not a test).

    .venv/bin/python bench/bench_jvm.py --world /tmp/demo/world --root /tmp/bench_jvm \
        --jdk17 /usr/lib/jvm/java-17-openjdk-amd64 --jdk25 /usr/lib/jvm/temurin-25-jdk-amd64 \
        [--rounds 2] [--json OUT.json]

Each configuration runs `greenlink run --all` on WORLD in a fresh process (fresh JVM) into a fresh
warehouse, its driver's JVM chosen by JAVA_HOME. The AOT configuration (JEPs 483/514/515: class
loading and linking, and method profiles, recorded once and mapped at start) first makes its
cache with a training run of the same pipeline (`-XX:AOTCacheOutput=ROOT/spark.aot`, written when
the JVM exits), then runs with `-XX:AOTCache=ROOT/spark.aot`; both through a copy of the local
profile with `driver_java_options`. Rounds run the configurations in ABBA order. Prints, and
writes with --json, the wall time of each run and of each stage (from the `succeeded in` lines),
the training run's time and the cache's size, and the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
GREENLINK = Path(sys.executable).with_name("greenlink")
_DONE = re.compile(r"greenlink (\w+): succeeded in ([0-9.]+)s")


def profile_with(root: Path, name: str, java_options: str | None) -> Path:
    """A copy of conf/profiles/local.yaml with `driver_java_options`."""
    from greenlink.core.paths import CONF_DIR

    data = yaml.safe_load((CONF_DIR / "profiles" / "local.yaml").read_text(encoding="utf-8"))
    data["name"] = name
    if java_options:
        data["driver_java_options"] = java_options
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(root: Path, world: Path, tag: str, java_home: str, profile: Path) -> dict:
    wh, reports, log = root / f"wh_{tag}", root / f"reports_{tag}", root / f"{tag}.log"
    shutil.rmtree(wh, ignore_errors=True)
    shutil.rmtree(reports, ignore_errors=True)
    env = {**os.environ, "JAVA_HOME": java_home}
    t = time.monotonic()
    with log.open("w") as out:
        subprocess.run([str(GREENLINK), "run", "--all", "--input", str(world), "--warehouse", str(wh),
                        "--reports", str(reports), "--profile", str(profile)],
                       env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall = time.monotonic() - t
    stages = {m.group(1): float(m.group(2)) for m in _DONE.finditer(log.read_text(encoding="utf-8"))}
    entry = {"tag": tag, "wall_s": round(wall, 1), "run_s": stages.pop("run", None), "stages_s": stages,
             "load_1min": os.getloadavg()[0]}
    print(json.dumps(entry), file=sys.stderr, flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--root", default="/tmp/bench_jvm")
    ap.add_argument("--jdk17", required=True, help="JAVA_HOME of the JDK 17")
    ap.add_argument("--jdk25", required=True, help="JAVA_HOME of the JDK 25")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    root, world = Path(a.root).resolve(), Path(a.world).resolve()
    root.mkdir(parents=True, exist_ok=True)
    cache = root / "spark.aot"
    cache.unlink(missing_ok=True)
    plain = profile_with(root, "plain", None)
    training = profile_with(root, "aot_training", f"-XX:AOTCacheOutput={cache}")
    with_cache = profile_with(root, "aot", f"-XX:AOTCache={cache}")
    result: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "world": str(world), "runs": []}
    t = time.monotonic()
    result["training"] = run(root, world, "aot_training", a.jdk25, training)
    # the cache is assembled by a child JVM after the training JVM exits: wait until it is there
    # and has stopped growing
    size = -1
    while time.monotonic() - t < 900:
        time.sleep(5)
        now = cache.stat().st_size if cache.exists() else -1
        if now > 0 and now == size:
            break
        size = now
    result["training"]["until_cache_s"] = round(time.monotonic() - t, 1)
    result["cache_bytes"] = cache.stat().st_size if cache.exists() else None
    configs = [("jdk17", a.jdk17, plain), ("jdk25", a.jdk25, plain), ("jdk25_aot", a.jdk25, with_cache)]
    for r in range(a.rounds):
        for name, home, prof in (configs if r % 2 == 0 else configs[::-1]):
            result["runs"].append({"config": name, **run(root, world, f"{name}_{r + 1}", home, prof)})
    text = json.dumps(result, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
