"""``[planning]`` builds the planner's settings in one place (the site loop and the ACN
benchmark's ``chargegrid-csms`` row both use it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from csms.planning.config import PlanningSettings
from optimizer import PlannerConfig


def test_the_planner_config_follows_the_settings() -> None:
    settings = PlanningSettings(
        backend="pyomo",
        solver_time_limit_s=3.5,
        replan_interval_s=120.0,
        laxity_tiebreak=True,
        scarcity_tiebreak="on",
    )
    assert settings.planner_config() == PlannerConfig(
        backend="pyomo",
        time_limit_s=3.5,
        replan_interval_s=120.0,
        laxity_tiebreak=True,
        scarcity_tiebreak="on",
    )


def test_the_default_planner() -> None:
    config = PlanningSettings().planner_config()
    assert config.scarcity_tiebreak == PlanningSettings().scarcity_tiebreak
    assert config.time_limit_s == 10.0
    assert config.laxity_tiebreak == PlanningSettings().laxity_tiebreak


def test_an_unknown_tiebreak_is_refused() -> None:
    with pytest.raises(ValidationError, match="scarcity_tiebreak"):
        PlanningSettings(scarcity_tiebreak="sometimes")  # type: ignore[arg-type]
