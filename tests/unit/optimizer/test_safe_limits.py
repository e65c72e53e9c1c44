"""Safe EVSE limits: every EVSE of the site drawing at once stays under every node limit."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer import LimitNode, Phase, safe_evse_limits_w
from tests.unit.optimizer.helpers import evse, problem, session


def _problem() -> Any:
    return problem(
        nodes=(LimitNode("grid", max_import_w=7000.0),),
        evses=(
            evse("E1", ocpp_evse_id=1),
            evse("E2", ocpp_evse_id=2, phase=Phase.L2, max_current_a=32.0),
        ),
        sessions=(session("S1", "E1", hours=1, energy_wh=5000.0, transaction_id="42"),),
    )


def test_safe_limits_share_the_connection_in_proportion() -> None:
    # both EVSEs at full power would draw 11,040 + 7,360 W; the 7 kW connection scales
    # both by 7000 / 18400, whether or not they have a session
    safe = safe_evse_limits_w(_problem())
    assert safe["E1"] == pytest.approx(11040.0 * 7000.0 / 18400.0)
    assert safe["E2"] == pytest.approx(7360.0 * 7000.0 / 18400.0)
    assert safe["E1"] + safe["E2"] == pytest.approx(7000.0)


def test_without_a_binding_node_each_evse_keeps_its_full_power() -> None:
    p = problem(
        nodes=(LimitNode("grid", max_import_w=50000.0),),
        evses=(evse("E1", ocpp_evse_id=1), evse("E2", ocpp_evse_id=2, phase=Phase.L2)),
        sessions=(),
    )
    safe = safe_evse_limits_w(p)
    assert safe["E1"] == pytest.approx(11040.0)
    assert safe["E2"] == pytest.approx(p.evses[1].max_power_w)
