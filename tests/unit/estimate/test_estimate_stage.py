"""The estimate stage without a panel: a missing panel is one line (the stage on the pipeline
warehouse: tests/integration/test_estimate_stage_world.py)."""
from __future__ import annotations

import pytest

from greenlink.core import tables
from greenlink.core.errors import UserError
from greenlink.estimate.stage import EstimateConfig, run
from greenlink.estimate.tables import ESTIMATES


def test_missing_panel_is_one_line(spark, fresh_warehouse):
    with pytest.raises(UserError, match="gold.city_year_panel not found"):
        run(spark, EstimateConfig())
    assert not tables.exists(spark, ESTIMATES.name)
