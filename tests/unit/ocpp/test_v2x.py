"""OCPP 2.1 V2X through the real 2.1 adapter: the EV's V2X parameters in its needs, bad
numbers refused with nothing stored, V2X schedules and NotifyAllowedEnergyTransfer out
through :class:`Commands`, never to a 1.6 or 2.0.1 station (decision 0909)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.domain import ChargingLimit, ChargingRateUnit, RegistrationStatus, V2XPeriod
from csms.events import EVChargingNeedsReceived, EventBus
from csms.exceptions import CommandError, CommandRejected
from csms.ocpp import validation
from csms.ocpp.v16 import V16Connection
from csms.ocpp.v21 import V21Connection
from csms.ocpp.v201 import V201Connection
from csms.store import MemoryStore
from csms.store.base import NewTransaction, StationRecord
from simulators.ev import EVSpec
from simulators.v2g import BidirectionalEV
from simulators.v2x import V2XSpec

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

V2X = {
    "maxChargePower": 11000,
    "maxDischargePower": 7000,
    "minDischargePower": 1000,
    "maxDischargePower_L2": 2000,
    "maxDischargePower_L3": 2000,
    "evTargetEnergyRequest": 12000,
    "evMinV2XEnergyRequest": -8000,
    "evMaxV2XEnergyRequest": 30000,
    "targetSoC": 80,
}


class Station:
    """A WebSocket whose CALLs from the central system are answered with ``status``."""

    def __init__(self, status: str = "Accepted") -> None:
        self.conn: Any = None
        self.status = status
        self.sent: list[list[Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        self.sent.append(frame)
        if frame[0] == 2:
            self.calls.append((frame[2], frame[3]))
            answer = json.dumps([3, frame[1], {"status": self.status}])
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.conn.route_message(answer))
            )


async def _station(version: str = "2.1", status: str = "Accepted") -> tuple[Any, Station, Any]:
    store = MemoryStore()
    await store.put_station(StationRecord("CP"))
    bus = EventBus()
    central = CentralSystem(store, bus, ManualClock(T0))
    ws = Station(status)
    cls = {"1.6": V16Connection, "2.0.1": V201Connection, "2.1": V21Connection}[version]
    ws.conn = cls("CP", ws, central)
    ws.conn.registration = RegistrationStatus.ACCEPTED
    tx, _ = await store.open_transaction(NewTransaction("CP", 1, 1, T0, station_tx_id="tx-9"))
    return ws.conn, ws, tx


def _needs(v2x: dict[str, Any], mode: str = "AC_BPT") -> str:
    charging_needs = {
        "requestedEnergyTransfer": mode,
        "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
        "controlMode": "ScheduledControl",
        "departureTime": "2026-03-02T10:00:00Z",
        "v2xChargingParameters": v2x,
    }
    return json.dumps(
        [2, "n1", "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": charging_needs}]
    )


async def test_the_ev_v2x_parameters_are_kept_in_its_needs() -> None:
    conn, ws, tx = await _station()
    seen: list[Any] = []
    conn.central.bus.subscribe(seen.append)
    await conn.route_message(_needs(V2X))
    assert ws.sent == [[3, "n1", {"status": "Accepted"}]]
    stored = await conn.central.store.get_transaction(tx.id)
    needs = stored.needs
    assert needs.energy_transfer_mode == "AC_BPT"
    assert needs.available_energy_transfer == ("AC_three_phase", "AC_BPT")
    assert needs.control_mode == "ScheduledControl"
    assert needs.energy_requested_wh == 12000.0
    v2x = needs.v2x
    assert (v2x.max_discharge_power_w, v2x.min_discharge_power_w) == (7000.0, 1000.0)
    assert v2x.max_discharge_power_l2_w == 2000.0 and v2x.target_soc_pct == 80.0
    assert v2x.min_v2x_energy_wh == -8000.0 and v2x.may_give_wh == 8000.0
    assert v2x.discharge_w == 11000.0  # L1 + L2 + L3 where per phase
    assert needs.discharge_allowed
    assert [type(e) for e in seen] == [EVChargingNeedsReceived]


async def test_an_ev_charging_only_or_above_its_target_may_not_give() -> None:
    conn, _, tx = await _station()
    await conn.route_message(_needs(V2X, mode="AC_three_phase"))
    assert not (await conn.central.store.get_transaction(tx.id)).needs.discharge_allowed
    # a negative target energy request (above the target SoC) asks for nothing more
    await conn.route_message(_needs({**V2X, "evTargetEnergyRequest": -500}))
    needs = (await conn.central.store.get_transaction(tx.id)).needs
    assert needs.energy_requested_wh == 0.0 and needs.discharge_allowed


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("maxDischargePower", "1e400"),  # a number JSON allows, infinite as a float
        ("maxDischargePower", "NaN"),
        ("maxDischargePower", "-7000"),
        ("minChargeCurrent", "-1"),
        ("evMinV2XEnergyRequest", "-1e400"),
        ("targetSoC", "101"),
        ("maxVoltage", "1e7"),
    ],
)
async def test_bad_v2x_numbers_are_refused_and_nothing_is_stored(field: str, raw: str) -> None:
    conn, ws, tx = await _station()
    frame = _needs({**V2X, field: 123456789}).replace("123456789", raw)
    await conn.route_message(frame)
    answer = ws.sent[-1]
    assert answer[0] == 4 and answer[1] == "n1", answer
    assert answer[2] in (
        "PropertyConstraintViolation",
        "FormatViolation",
        "TypeConstraintViolation",
    )
    assert (await conn.central.store.get_transaction(tx.id)).needs is None


def _v2x_limit(tx_id: int) -> ChargingLimit:
    return ChargingLimit(
        "CP",
        1,
        ChargingRateUnit.WATT,
        ((0, 0.0, 3), (900, 11000.0, 3)),
        purpose="TxProfile",
        profile_id=101,
        start_at=T0,
        duration_s=3600,
        transaction_id=tx_id,
        v2x=(
            V2XPeriod(0, "CentralSetpoint", setpoint=-5000.0, discharge_limit=-7000.0),
            V2XPeriod(900, "ChargingOnly", limit=11000.0),
            V2XPeriod(1800, "CentralSetpoint", setpoint=-1000.0, setpoint_l2=-1000.0,
                      setpoint_l3=-1000.0),
            V2XPeriod(2400, "LocalLoadBalancing"),
            V2XPeriod(3000, "Idle"),
        ),
    )  # fmt: skip


async def test_a_v2x_schedule_goes_out_as_a_21_profile_with_operation_modes() -> None:
    conn, ws, tx = await _station()
    commands = Commands(lambda _sid: conn, conn.central)
    assert (await commands.set_charging_profile(_v2x_limit(tx.id))).status == "Accepted"
    action, payload = ws.calls[-1]
    assert action == "SetChargingProfile"
    validation.validate("2.1", action, validation.CALL, payload)
    profile = payload["chargingProfile"]
    assert profile["transactionId"] == "tx-9"
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -5000.0,
         "dischargeLimit": -7000.0},
        {"startPeriod": 900, "operationMode": "ChargingOnly", "limit": 11000.0},
        {"startPeriod": 1800, "operationMode": "CentralSetpoint", "setpoint": -1000.0,
         "setpoint_L2": -1000.0, "setpoint_L3": -1000.0},
        {"startPeriod": 2400, "operationMode": "LocalLoadBalancing"},
        {"startPeriod": 3000, "operationMode": "Idle"},
    ]  # fmt: skip


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_no_v2x_schedule_or_negative_limit_reaches_a_16_or_201_station(version: str) -> None:
    conn, ws, tx = await _station(version)
    commands = Commands(lambda _sid: conn, conn.central)
    with pytest.raises(CommandError, match=r"OCPP 2\.1"):
        await commands.set_charging_profile(_v2x_limit(tx.id))
    negative = ChargingLimit("CP", 1, ChargingRateUnit.WATT, ((0, -3000.0, 3),))
    with pytest.raises(CommandError, match="never negative"):
        await commands.set_charging_profile(negative)
    with pytest.raises(CommandError, match="not available"):
        await commands.notify_allowed_energy_transfer("CP", transaction_id=tx.id, modes=["AC_BPT"])
    assert ws.calls == []


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (V2XPeriod(0, "CentralSetpoint"), "needs a setpoint"),
        (V2XPeriod(0, "CentralSetpoint", setpoint=float("nan")), "finite"),
        (V2XPeriod(0, "ChargingOnly", limit=-1.0), "limit"),
        (V2XPeriod(0, "Idle", discharge_limit=500.0), "discharge_limit"),
        (V2XPeriod(0, "Discharge"), "operation mode"),
        (V2XPeriod(5, "Idle"), "start at 0"),
    ],
)
async def test_a_bad_v2x_schedule_is_refused_before_the_station(
    period: V2XPeriod, message: str
) -> None:
    conn, ws, _ = await _station()
    commands = Commands(lambda _sid: conn, conn.central)
    limit = ChargingLimit("CP", 1, ChargingRateUnit.WATT, ((0, 0.0, None),), v2x=(period,))
    with pytest.raises(CommandError, match=message):
        await commands.set_charging_profile(limit)
    assert ws.calls == []


async def test_a_station_that_refuses_the_setpoint_answers_rejected() -> None:
    conn, _, tx = await _station(status="Rejected")
    commands = Commands(lambda _sid: conn, conn.central)
    with pytest.raises(CommandRejected):
        await commands.set_charging_profile(_v2x_limit(tx.id))


async def test_allowed_energy_transfer_is_sent_and_recorded() -> None:
    conn, ws, tx = await _station()
    commands = Commands(lambda _sid: conn, conn.central)
    result = await commands.notify_allowed_energy_transfer(
        "CP", transaction_id=tx.id, modes=["AC_three_phase", "AC_BPT"]
    )
    assert result.status == "Accepted"
    action, payload = ws.calls[-1]
    assert (action, payload) == (
        "NotifyAllowedEnergyTransfer",
        {"transactionId": "tx-9", "allowedEnergyTransfer": ["AC_three_phase", "AC_BPT"]},
    )
    events = await conn.central.store.station_events("CP")
    assert [(e.kind, e.data["status"], e.data["allowed"]) for e in events] == [
        ("NotifyAllowedEnergyTransfer", "Accepted", ["AC_three_phase", "AC_BPT"])
    ]
    with pytest.raises(CommandError, match="not an energy transfer mode"):
        await commands.notify_allowed_energy_transfer("CP", transaction_id=tx.id, modes=["V2G"])
    with pytest.raises(CommandError, match="no transaction"):
        await commands.notify_allowed_energy_transfer("CP", transaction_id=999, modes=["DC"])


@pytest.mark.parametrize("allowed", [True, False], ids=["allows", "charging-only"])
async def test_the_simulated_v2g_vehicle_needs_read_as_the_planner_takes_them(
    allowed: bool,
) -> None:
    """The simulators' bidirectional vehicle (decision 0313) and this adapter agree: its
    needs give the energy above its V2X floor and its discharge power, or none at all."""
    spec = EVSpec(ev_id="V1", capacity_wh=60_000.0, initial_soc=0.5, target_soc=0.8,
                  max_ac_power_w=11_000.0, departure=T0 + timedelta(hours=4))  # fmt: skip
    car = BidirectionalEV(spec, V2XSpec(discharge_allowed=allowed, max_discharge_w=7_000.0))
    conn, ws, tx = await _station()
    payload = {"evseId": 1, "chargingNeeds": car.charging_needs()}
    await conn.route_message(json.dumps([2, "n2", "NotifyEVChargingNeeds", payload]))
    assert ws.sent[-1] == [3, "n2", {"status": "Accepted"}]
    needs = (await conn.central.store.get_transaction(tx.id)).needs
    assert needs.energy_requested_wh == pytest.approx(18_000.0)  # 50 % -> 80 % of 60 kWh
    assert needs.discharge_allowed is allowed
    if allowed:
        assert needs.v2x.discharge_w == 7_000.0
        assert needs.v2x.may_give_wh == pytest.approx(12_000.0)  # 50 % -> its 30 % floor
