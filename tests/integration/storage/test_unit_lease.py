"""EV limits leased per storage unit (decision 0930): two OCPP 2.1 storage units (real 2.1
clients) discharge for two EVs in a hurry under a cap. Unit A goes silent: at the first
controller step that no longer counts on it, the EV limits drop by exactly the part A
carried (recorded with each TxProfile's lease), before any re-plan; B's part stays, and the
EVs with B's discharge fit the cap.

Every wait is on a condition (tests/waiting.py), never on time.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.domain import ChargingLimit
from csms.events import ChargingLimitSent, DomainEvent, PlanUpdated, StorageDispatched
from csms.planning.state import EvseState, Lease
from csms.planning.unit_lease import value_at
from csms.sites import Site, SiteStation, StorageAsset
from tests.integration.planning.harness import START, make_fleet
from tests.integration.storage.test_storage_unit import (
    CAP_W,
    Seen,
    _cap_drop,
    _report,
    _settings,
    _site,
    _site_loop,
    depot_store,
    hurried_scenario,
)
from tests.integration.storage.unit21 import storage_unit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

#: each unit alone cannot cover what the EVs want above the cap: the plan uses both
UNIT_W = 8_000.0


class Plans:
    """When each re-plan started (it gathered the site's state then)."""

    def __init__(self) -> None:
        self.started: list[datetime] = []

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, PlanUpdated):
            self.started.append(event.at)


def _two_units() -> Site:
    base = _site()
    return base.model_copy(
        update={
            "stations": (*base.stations, SiteStation(id="BESS2", node="grid")),
            "storage": tuple(
                StorageAsset(
                    id=unit_id,
                    node="grid",
                    capacity_wh=100_000.0,
                    max_charge_w=UNIT_W,
                    max_discharge_w=UNIT_W,
                    min_soc_pct=10.0,
                    station=station,
                    evse=1,
                )
                for unit_id, station in (("bess", "BESS1"), ("bess2", "BESS2"))
            ),
        }
    )


def _lent_w(ev: EvseState, unit_id: str, at: datetime, lease: Lease | None = None) -> float:
    """The part of the EVSE's TxProfile (or of ``lease``) the unit carries at ``at``."""
    if lease is None:
        lease = ev.sent.lease if ev.sent is not None else None
    parts = dict(lease.lent) if lease is not None else {}
    return value_at(parts[unit_id], at) if unit_id in parts else 0.0


def _first_since(seen: Seen, since: datetime) -> dict[tuple[str, int], ChargingLimit]:
    out: dict[tuple[str, int], ChargingLimit] = {}
    for key, series in seen.ev_limits.items():
        after = [lim for at, lim in series if at >= since and lim.purpose == "TxProfile"]
        if after:
            out[key] = after[0]
    return out


async def test_a_silent_unit_takes_back_only_its_part_of_the_ev_limits() -> None:
    clock = VirtualClock(start=START, speed=3.0)
    store = await depot_store()
    seen, plans = Seen(), Plans()
    scenario = hurried_scenario()
    # Re-plans on urgent triggers only (no timer, readings wait an hour): otherwise one may
    # find A stale before the controller does and plan without it (the other safe path).
    base = _settings()
    planning = base.planning.model_copy(
        update={"replan_interval_s": 3600.0, "min_replan_gap_s": 3600.0}
    )
    settings = base.model_copy(update={"planning": planning})
    async with Csms(settings, clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        csms.bus.subscribe(plans)
        order: list[DomainEvent] = []  # every event, in the order published
        csms.bus.subscribe(order.append)
        await csms.sites.apply(_two_units())
        fleet = make_fleet(
            csms.url, scenario, clock, stations=1, connectors=2, meter_interval_s=10.0
        )
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        a_reports, b_reports = asyncio.Event(), asyncio.Event()
        a_reports.set()
        b_reports.set()
        kw = {"capacity_wh": 100_000.0, "soc_pct": 60.0, "max_w": UNIT_W}
        async with (
            storage_unit(csms.url, "BESS1", clock, **kw) as unit_a,
            storage_unit(csms.url, "BESS2", clock, **kw) as unit_b,
        ):
            await unit_a.boot()
            await unit_b.boot()
            reporters = [
                asyncio.create_task(_report(unit_a, clock, a_reports)),
                asyncio.create_task(_report(unit_b, clock, b_reports)),
            ]
            try:
                loop = await _site_loop(csms)
                await wait_until(lambda: loop.metered_import_w() > 15_000.0, 60, "EVs charging")
                await _cap_drop(csms, clock)
                evs = [ev for ev in loop.state.evses.values() if ev.tx is not None]

                def both_lent() -> bool:
                    now = clock.now()
                    return (
                        all(
                            sum(_lent_w(ev, u, now) for ev in evs) > 1_000.0
                            for u in ("bess", "bess2")
                        )
                        and unit_a.setpoint_at(now) < 0
                        and unit_b.setpoint_at(now) < 0
                    )

                await wait_until(both_lent, 120, "both units discharging for the EVs")
                # A goes silent; the first step that no longer counts on it withdraws A's part
                silent_at = clock.now()
                a_reports.clear()
                held = {ev.key: ev.sent.lease if ev.sent is not None else None for ev in evs}
                step = (
                    await wait_until(
                        lambda: [s for s in seen.steps_since(silent_at) if s.excluded],
                        120,
                        "A excluded",
                    )
                )[0]
                assert step.excluded == (("bess", "stale"),)
                at = step.at
                # no re-plan between: the leases the step found are those held at the silence
                assert not [p for p in plans.started if silent_at <= p < at]
                before_w = sum(_held_w(seen, ev, at) for ev in evs)
                lent_a = {ev.key: _lent_w(ev, "bess", at, held[ev.key]) for ev in evs}
                lent_b = sum(_lent_w(ev, "bess2", at, held[ev.key]) for ev in evs)
                assert sum(lent_a.values()) > 1_000.0 and lent_b > 1_000.0, held
                lent = [ev for ev in evs if lent_a[ev.key] > 0.0]
                await wait_until(
                    lambda: all(_key(ev) in _first_since(seen, at) for ev in lent),
                    30, "the withdrawal at every EV A lent to",
                )  # fmt: skip
                # the re-plan A's shortfall asks for starts after the withdrawal went out
                # (its own limits are its business): until it, only A's part went
                replanned = (
                    await wait_until(
                        lambda: [p for p in plans.started if p >= at], 60, "the re-plan"
                    )
                )[0]
                after_w = 0.0
                for ev in evs:
                    sends = [(t, lim) for t, lim in seen.ev_limits[_key(ev)]
                             if at <= t <= replanned and lim.purpose == "TxProfile"]  # fmt: skip
                    if ev not in lent:  # B's part (and the rest) untouched: renewed at most
                        held_w = _held_w(seen, ev, at)
                        assert all(lim.schedule[0][1] == pytest.approx(held_w, abs=1.0)
                                   for _, lim in sends), (ev.key, held_w, sends)  # fmt: skip
                        after_w += held_w
                        continue
                    _, limit = sends[0]
                    # sent by that very step: accepted before the step was announced (it is
                    # announced once its sends are answered), not in virtual seconds, which
                    # a loaded machine's round trip stretches
                    assert _position(order, limit) < _position(order, step), (ev.key, limit)
                    got = limit.schedule[0][1]
                    assert got == pytest.approx(_held_w(seen, ev, at) - lent_a[ev.key], abs=1.0)
                    after_w += got
                assert after_w == pytest.approx(before_w - sum(lent_a.values()), abs=2.0)
                # the EVs with B's discharge fit the cap; without it they would not
                b_w = -unit_b.setpoint_at(at)
                assert after_w <= CAP_W + b_w + 1.0 and after_w > CAP_W + 1_000.0
                assert loop.sender.lease_sends["withdraw"] >= sum(1 for w in lent_a.values() if w)
                # per unit on /metrics: A's withdrawals, A no longer committed, B still lent
                withdrawn = loop.sender.unit_lease_sends[("bess", "withdraw")]
                assert withdrawn >= len(lent)
                text = csms.planning.storage_metrics_text().splitlines()
                site = f'site="{loop.site_id}"'
                assert (f'chargegrid_storage_lease_unit_sends_total{{{site},unit="bess",'
                        f'why="withdraw"}} {withdrawn}') in text  # fmt: skip
                assert f'chargegrid_storage_lease_committed_s{{{site},unit="bess"}} 0' in text
                b_lent = f'chargegrid_storage_lease_lent_w{{{site},unit="bess2"}} '
                b_now = [float(line[len(b_lent) :]) for line in text if line.startswith(b_lent)]
                assert b_now and b_now[0] > 1_000.0, text
            finally:
                for task in reporters:
                    task.cancel()
                run.cancel()
    await store.close()


def _position(order: list[DomainEvent], of: ChargingLimit | StorageDispatched) -> int:
    """Where the step, or the acceptance of the limit, is in the bus's order."""
    for i, e in enumerate(order):
        if e is of or (isinstance(e, ChargingLimitSent) and e.accepted and e.limit is of):
            return i
    raise AssertionError(f"not published: {of!r}")


def _key(ev: EvseState) -> tuple[str, int]:
    return (ev.station.id, ev.evse.id)


def _held_w(seen: Seen, ev: EvseState, at: datetime) -> float:
    """What the EVSE's newest TxProfile accepted before ``at`` set at ``at``."""
    series = [lim for t, lim in seen.ev_limits[_key(ev)] if t < at and lim.purpose == "TxProfile"]
    limit = series[-1]
    offset = max(0.0, (at - (limit.start_at or at)).total_seconds())
    return [value for start, value, _ in limit.schedule if start <= offset][-1]
