"""A DER control narrows a storage unit's rating (decision 0918): a real OCPP 2.1 client as
the unit beside a simulated EV station, under the storage controller, on a virtual clock.

The grid cap drops under what the EVs draw; the grid operator sets a LimitMaxDischarge of
20 % on the unit: the controller discharges it no further than 20 % of its rating and hands
the rest to the EV limits. The control is forgotten by the site loop and found again in
the DER store on the next site revision; cleared, the full rating is back.
"""

from __future__ import annotations

import pytest

from csms.der import DerControl, DerControlType
from tests.integration.storage.test_storage_unit import CAP_W, _cap_drop, _site, depot_with_unit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

MAX_W = 30_000.0
LIMIT = DerControl(
    "lmd-20",
    DerControlType.LIMIT_MAX_DISCHARGE,
    False,
    {"priority": 1, "pct_max_discharge_power": 20.0},
)


async def test_a_limit_max_discharge_narrows_the_units_setpoints_until_cleared() -> None:
    async with depot_with_unit() as depot:
        csms, clock, seen, unit, loop = depot.csms, depot.clock, depot.seen, depot.unit, depot.loop
        await csms.commands.set_der_control("BESS1", LIMIT)
        limited_at = clock.now()
        assert loop.state.units.der.discharge_share("BESS1", limited_at) == 0.2
        await _cap_drop(csms, clock)
        controller = loop.storage
        assert controller is not None
        # the controller steps with the narrowed rating: 6 kW at most, the rest on the EVs
        steps = await wait_until(
            lambda: [s for s in seen.steps_since(limited_at) if s.ev_reduction_w > 0],
            60,
            "a step the unit cannot hold alone",
        )
        assert all(w is not None and w >= -0.2 * MAX_W for _, w, _ in steps[0].setpoints)
        assert controller.der_limits_w["bess"] == 0.2 * MAX_W
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) <= CAP_W + 0.2 * MAX_W + 1,
            90,
            "EV limits within the cap and what the unit may give",
        )
        assert all(r.setpoint_w >= -0.2 * MAX_W for r in unit.received if r.at >= limited_at)

        # forgotten by the loop, found again in the DER store with the next revision
        loop.state.units.der.stations.clear()
        await csms.sites.apply(_site().model_copy(update={"name": "depot, revised"}))
        await wait_until(
            lambda: loop.state.units.der.discharge_share("BESS1", clock.now()) == 0.2,
            30,
            "the control loaded again",
        )

        # cleared: the unit's whole rating is back
        await csms.commands.clear_der_control("BESS1", is_default=False, control_id="lmd-20")
        cleared_at = clock.now()
        await wait_until(
            lambda: unit.setpoint_at(clock.now()) < -0.2 * MAX_W - 1_000.0,
            90,
            "discharging beyond the old limit",
        )
        assert controller.der_limits_w["bess"] is None
        # the step that sent it is announced once its setpoints are out
        await wait_until(
            lambda: any(s.at >= cleared_at for s in seen.steps), 30, "the step after the clear"
        )
