"""A demand-response window on a feeder, end to end on a virtual clock: the limits the
stations were sent hold the cap from the window's first second to its last, curtailment does
not start early or end late, and an EV arriving at the window's start fits (issue 11, item 4).

The limits in force are rebuilt from what the stations accepted (ChargingLimitSent): per EVSE
its TxProfile while that applies to the running transaction, else its TxDefaultProfile, and
an EVSE without a session counts at its TxDefaultProfile (an EV may plug in any second)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import ChargingLimit, IdToken
from csms.events import ChargingLimitSent, DomainEvent, TransactionEnded, TransactionStarted
from csms.planning import PlanningSettings
from csms.sites import NewConstraint
from csms.store import MemoryStore
from csms.telemetry.settings import TelemetrySettings
from simulators.scenario import COLUMNS
from tests.integration.planning.harness import START, depot_site, make_fleet

pytestmark = pytest.mark.slow

STATIONS, CONNECTORS = 4, 2  # 8 EVSEs of 22 kW, all on the 60 kW feeder
FEEDER_W, CAP_W = 60_000.0, 30_000.0  # reduce_by_pct 50
WINDOW = (START + timedelta(minutes=20, seconds=30), START + timedelta(minutes=41, seconds=10))
LATE_ARRIVAL = WINDOW[0]  # the last EV plugs in at the window's first second
RUN_UNTIL = START + timedelta(minutes=45)


def _scenario() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    k = 0
    for i in range(STATIONS):
        for c in range(1, CONNECTORS + 1):
            arrival = START + timedelta(minutes=1 + k) if k < 7 else LATE_ARRIVAL
            rows.append(
                {
                    "ev_id": f"EV-{k:04d}",
                    "station_id": f"SIM-{i + 1:04d}",
                    "connector_id": c,
                    "arrival": pd.Timestamp(arrival),
                    "departure": pd.Timestamp(arrival + timedelta(hours=4)),
                    "capacity_wh": 80_000.0,
                    "initial_soc": 0.1,
                    "target_soc": 0.9,
                    "max_ac_power_w": 11_000.0,
                    "max_dc_power_w": 50_000.0,
                    "phases": 3,
                    "id_tag": f"TAG{k:05d}",
                }
            )
            k += 1
    return pd.DataFrame(rows, columns=list(COLUMNS))


class Limits:
    """The accepted profiles per EVSE and the sessions, as step functions of time."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, int], list[tuple[datetime, ChargingLimit]]] = {}
        self.sessions: dict[tuple[str, int], list[tuple[datetime, datetime | None, int]]] = {}

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, ChargingLimitSent) and event.accepted:
            key = (event.limit.station_id, event.limit.evse_id)
            self.profiles.setdefault(key, []).append((event.at, event.limit))
        elif isinstance(event, TransactionStarted):
            tx = event.transaction
            key = (tx.station_id, tx.evse_id)
            self.sessions.setdefault(key, []).append((tx.started_at, None, tx.id))
        elif isinstance(event, TransactionEnded):
            tx = event.transaction
            runs = self.sessions.get((tx.station_id, tx.evse_id), [])
            runs[:] = [(s, tx.stopped_at if i == tx.id else e, i) for s, e, i in runs]

    def _latest(self, key: tuple[str, int], purpose: str, at: datetime) -> ChargingLimit | None:
        found = None
        for sent_at, limit in self.profiles.get(key, []):
            if sent_at <= at and limit.purpose == purpose:
                found = limit
        return found

    @staticmethod
    def _value(limit: ChargingLimit, at: datetime) -> float:
        start = limit.start_at or at
        offset = (at - start).total_seconds()
        value = limit.schedule[0][1]
        for period_start, period_value, _ in limit.schedule:
            if period_start <= offset:
                value = period_value
        return float(value)

    def tx_profile_w(self, key: tuple[str, int], at: datetime) -> float | None:
        """The TxProfile limit applying at ``at`` to the session running then (None: none)."""
        running = [
            tx_id for s, e, tx_id in self.sessions.get(key, []) if s <= at and (e is None or at < e)
        ]
        profile = self._latest(key, "TxProfile", at)
        if not running or profile is None or profile.transaction_id != running[-1]:
            return None
        assert profile.start_at is not None and profile.duration_s is not None
        if not profile.start_at <= at < profile.start_at + timedelta(seconds=profile.duration_s):
            return None
        return self._value(profile, at)

    def in_force_w(self, key: tuple[str, int], at: datetime) -> float:
        tx = self.tx_profile_w(key, at)
        if tx is not None:
            return tx
        default = self._latest(key, "TxDefaultProfile", at)
        return self._value(default, at) if default is not None else 22_080.0

    def period_starts(self) -> set[datetime]:
        out: set[datetime] = set()
        for series in self.profiles.values():
            for _, limit in series:
                if limit.purpose == "TxProfile" and limit.start_at is not None:
                    out.update(limit.start_at + timedelta(seconds=p[0]) for p in limit.schedule)
        return out


async def test_a_dr_window_holds_from_its_first_second_to_its_last() -> None:
    clock = VirtualClock(start=START, speed=40.0)
    store = MemoryStore()
    await store.open()
    for k in range(STATIONS * CONNECTORS):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))
    site = depot_site(
        stations=STATIONS, connectors=CONNECTORS, feeder_stations=STATIONS, feeder_kw=60.0
    )
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept", gc_freeze_interval_s=None),
        planning=PlanningSettings(horizon_s=4 * 3600),
        telemetry=TelemetrySettings(enabled=False),
    )
    limits = Limits()
    async with Csms(settings, clock=clock, store=store) as csms:
        csms.bus.subscribe(limits)
        await csms.sites.apply(site)
        fleet = make_fleet(csms.url, _scenario(), clock, stations=STATIONS, connectors=CONNECTORS)
        run = asyncio.create_task(fleet.run(until=RUN_UNTIL))
        await clock.sleep((START + timedelta(minutes=8) - clock.now()).total_seconds())
        # The grid operator announces the event a quarter of an hour ahead.
        await csms.sites.create_constraint(
            "depot",
            NewConstraint(
                node_id="feeder",
                kind="reduce",
                start=WINDOW[0],
                end=WINDOW[1],
                reduce_by_pct=50.0,
                source="dso",
            ),
        )
        await run
    await store.close()

    feeder = [(st.id, evse.id) for st, evse, node in site.evses() if node == "feeder"]
    assert len(feeder) == 8
    assert len([k for k in feeder if limits.sessions.get(k)]) == 8, "every EV charged"

    def cap(at: datetime) -> float:
        return CAP_W if WINDOW[0] <= at < WINDOW[1] else FEEDER_W

    # At every second around and inside the window: what the stations may draw (idle EVSEs
    # at their default: an EV may arrive) stays within the limit in force.
    worst: list[tuple[datetime, float]] = []
    t = WINDOW[0] - timedelta(minutes=3)
    while t < WINDOW[1] + timedelta(minutes=3):
        total = sum(limits.in_force_w(k, t) for k in feeder)
        if total > cap(t) + 1.0:
            worst.append((t, total))
        t += timedelta(seconds=1)
    assert worst == [], f"over the cap at {len(worst)} s, first {worst[:3]}"

    # Curtailment starts at the window's first second, not before, and ends at its end.
    def tx_total(at: datetime) -> float:
        return sum(limits.tx_profile_w(k, at) or 0.0 for k in feeder)

    assert tx_total(WINDOW[0] - timedelta(seconds=1)) > CAP_W + 10_000.0
    assert tx_total(WINDOW[0]) <= CAP_W
    assert tx_total(WINDOW[1] - timedelta(seconds=1)) <= CAP_W
    assert tx_total(WINDOW[1]) > CAP_W + 10_000.0
    # ... because the profiles sent have their period boundaries exactly at the edges.
    starts = limits.period_starts()
    assert WINDOW[0] in starts and WINDOW[1] in starts
    # The EV that arrived at the window's start charged inside it.
    late = feeder[-1]
    assert any(s >= WINDOW[0] for s, _, _ in limits.sessions[late])
    assert (limits.tx_profile_w(late, WINDOW[1] - timedelta(seconds=1)) or 0.0) > 0.0
