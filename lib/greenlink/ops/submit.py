"""`python -m greenlink.ops.submit [options] STAGE [stage options]`: a stage on a Spark cluster.

Builds the spark-submit command of `jobs/<STAGE>.py` (the thin entry point of `greenlink
STAGE`) and runs it; `--dry-run` prints it instead. README "Cluster and scheduling",
ops/submit.sh, the cron entry, the Airflow DAG and tests/integration/test_cluster.py all go through
this one function, so they cannot drift apart.

- master: `--master URL` or $GREENLINK_MASTER (e.g. spark://127.0.0.1:7077, yarn);
- JVM jars (Delta, GraphFrames and its graphx jar): the files of the project-local cache
  (.cache/jars, `make setup`) as `--jars`, or `--packages` to let the cluster resolve the
  Maven coordinates of jars/pom.xml, with `--repositories` naming the extra repositories of
  $GREENLINK_MAVEN_REPOS (default ../shared/maven, which serves GraphFrames for Spark 4);
- code: the installed package by default (the same venv on every node, named by
  `--python`), or `--py-files` to ship lib/greenlink as a zip (conf/ is read by the driver);
- the stage runs with `--profile cluster` unless another profile is given: the session
  then takes master, jars and resources from spark-submit (greenlink.core.session).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import greenlink
from greenlink import __version__
from greenlink.core.errors import UserError
from greenlink.core.jars import coordinates, local_jars, repositories
from greenlink.core.paths import CONF_DIR, JAR_CACHE, PROJECT_ROOT

JOBS_DIR = PROJECT_ROOT / "jobs"
MASTER_ENV = "GREENLINK_MASTER"


def job_file(stage: str, jobs_dir: Path = JOBS_DIR) -> Path:
    """jobs/<stage>.py, the spark-submit entry point of `greenlink <stage>`."""
    path = jobs_dir / f"{stage}.py"
    if not path.exists():
        known = sorted(p.stem for p in jobs_dir.glob("[!_]*.py"))
        raise UserError(f"no entry point {path} for stage {stage!r}; entry points: {', '.join(known)}")
    return path


def spark_submit_binary() -> str:
    """$SPARK_HOME/bin/spark-submit when SPARK_HOME is set (a cluster's own Spark), else the
    one of the PySpark distribution installed with greenlink."""
    home = os.environ.get("SPARK_HOME")
    if not home:
        import pyspark  # local: only without SPARK_HOME

        home = os.path.dirname(pyspark.__file__)
    return os.path.join(home, "bin", "spark-submit")


def with_profile(stage_args: Sequence[str], profile: str = "cluster") -> list[str]:
    """The stage's options, with `--profile cluster` added unless a profile is given."""
    args = list(stage_args)
    if not any(a == "--profile" or a.startswith("--profile=") for a in args):
        args += ["--profile", profile]
    return args


def spark_submit_command(stage: str, stage_args: Sequence[str], *, master: str,
                         jars: Sequence[Path] = (), packages: Sequence[str] = (),
                         repositories: Sequence[str] = (), py_files: Path | None = None, python: str | None = None,
                         driver_memory: str | None = None, conf: Mapping[str, str] | None = None,
                         spark_submit: str = "spark-submit", jobs_dir: Path = JOBS_DIR) -> list[str]:
    """The spark-submit argv of one stage (pure: builds a list, runs nothing)."""
    if bool(jars) == bool(packages):
        raise UserError("give the JVM jars either as local files (--jars) or as Maven coordinates (--packages)")
    if repositories and not packages:
        raise UserError("--repositories only serve --packages")
    cmd = [spark_submit, "--master", master, "--name", f"greenlink-{stage}"]
    cmd += ["--jars", ",".join(str(j) for j in jars)] if jars else ["--packages", ",".join(packages)]
    if repositories:
        cmd += ["--repositories", ",".join(repositories)]
    if py_files is not None:
        cmd += ["--py-files", str(py_files)]
    if driver_memory:
        cmd += ["--driver-memory", driver_memory]
    settings = dict(conf or {})
    if python:
        settings.setdefault("spark.pyspark.python", python)     # driver and executors: the venv with greenlink
    for key, value in settings.items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + [str(job_file(stage, jobs_dir)), *with_profile(stage_args)]


def build_pyfiles(dest_dir: Path) -> Path:
    """lib/greenlink as a zip for `--py-files` (sources only)."""
    src = Path(greenlink.__file__).parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"greenlink-{__version__}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*.py")):
            z.write(f, Path("greenlink") / f.relative_to(src))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m greenlink.ops.submit", description=__doc__.splitlines()[0])
    p.add_argument("--master", default=os.environ.get(MASTER_ENV),
                   help=f"Spark master URL (default: ${MASTER_ENV})")
    p.add_argument("--packages", action="store_true",
                   help="resolve the Delta and GraphFrames jars from Maven on the cluster (Maven Central, then "
                        "$GREENLINK_MAVEN_REPOS) instead of shipping .cache/jars")
    p.add_argument("--py-files", action="store_true", help="ship lib/greenlink as a zip (--py-files)")
    p.add_argument("--python", default=sys.executable,
                   help="Python with greenlink installed on every node (default: this one)")
    p.add_argument("--driver-memory", default=None)
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.add_argument("stage", help="a greenlink command with an entry point in jobs/ (run, ingest, …)")
    p.add_argument("stage_args", nargs=argparse.REMAINDER, help="options of `greenlink STAGE`")
    return p


def command_from_args(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) for parsed submit options."""
    if not args.master:
        raise UserError(f"no Spark master: pass --master URL or set {MASTER_ENV}")
    conf = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--conf {item!r} must be KEY=VALUE")
        conf[key] = value
    env = {}
    py_files = None
    if args.py_files:
        py_files = build_pyfiles(JAR_CACHE.parent / "pyfiles")
        env["GREENLINK_CONF"] = str(CONF_DIR)       # the zipped package has no conf/ beside it
    cmd = spark_submit_command(
        args.stage, args.stage_args, master=args.master,
        jars=() if args.packages else local_jars(), packages=coordinates() if args.packages else (),
        repositories=repositories() if args.packages else (),
        py_files=py_files, python=args.python, driver_memory=args.driver_memory, conf=conf,
        spark_submit=spark_submit_binary())
    return cmd, env


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cmd, env = command_from_args(args)
    except UserError as exc:
        print(f"greenlink submit: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + (" " if env else "")
              + shlex.join(cmd))
        return 0
    return subprocess.run(cmd, env={**os.environ, **env}).returncode


if __name__ == "__main__":
    sys.exit(main())
