"""A short site day (benchmarks/site_day.py) under the real central system: 6 EVSEs (some
vehicles V2G), PV, two OCPP 2.1 storage units under the storage controller and a swap
station, from half an hour before the afternoon cap to a quarter after it lifts. The site's
meter (the harness, reading the simulated devices) must find the cap held within one
control interval of any change, the energy conserved within 1 % and every unit's state of
charge within its bounds.

Before the fixes of decision 0914 a day like it (13:00-16:30 at 200x) was over the cap for
53 minutes, the longest stretch 20 minutes: EVs fell back to their defaults at every window
edge under the cap and jumped back after the re-plan, the swap rack's planned power was
given to the EVs as well, and the first controller step after the cap's start came up to an
interval late. Since decision 0926 the units switch at the cap's start on their own
clocks, since 0927 an EV reduction is taken off the sessions at once, and every stretch
over the cap is put down to its causes (``episodes_over_cap``; 0928). Since 0931 the site
has a grid meter (an OCPP 2.1 station on EVSE 0 reporting every 5 s): a reading over the cap
steps the storage controller at once, so a cloud's edge is seen within seconds, not at the
next 30 s PV reading.
"""

from __future__ import annotations

import pytest

from benchmarks.site_day_run import DayOptions, RunSpec, run_day
from benchmarks.site_day_world import DayShape

pytestmark = pytest.mark.slow

OPTIONS = DayOptions(
    shape=DayShape(stations=3).scaled(0.3),  # a 60 kW site capped to 36 kW
    start_h=13.5,
    hours=2.75,
    speed=120.0,
    control_s=30.0,
    meter_s=30.0,
    sample_s=5.0,
    warmup_s=900.0,
    grid_meter_s=5.0,
)


async def test_a_short_site_day_holds_the_cap_and_the_books() -> None:
    result = await run_day(RunSpec("storage+v2g", storage_control=True, v2g=True), OPTIONS)
    figures = result.figures()
    c = result.checks
    # Over the cap for no more than one control interval (and the meter's sample) at a
    # time, less the time the one event loop the harness, the central system and the
    # simulators share was stalled within the stretch (the meter's waits beyond its
    # interval): with both cores busy a stall of a wall second is 120 virtual seconds,
    # the machine's and not a reaction of the system (decision 0928).
    assert result.cap_held_less_stall, figures["episodes_over_cap"]
    assert c.energy_conserved, (figures["balance_error_pct"], figures)
    assert c.soc_in_bounds, figures["soc_seen_pct"]
    # the day did what it is about: the EVs charged, the units gave under the cap
    t = result.totals
    assert t.ev_charged_wh > 50_000.0 and t.storage_out_wh > 5_000.0, figures
    # the controller stepped on the grid meter's readings, not on its estimate throughout
    n = result.counters
    assert n["meter_fallbacks"] < n["controller_steps"] / 2, n
