"""One SparkSession for the whole test session (test profile: local[2], few partitions)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse):
    from greenlink.session import get_spark

    session = get_spark("test", str(warehouse))
    yield session
    session.stop()


@pytest.fixture
def fresh_warehouse(spark, tmp_path):
    """Point the shared session at an empty warehouse for one test."""
    from greenlink.session import WAREHOUSE_KEY

    before = spark.conf.get(WAREHOUSE_KEY)
    spark.conf.set(WAREHOUSE_KEY, str(tmp_path / "warehouse"))
    yield tmp_path / "warehouse"
    spark.conf.set(WAREHOUSE_KEY, before)
