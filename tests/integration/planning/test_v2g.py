"""A V2G EV over a real OCPP 2.1 WebSocket (the ``ocpp`` library's 2.1 ChargePoint) on a
virtual clock the test moves a minute at a time, each minute once the planner is idle: in
the expensive half hour it gets a negative CentralSetpoint and gives power to the EV beside
it, recharges when power is cheap, and leaves with the energy it asked for, never below the
floor it allowed (decisions 0908-0910). The station obeys what it is sent and meters it
(import and export registers) like a real one. With 15-minute profile windows and no re-plan
in between but the renewals', the V2X periods go on through each renewal into the next
window (decision 0920): the EV does not fall back to ChargingOnly there."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken
from csms.planning import PlanningSettings
from csms.sites import Site, SiteEvse, SiteNode, SiteStation
from csms.sites.model import StationQuirks, Tariff, TouPeriod
from csms.store import MemoryStore
from tests.integration.csms.stations import raw_connect
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
DEAR_S = 1800.0  # the dear half hour from when the EVs plug in
METER_S = 60.0
#: evse -> (wants Wh, leaves after s, V2X or not)
EVS = {1: (6_000.0, 5400.0, True), 2: (4_000.0, 1800.0, False)}
EV_MAX_W, EV_GIVE_W = 11_000.0, 7_000.0


@dataclass
class Ev:
    wants_wh: float
    imported_wh: float = 0.0
    exported_wh: float = 0.0
    lowest_wh: float = 0.0  # the lowest its battery went below where it started
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # purpose -> profile

    @property
    def net_wh(self) -> float:
        return self.imported_wh - self.exported_wh

    def power_w(self, at: datetime) -> float:
        """What the station lets it do at ``at`` (its TxProfile, else its default), as the
        EV takes it: charge up to its maximum until it has what it wants, give within its
        discharge maximum."""
        for purpose in ("TxProfile", "TxDefaultProfile"):
            period = _period(self.profiles.get(purpose), at)
            if period is None:
                continue
            mode = period.get("operation_mode")
            if mode == "CentralSetpoint":
                watts = float(period["setpoint"])
            elif mode == "Idle":
                watts = 0.0
            else:
                watts = float(period.get("limit", EV_MAX_W))
                if self.profiles[purpose]["charging_schedule"][0]["charging_rate_unit"] == "A":
                    watts *= 230.0 * period.get("number_phases", 3)
            if watts < 0:
                return max(watts, -EV_GIVE_W)
            return min(watts, EV_MAX_W) if self.net_wh < self.wants_wh else 0.0
        return 0.0


def _period(profile: dict[str, Any] | None, at: datetime) -> dict[str, Any] | None:
    if profile is None:
        return None
    schedule = profile["charging_schedule"][0]
    start = schedule.get("start_schedule")
    begin = datetime.fromisoformat(start) if start else profile["received_at"]
    elapsed = (at - begin).total_seconds()
    if elapsed < 0 or ("duration" in schedule and elapsed >= schedule["duration"]):
        return None
    chosen = None
    for period in schedule["charging_schedule_period"]:
        if period["start_period"] <= elapsed:
            chosen = period
    return chosen


class V2xStation(ChargePoint):  # type: ignore[misc]
    evs: dict[int, Ev]
    received: list[tuple[datetime, int, dict[str, Any]]]
    clock: ManualClock
    refuses: bool  # an EV whose driver changed their mind: every setpoint is rejected
    received_by_refusal: int | None = None  # len(received) once the CSMS counted a refusal
    #: Given: the first TxProfile to EVSE 1 is answered only once this holds (the CSMS gave
    #: up waiting for the answer, as on a loaded machine), and taken all the same.
    answers_late: Callable[[], bool] | None = None

    @on("SetChargingProfile")
    async def set_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        late, tx = self.answers_late, charging_profile["charging_profile_purpose"] == "TxProfile"
        if late is not None and evse_id == 1 and tx:
            self.answers_late = None
            await wait_until(late, 30.0, "the CSMS to give up waiting for the answer")
        self.received.append((self.clock.now(), evse_id, charging_profile))
        periods = charging_profile["charging_schedule"][0]["charging_schedule_period"]
        if self.refuses and any(p.get("operation_mode") == "CentralSetpoint" for p in periods):
            return call_result.SetChargingProfile(status="Rejected")
        targets = self.evs.values() if evse_id == 0 else [self.evs[evse_id]]
        for ev in targets:
            received = {**charging_profile, "received_at": self.clock.now()}
            ev.profiles[charging_profile["charging_profile_purpose"]] = received
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_profile(self, **_: Any) -> Any:
        return call_result.ClearChargingProfile(status="Accepted")

    @on("GetVariables")
    def get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        # Answered as a real station does (the library leaves a 2.1 action without a handler
        # unanswered: the CSMS would wait out its timeout with the station's calls queued)
        return call_result.GetVariables(
            get_variable_result=[
                {"attribute_status": "UnknownVariable", "component": d["component"],
                 "variable": d["variable"]}
                for d in get_variable_data
            ]
        )  # fmt: skip


def _site(t0: datetime) -> Site:
    return Site(
        id="v2g",
        nodes=(SiteNode(id="grid", max_import_w=50_000.0),),
        quirks=(StationQuirks(model="BPT", unit="W"),),
        stations=(
            SiteStation(
                id="V2X1",
                node="grid",
                model="BPT",
                evses=tuple(SiteEvse(id=e, max_current_a=32.0, min_current_a=0.0) for e in EVS),
            ),
        ),
        tariff=Tariff(
            periods=(
                TouPeriod(start=time(0), import_price_per_kwh=0.10),
                TouPeriod(start=t0.time(), import_price_per_kwh=0.60),
                TouPeriod(start=(t0 + timedelta(seconds=DEAR_S)).time(), import_price_per_kwh=0.10),
            )
        ),
    )


def _needs(evse: int, t0: datetime) -> dict[str, Any]:
    wants, stays_s, v2x = EVS[evse]
    needs: dict[str, Any] = {
        "departure_time": (t0 + timedelta(seconds=stays_s)).isoformat(),
        "requested_energy_transfer": "AC_BPT" if v2x else "AC_three_phase",
    }
    if v2x:
        needs["v2x_charging_parameters"] = {
            "max_charge_power": EV_MAX_W,
            "max_discharge_power": EV_GIVE_W,
            "ev_target_energy_request": wants,
            "ev_min_v2x_energy_request": -3_000.0,
        }
    else:
        needs["ac_charging_parameters"] = {
            "energy_amount": wants,
            "ev_min_current": 0,
            "ev_max_current": 16,
            "ev_max_voltage": 400,
        }
    return needs


async def _settled(cp: V2xStation, loop: Any) -> None:
    """The planner has taken in what the station sent (the CSMS publishes it before it
    answers) and sent what it decided: its loop waits on the clock with nothing to do before
    the clock moves (a re-plan asked for, e.g. after a send that got no answer in time on a
    loaded machine, may be held back until then). The received count when the CSMS has
    first counted a refusal is noted."""
    await wait_until(lambda: loop.idle, 60.0, "the planning loop to wait on the clock")
    if loop.v2x_refusals and cp.received_by_refusal is None:
        cp.received_by_refusal = len(cp.received)


async def _drive(cp: V2xStation, clock: ManualClock, t0: datetime, loop: Any) -> None:
    """Both EVs plug in, tell their needs, then the station meters what they do every
    minute until each leaves."""
    seq = {evse: 0 for evse in EVS}

    async def event(evse: int, kind: str, trigger: str, at: datetime, **kw: Any) -> None:
        seq[evse] += 1
        await cp.call(
            call.TransactionEvent(
                event_type=kind,
                timestamp=at.isoformat(),
                trigger_reason=trigger,
                seq_no=seq[evse],
                transaction_info={"transaction_id": f"V2X1-{evse}"},
                evse={"id": evse, "connector_id": 1},
                **kw,
            )
        )

    for evse in EVS:
        registers = [{"timestamp": clock.now().isoformat(), "sampled_value": [
            {"value": 0.0, "measurand": "Energy.Active.Import.Register"},
            {"value": 0.0, "measurand": "Energy.Active.Export.Register"},
        ]}]  # fmt: skip
        await event(evse, "Started", "Authorized", clock.now(), meter_value=registers,
                    id_token={"id_token": f"TOK{evse}", "type": "ISO14443"})  # fmt: skip
        answer = await cp.call(
            call.NotifyEVChargingNeeds(evse_id=evse, charging_needs=_needs(evse, t0))
        )
        assert answer.status == "Accepted"
    last = clock.now()
    left: set[int] = set()
    await _settled(cp, loop)
    while len(left) < len(EVS):
        clock.advance(METER_S)
        now = clock.now()
        dt_h = (now - last).total_seconds() / 3600.0
        for evse, ev in cp.evs.items():
            if evse in left:
                continue
            watts = ev.power_w(last)
            ev.imported_wh += max(0.0, watts) * dt_h
            ev.exported_wh += max(0.0, -watts) * dt_h
            ev.lowest_wh = min(ev.lowest_wh, ev.net_wh)
            meter = [{
                "timestamp": now.isoformat(),
                "sampled_value": [
                    {"value": ev.imported_wh, "measurand": "Energy.Active.Import.Register"},
                    {"value": ev.exported_wh, "measurand": "Energy.Active.Export.Register"},
                    {"value": max(0.0, ev.power_w(now)), "measurand": "Power.Active.Import"},
                    {"value": max(0.0, -ev.power_w(now)), "measurand": "Power.Active.Export"},
                ],
            }]  # fmt: skip
            if now >= t0 + timedelta(seconds=EVS[evse][1]):
                await event(evse, "Ended", "EVDeparted", now, meter_value=meter)
                left.add(evse)
            else:
                await event(evse, "Updated", "MeterValuePeriodic", now, meter_value=meter)
        last = now
        await _settled(cp, loop)


def _renewals(cp: V2xStation, validity_s: float) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """EVSE 1's renewals (a TxProfile lasting past the window it was sent in), each with the
    TxProfile sent just before it at the same instant."""
    out = []
    tx = [(at, p) for at, evse, p in cp.received if evse == 1
          and p["charging_profile_purpose"] == "TxProfile"]  # fmt: skip
    for (before_at, before), (at, profile) in itertools.pairwise(tx):
        seconds = (at - START).total_seconds()
        window_end = (seconds // validity_s + 1) * validity_s
        if before_at == at and seconds + profile["charging_schedule"][0]["duration"] > window_end:
            out.append((before, profile))
    return out


def _first(profile: dict[str, Any]) -> tuple[str | None, float | None]:
    period = profile["charging_schedule"][0]["charging_schedule_period"][0]
    return period.get("operation_mode"), period.get("setpoint")


@pytest.mark.parametrize(
    ("refuses", "validity_s", "late"),
    [(False, 300.0, False), (True, 300.0, False), (False, 900.0, False), (False, 300.0, True)],
    ids=["gives", "refuses", "gives-across-renewals", "first-answer-late"],
)
async def test_a_v2g_ev_gives_at_the_dear_half_hour_and_leaves_with_its_energy(
    refuses: bool, validity_s: float, late: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """``first-answer-late``: the station takes its first TxProfile for the V2G EV but
    answers only after the CSMS stopped waiting (``send_timeout_s``); the CSMS sends it
    again at the next re-plan and the EV gives all the same."""
    clock = ManualClock(START)
    store = MemoryStore()
    await store.open()
    for evse in EVS:
        await store.put_id_token(IdToken(f"TOK{evse}"))
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(
            step_s=300.0, horizon_s=2 * 3600.0, min_replan_gap_s=30.0,
            replan_interval_s=validity_s, profile_validity_s=validity_s,
            send_timeout_s=1.0 if late else 10.0,
        ),
    )  # fmt: skip
    async with Csms(settings, clock=clock, store=store) as csms:
        t0 = START
        await csms.sites.apply(_site(t0))
        async with raw_connect(csms.url, "V2X1", version="2.1") as ws:
            cp = V2xStation("V2X1", ws, response_timeout=10)
            cp.evs = {evse: Ev(wants) for evse, (wants, _, _) in EVS.items()}
            cp.received, cp.clock, cp.refuses = [], clock, refuses
            serving = asyncio.create_task(cp.start())
            boot = await cp.call(
                call.BootNotification(
                    charging_station={"vendor_name": "Acme", "model": "BPT"}, reason="PowerUp"
                )
            )
            assert boot.status == "Accepted"
            await wait_until(lambda: "v2g" in csms.planning.loops, 10.0, "the site loop")
            site_loop = csms.planning.loops["v2g"]
            if late:
                v2g_evse = site_loop.state.evses[("V2X1", 1)]
                cp.answers_late = lambda: (
                    v2g_evse.sent is not None and v2g_evse.sent.state == "failed"
                )
            await _drive(cp, clock, t0, site_loop)
            serving.cancel()
        loop = csms.planning.loops["v2g"]
        refusals = loop.v2x_refusals
    v2g, other = cp.evs[1], cp.evs[2]
    setpoints = [
        (at, period["setpoint"])
        for at, evse, profile in cp.received
        if evse == 1
        for period in profile["charging_schedule"][0]["charging_schedule_period"]
        if period.get("operation_mode") == "CentralSetpoint"
    ]
    assert setpoints and min(w for _, w in setpoints) < 0
    dear_until = t0 + timedelta(seconds=DEAR_S)
    assert all(at < dear_until for at, w in setpoints if w < 0)  # only in the dear half hour
    if refuses:  # logged, counted, planned charging only from then: no setpoint after it
        # (on a loaded machine the Rejected may come after the CSMS stopped waiting for it: a
        # failed send, sent again, and only the answer it waits for counts as the refusal)
        assert refusals == 1 and cp.received_by_refusal is not None
        assert not [
            period
            for _, _, profile in cp.received[cp.received_by_refusal :]
            for period in profile["charging_schedule"][0]["charging_schedule_period"]
            if period.get("operation_mode") == "CentralSetpoint"
        ]
        assert v2g.exported_wh == 0.0
    else:
        assert refusals == 0
        assert v2g.exported_wh > 500.0  # it gave power back ...
        assert v2g.lowest_wh >= -3_000.0 - 1.0  # ... never below the floor it allowed
    assert v2g.net_wh >= EVS[1][0] * 0.99  # ... and left with what it asked for
    if late:  # the failed send said why, and was sent again
        assert cp.answers_late is None
        assert "V2X1/1 failed (sent again at the next re-plan): no answer within 1 s" in caplog.text
    assert other.net_wh >= EVS[2][0] * 0.99
    renewals = _renewals(cp, validity_s)
    if validity_s > 300.0:  # renewed while giving, and still giving after each renewal
        giving = [(b, r) for b, r in renewals if _first(b)[0] == "CentralSetpoint"]
        assert giving and all(_first(r) == _first(b) for b, r in giving)
    # a 2.1 profile to the EVSE that only charges never had a negative value
    assert all(
        period.get("setpoint", 0) >= 0 and period.get("limit", 0) >= 0
        for _, evse, profile in cp.received
        if evse == 2
        for period in profile["charging_schedule"][0]["charging_schedule_period"]
    )
