"""TxProfiles are renewed early enough for how long re-plans take in clock time."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from csms.planning import PlanningSettings
from csms.planning.loop import SiteLoop
from csms.planning.state import Sent
from tests.unit.planning.test_periods import END, T0, _state


async def test_the_renewal_margin_follows_how_long_replans_take() -> None:
    state, a, b = _state()
    service = SimpleNamespace(settings=PlanningSettings(profile_validity_s=900.0))
    loop = SiteLoop(service, state)  # type: ignore[arg-type]
    assert loop.renew_margin_s == 120.0  # at least 2 min
    loop.replan_clock_s = 100.0  # a re-plan spans 100 clock seconds (fast clock, load)
    assert loop.renew_margin_s == 300.0
    loop.replan_clock_s = 1000.0
    assert loop.renew_margin_s == 450.0  # at most half a window
    # A window about to end with a profile still ending there: renew at once.
    a.sent = Sent(6000.0, "TxProfile", T0, "accepted", END, 1)
    b.sent = Sent(6000.0, "TxProfile", T0, "accepted", END + timedelta(minutes=15), 2)
    assert loop._renewal_due(END)
    a.sent.valid_to = END + timedelta(minutes=15)
    assert not loop._renewal_due(END)
    a.sent.valid_to = END
    state.stations["A"].online = False  # not steerable: nothing to renew there
    assert not loop._renewal_due(END)
