"""spark-submit entry points (jobs/) and the command that submits them (greenlink.ops.submit)."""
from __future__ import annotations

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from greenlink.core import jars, stages
from greenlink.core.config import STAGES
from greenlink.core.errors import UserError
from greenlink.ops import submit
from greenlink.ops.cli import COMMANDS, PIPELINE, command_module

from paths import ROOT

JOBS = ROOT / "jobs"


def job_command(path: Path) -> str:
    """The command name a jobs/<stage>.py passes to greenlink.ops.cli.main."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "main" and node.args:
            first = node.args[0]
            if isinstance(first, ast.List) and isinstance(first.elts[0], ast.Constant):
                return first.elts[0].value
    raise AssertionError(f"{path} does not call greenlink.ops.cli.main([stage, ...])")


def test_every_command_has_an_entry_point_running_it():
    have = {p.stem: job_command(p) for p in JOBS.glob("[!_]*.py")}
    assert all(stem == cmd for stem, cmd in have.items())
    assert set(COMMANDS) <= set(have), f"add jobs/<command>.py for {sorted(set(COMMANDS) - set(have))}"
    assert set(PIPELINE) <= set(have)


def test_every_registry_stage_has_its_parts():
    """Adding a stage touches its package, one line of core.stages, ops/commands/<name>.py and
    jobs/<name>.py: each stage of the registry has them all, and the registry is the one list."""
    import dataclasses
    import importlib

    assert PIPELINE == list(STAGES) == [s.name for s in stages.STAGES]
    for s in stages.STAGES:
        module = importlib.import_module(s.module)
        assert dataclasses.is_dataclass(module.CONFIG) and module.CONFIG.__dataclass_params__.frozen, s.name
        assert module.CONFIG.__name__.endswith("Config") and callable(module.run), s.name
        assert COMMANDS[s.name] == (s.module, s.help)
        assert command_module(s.name) == f"greenlink.ops.commands.{s.name}"
        command = importlib.import_module(command_module(s.name))
        assert callable(command.configure) and callable(command.main), s.name
        assert (JOBS / f"{s.name}.py").is_file() and job_command(JOBS / f"{s.name}.py") == s.name
    assert stages.UNLOCKED_JOBS and set(stages.UNLOCKED_JOBS) <= stages.LOCK_FREE


def test_entry_point_is_the_cli():
    done = subprocess.run([sys.executable, str(JOBS / "diff.py"), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--from-version" in done.stdout


def test_submit_command_uses_cluster_profile_and_the_jars():
    jars = [Path("/j/delta-spark.jar"), Path("/j/delta-storage.jar")]
    cmd = submit.spark_submit_command("run", ["--all", "--input", "/dumps/2024-06"], master="spark://m:7077",
                                      jars=jars, python="/venv/bin/python", driver_memory="4g",
                                      conf={"spark.sql.shuffle.partitions": "400"})
    assert cmd == ["spark-submit", "--master", "spark://m:7077", "--name", "greenlink-run",
                   "--jars", "/j/delta-spark.jar,/j/delta-storage.jar", "--driver-memory", "4g",
                   "--conf", "spark.sql.shuffle.partitions=400", "--conf", "spark.pyspark.python=/venv/bin/python",
                   str(JOBS / "run.py"), "--all", "--input", "/dumps/2024-06", "--profile", "cluster"]
    pkgs = submit.spark_submit_command("ingest", ["--profile", "local"], master="yarn",
                                       packages=["io.delta:delta-spark_4.2_2.13:4.4.0"])
    assert pkgs[pkgs.index("--packages") + 1] == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert pkgs[-2:] == ["--profile", "local"]
    with pytest.raises(UserError, match="no entry point"):
        submit.spark_submit_command("nope", [], master="yarn", packages=["x:y:1"])
    with pytest.raises(UserError, match="either"):
        submit.spark_submit_command("run", [], master="yarn")
    with pytest.raises(UserError, match="only serve --packages"):
        submit.spark_submit_command("run", [], master="yarn", jars=jars, repositories=["file:///m"])


def test_extra_maven_repositories(tmp_path, monkeypatch):
    (tmp_path / "shared" / "maven").mkdir(parents=True)
    root = tmp_path / "clone"
    root.mkdir()
    # default: ../shared/maven beside the clone, when it exists
    monkeypatch.delenv(jars.REPOS_ENV, raising=False)
    assert jars.repositories(root=root) == [(tmp_path / "shared" / "maven").as_uri()]
    assert jars.repositories(root=tmp_path / "other" / "clone") == []    # no ../shared/maven there
    assert jars.repositories("s3://bucket/m2, ,../shared/maven", root=root) == [
        "s3://bucket/m2", (tmp_path / "shared" / "maven").as_uri()]
    # the effective pom lists Maven Central first, then the extra repositories
    pom = jars._with_repositories(jars.POM, ["file:///m"], tmp_path / "pom.xml")
    urls = [u.text for u in ET.parse(pom).getroot().iter("{http://maven.apache.org/POM/4.0.0}url")]
    assert urls == [jars.MAVEN_CENTRAL, "file:///m"]
    assert jars.coordinates(pom) == jars.coordinates()
    assert "io.graphframes:graphframes-spark4_2.13:0.11.0" in jars.coordinates(pom)


def test_submit_dry_run_prints_the_exact_command(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(submit.MASTER_ENV, "spark://10.0.0.5:7077")
    assert submit.main(["--packages", "--dry-run", "run", "--all", "--input", "/d"]) == 0
    out = capsys.readouterr().out.strip()
    assert "--master spark://10.0.0.5:7077" in out and "--packages io.delta:delta-spark_4.2_2.13:4.4.0" in out
    assert out.endswith("jobs/run.py --all --input /d --profile cluster")
    # GraphFrames beside Delta, and the extra Maven repository that serves it
    repo = tmp_path / "maven"
    repo.mkdir()
    monkeypatch.setenv(jars.REPOS_ENV, f"{repo},https://repo.example.org/maven2,{tmp_path / 'absent'}")
    assert submit.main(["--packages", "--dry-run", "run", "--all"]) == 0
    out = capsys.readouterr().out
    assert "io.delta:delta-spark_4.2_2.13:4.4.0,io.graphframes:graphframes-spark4_2.13:0.11.0" in out
    assert f"--repositories {repo.as_uri()},https://repo.example.org/maven2 " in out
    monkeypatch.delenv(submit.MASTER_ENV)
    assert submit.main(["run", "--all"]) == 2
    assert "no Spark master" in capsys.readouterr().err
    z = submit.build_pyfiles(tmp_path)
    import zipfile

    names = zipfile.ZipFile(z).namelist()
    assert "greenlink/ops/cli.py" in names and "greenlink/bronze/stage.py" in names
