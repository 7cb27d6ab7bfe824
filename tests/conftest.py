"""Shared by tests/unit/ and tests/integration/: one SparkSession for the whole test session
(test profile: local[2], few partitions), the generated world and the whole-pipeline warehouse
(integration tests only), and the `slow` marker: set on every test of tests/integration/ (from
the folder) and written on the unit tests that take seconds on purpose (GraphFrames' iterations,
Monte Carlo at the study's shape, every article table). `make test-unit` runs tests/unit/ without
them; `make test` runs everything. A unit test left unmarked that takes more than
UNIT_SECONDS is named at the end of the run, so the fast tier stays fast."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

INTEGRATION = Path(__file__).resolve().parent / "integration"
UNIT = Path(__file__).resolve().parent / "unit"
# Fixtures that generate a world or run the whole pipeline (minutes each): integration tests only.
WORLD_FIXTURES = frozenset({"generated_world", "pipeline_warehouse", "reference_warehouse"})


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test of tests/integration/ (a stage run, a generated world, "
                                       "the whole pipeline, a cluster, killed processes, notebooks, monthly "
                                       "runs; set by conftest.py from the folder) or a unit test that takes "
                                       "seconds on purpose (written on it); `make test-unit` leaves them out")


def pytest_collection_modifyitems(config, items):
    """Mark tests/integration/ `slow`; refuse a unit test that needs a generated world (it would
    make `make test-unit` wait for the world: such a test belongs in tests/integration/)."""
    misplaced = []
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.slow)
        elif UNIT in item.path.parents and WORLD_FIXTURES & set(getattr(item, "fixturenames", ())):
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError("unit tests that need a generated world (move them to tests/integration/): "
                                + ", ".join(misplaced))


# A unit test not marked slow should take about a second (its Spark jobs on a few rows); above this
# it is named at the end of the run (make it cheaper, mark it slow, or move a stage run to integration).
UNIT_SECONDS = 5.0
_slow_unit: list[tuple[float, str]] = []


def pytest_runtest_logreport(report):
    if (report.when == "call" and report.duration > UNIT_SECONDS and "slow" not in report.keywords
            and f"{UNIT.name}/" in report.nodeid.replace("\\", "/")):
        _slow_unit.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter):
    if _slow_unit:
        terminalreporter.section(f"unit tests not marked slow that took over {UNIT_SECONDS:.0f} s")
        for seconds, nodeid in sorted(_slow_unit, reverse=True):
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}")


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse):
    from greenlink.core.session import get_spark

    session = get_spark("test", str(warehouse))
    yield session
    session.stop()


@pytest.fixture
def fresh_warehouse(spark, tmp_path):
    """Point the shared session at an empty warehouse for one test."""
    from greenlink.core.session import WAREHOUSE_KEY

    before = spark.conf.get(WAREHOUSE_KEY)
    spark.conf.set(WAREHOUSE_KEY, str(tmp_path / "warehouse"))
    yield tmp_path / "warehouse"
    spark.conf.set(WAREHOUSE_KEY, before)


# One generated world for every test that needs a whole world (generating costs ~1-2 min):
# 5,000 patents, network intensity boosted so every year has edges (docs/generator.md).
WORLD_PATENTS, WORLD_SEED = 5_000, 5
WORLD_OVERRIDES = {"network": {"intensity_boost": 2}}


@pytest.fixture(scope="session")
def generated_world(spark, tmp_path_factory):
    """Path of the shared generated world (raw inputs + truth/). Treat it as read-only."""
    from greenlink.synth.world import generate

    out = tmp_path_factory.mktemp("gen") / "world"
    generate(spark, out, WORLD_PATENTS, WORLD_SEED, overrides=WORLD_OVERRIDES)
    return out


class ReferenceWarehouse(NamedTuple):
    path: Path                   # warehouse root
    stages: tuple[str, ...]      # the pipeline stages that built it


@pytest.fixture(scope="session")
def reference_warehouse(pipeline_warehouse) -> ReferenceWarehouse:
    """A clean local run on `generated_world` (the whole pipeline, `pipeline_warehouse`), the
    reference other runs must equal (cluster run, recovery after a kill). Read-only.
    `stages` are the stages that succeeded in it, in the order they ran (from its _meta.runs)."""
    from greenlink.ops.analyst import read_table
    from greenlink.ops.cli import COMMANDS

    runs = read_table(pipeline_warehouse, "_meta.runs").sort_values("at")
    done = set(runs[(runs["event"] == "end") & (runs["status"] == "succeeded")]["job"])
    started = runs[runs["event"] == "start"]["job"].drop_duplicates()
    return ReferenceWarehouse(pipeline_warehouse,
                              tuple(s for s in started if s in done and s in COMMANDS and s != "run"))


@pytest.fixture(scope="session")
def use_warehouse(spark):
    """`with use_warehouse(path):` points the shared session at another warehouse for a block."""
    from contextlib import contextmanager

    from greenlink.core.session import WAREHOUSE_KEY

    @contextmanager
    def _use(path):
        before = spark.conf.get(WAREHOUSE_KEY)
        spark.conf.set(WAREHOUSE_KEY, str(path))
        try:
            yield Path(path)
        finally:
            spark.conf.set(WAREHOUSE_KEY, before)

    return _use


# Stages the pipeline fixture runs, in cli.PIPELINE order; estimation is left to the tests that
# need it (it reads the panel and writes only reports).
PIPELINE_FIXTURE_SKIPS = ("estimate",)


def pipeline_fixture_stages() -> list[str]:
    from greenlink.ops.cli import PIPELINE

    stages = [s for s in PIPELINE if s not in PIPELINE_FIXTURE_SKIPS]
    return stages if "panel" in stages else [*stages, "panel"]


@pytest.fixture(scope="session")
def pipeline_warehouse(spark, generated_world, tmp_path_factory, use_warehouse) -> Path:
    """The whole pipeline (ingest, classify, policy, controls, networks, panel) run ONCE on
    `generated_world` into its own warehouse, as `greenlink run` chains the stages (one parent
    `run` row in _meta.runs). Returns the warehouse root; reports are in <root>/../reports.
    Read-only: switch to it with `use_warehouse(pipeline_warehouse)`; a test that writes must
    copy it first (CI has 2 cores: the pipeline runs once per test session)."""
    from greenlink.ops.pipeline import PipelineConfig, run_stages

    wh = tmp_path_factory.mktemp("pipeline") / "warehouse"
    config = PipelineConfig(reports=str(wh.parent / "reports"), input=str(generated_world))
    with use_warehouse(wh):
        run_stages(spark, pipeline_fixture_stages(), config)
    return wh
