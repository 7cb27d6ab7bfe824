"""JVM jars: resolve the Maven coordinates of jars/pom.xml once, at set-up time.

`python -m greenlink.core.jars fetch` asks Maven for the runtime closure of the pom into a
project-local cache, then drops every artifact the PySpark distribution already ships
(Hadoop, Jackson, Parquet, Scala, logging), so that Spark's own versions are the only
ones on the classpath. The session hands the remaining files (Delta, GraphFrames and its
graphx jar) to `spark.jars`; nothing is downloaded at run time.

Repositories: Maven Central first, then the extra repositories of $GREENLINK_MAVEN_REPOS
(comma-separated URLs or paths; relative paths are taken from the project root; default
`../shared/maven`, the file repository that serves GraphFrames for Spark 4 beside a
clone). A path that does not exist is skipped. `python -m greenlink.core.jars packages` /
`repositories` print the coordinates and the extra repositories for `spark-submit
--packages ... --repositories ...` on a cluster.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from greenlink.core.errors import UserError
from greenlink.core.paths import JAR_CACHE, POM, PROJECT_ROOT

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
MANIFEST = "MANIFEST.json"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
REPOS_ENV = "GREENLINK_MAVEN_REPOS"
DEFAULT_REPOS = "../shared/maven"


def coordinates(pom: Path = POM) -> list[str]:
    """group:artifact:version of each direct dependency in the pom."""
    root = ET.parse(pom).getroot()
    return [
        ":".join(d.find(f"m:{k}", _NS).text.strip() for k in ("groupId", "artifactId", "version"))
        for d in root.findall("m:dependencies/m:dependency", _NS)
    ]


def repositories(spec: str | None = None, root: Path = PROJECT_ROOT) -> list[str]:
    """The extra Maven repositories as URLs, in order: `spec` (default $GREENLINK_MAVEN_REPOS,
    else DEFAULT_REPOS) split on commas; a URL is kept as given, a path (relative to `root`)
    becomes a file:// URL when the folder exists and is skipped otherwise."""
    spec = os.environ.get(REPOS_ENV, DEFAULT_REPOS) if spec is None else spec
    urls = []
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        if "://" in item:
            urls.append(item)
            continue
        path = (root / Path(item).expanduser()).resolve()
        if path.is_dir():
            urls.append(path.as_uri())
    return list(dict.fromkeys(urls))


def _with_repositories(pom: Path, urls: Sequence[str], dest: Path) -> Path:
    """A copy of `pom` at `dest` that lists Maven Central first, then `urls` (Maven tries
    declared repositories in order; the id `central` replaces the built-in one)."""
    ET.register_namespace("", _NS["m"])
    tree = ET.parse(pom)
    root = tree.getroot()
    for old in root.findall("m:repositories", _NS):
        root.remove(old)
    repos = ET.SubElement(root, f"{{{_NS['m']}}}repositories")
    for i, url in enumerate([MAVEN_CENTRAL, *urls]):
        repo = ET.SubElement(repos, f"{{{_NS['m']}}}repository")
        ET.SubElement(repo, f"{{{_NS['m']}}}id").text = "central" if i == 0 else f"extra{i}"
        ET.SubElement(repo, f"{{{_NS['m']}}}url").text = url
    tree.write(dest, xml_declaration=True, encoding="UTF-8")
    return dest


def _artifact_name(jar: str) -> str:
    """`jackson-core-2.13.5.jar` -> `jackson-core` (version and classifier stripped)."""
    return re.sub(r"-\d[\w.\-]*\.jar$", "", jar)


def _spark_jar_names() -> set[str]:
    import pyspark  # local: only `make setup` needs PySpark's jar list

    return {_artifact_name(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}


def fetch(cache: Path = JAR_CACHE, pom: Path = POM, repos: Sequence[str] | None = None) -> list[Path]:
    """Resolve the pom with Maven into `cache` (Maven Central, then `repos`, default
    `repositories()`); returns the jar files kept."""
    if shutil.which("mvn") is None:
        raise UserError("Maven (mvn) is needed once at set-up to fetch the Delta and GraphFrames jars; "
                        "install it and rerun `make setup`")
    repos = repositories() if repos is None else list(repos)
    with tempfile.TemporaryDirectory() as tmp:
        jars_dir = Path(tmp) / "jars"
        effective = _with_repositories(pom, repos, Path(tmp) / "pom.xml")
        cmd = ["mvn", "-q", "-B", "-f", str(effective), "dependency:copy-dependencies",
               f"-DoutputDirectory={jars_dir}", "-DincludeScope=runtime"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise UserError(f"Maven could not resolve jars/pom.xml from {', '.join([MAVEN_CENTRAL, *repos])} "
                            f"(extra repositories: ${REPOS_ENV}, default {DEFAULT_REPOS}): " + " | ".join(tail))
        provided = _spark_jar_names()
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("*.jar"):
            old.unlink()
        kept, dropped = [], []
        for jar in sorted(jars_dir.glob("*.jar")):
            if _artifact_name(jar.name) in provided:
                dropped.append(jar.name)
                continue
            shutil.copy2(jar, cache / jar.name)
            kept.append(cache / jar.name)
    manifest = {
        "coordinates": coordinates(pom),
        "repositories": [MAVEN_CENTRAL, *repos],
        "jars": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in kept},
        "dropped_as_provided_by_pyspark": dropped,
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return kept


def local_jars(cache: Path = JAR_CACHE) -> list[Path]:
    """The cached jar files, checked against the manifest written by `fetch`."""
    manifest = cache / MANIFEST
    if not manifest.exists():
        raise UserError(f"no Spark jars in {cache}: run `make setup` (python -m greenlink.core.jars fetch) first")
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
    elif args == ["repositories"]:
        print(",".join(repositories()))
    else:
        print("usage: python -m greenlink.core.jars fetch|packages|repositories", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"greenlink: {exc}", file=sys.stderr)
        sys.exit(2)
