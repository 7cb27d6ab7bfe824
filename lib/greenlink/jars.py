"""JVM jars: resolve the Maven coordinates of jars/pom.xml once, at set-up time.

`python -m greenlink.jars fetch` asks Maven for the runtime closure of the pom into a
project-local cache, then drops every artifact the PySpark distribution already ships
(Hadoop, Jackson, Parquet, Scala, logging), so that Spark's own versions are the only
ones on the classpath. The session hands the remaining files to `spark.jars`; nothing
is downloaded at run time. `python -m greenlink.jars packages` prints the same
coordinates for `spark-submit --packages` on a cluster.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from greenlink.errors import UserError
from greenlink.paths import JAR_CACHE, POM

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
MANIFEST = "MANIFEST.json"


def coordinates(pom: Path = POM) -> list[str]:
    """group:artifact:version of each direct dependency in the pom."""
    root = ET.parse(pom).getroot()
    return [
        ":".join(d.find(f"m:{k}", _NS).text.strip() for k in ("groupId", "artifactId", "version"))
        for d in root.findall("m:dependencies/m:dependency", _NS)
    ]


def _artifact_name(jar: str) -> str:
    """`jackson-core-2.13.5.jar` -> `jackson-core` (version and classifier stripped)."""
    return re.sub(r"-\d[\w.\-]*\.jar$", "", jar)


def _spark_jar_names() -> set[str]:
    import pyspark

    return {_artifact_name(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}


def fetch(cache: Path = JAR_CACHE, pom: Path = POM) -> list[Path]:
    """Resolve the pom with Maven into `cache`; returns the jar files kept."""
    if shutil.which("mvn") is None:
        raise UserError("Maven (mvn) is needed once at set-up to fetch the Delta jars; install it and rerun `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
               f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise UserError("Maven could not resolve jars/pom.xml: " + " | ".join(tail))
        provided = _spark_jar_names()
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("*.jar"):
            old.unlink()
        kept, dropped = [], []
        for jar in sorted(Path(tmp).glob("*.jar")):
            if _artifact_name(jar.name) in provided:
                dropped.append(jar.name)
                continue
            shutil.copy2(jar, cache / jar.name)
            kept.append(cache / jar.name)
    manifest = {
        "coordinates": coordinates(pom),
        "jars": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in kept},
        "dropped_as_provided_by_pyspark": dropped,
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return kept


def local_jars(cache: Path = JAR_CACHE) -> list[Path]:
    """The cached jar files, checked against the manifest written by `fetch`."""
    manifest = cache / MANIFEST
    if not manifest.exists():
        raise UserError(f"no Spark jars in {cache}: run `make setup` (python -m greenlink.jars fetch) first")
    names = json.loads(manifest.read_text())["jars"]
    missing = [n for n in names if not (cache / n).exists()]
    if missing:
        raise UserError(f"jar cache {cache} is incomplete ({', '.join(missing)}): rerun `make setup`")
    return [cache / n for n in names]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["fetch"]:
        kept = fetch()
        print(f"greenlink: {len(kept)} jars in {JAR_CACHE} for {', '.join(coordinates())}")
    elif args == ["packages"]:
        print(",".join(coordinates()))
    else:
        print("usage: python -m greenlink.jars fetch|packages", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"greenlink: {exc}", file=sys.stderr)
        sys.exit(2)
