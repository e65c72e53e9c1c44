"""Charging limits rendered as 1.6 and 2.0.1 charging profiles (pure functions, no I/O), and
what :class:`Commands` looks up for the adapters before they encode."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.domain import ChargingLimit, ChargingRateUnit, IdToken
from csms.events import EventBus
from csms.exceptions import CommandError, CommandTimeout
from csms.ocpp import validation
from csms.ocpp.v16 import V16Connection, charging_profile
from csms.ocpp.v21 import V21Connection
from csms.ocpp.v201 import V201Connection
from csms.ocpp.v201 import charging_profile as charging_profile_201
from csms.store import MemoryStore
from csms.store.base import NewTransaction, StationRecord

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_station_max_profile_uses_the_16_name_and_rounds_limits() -> None:
    limit = ChargingLimit(
        "CP",
        0,
        ChargingRateUnit.AMPERE,
        ((0, 31.96, 3), (900, 10.04, None)),
        purpose="ChargingStationMaxProfile",
        stack_level=2,
        profile_id=4,
        start_at=datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
        duration_s=3600,
        min_rate=6.01,
    )
    profile = charging_profile(limit)
    assert profile == {
        "chargingProfileId": 4,
        "stackLevel": 2,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 32.0, "numberPhases": 3},
                {"startPeriod": 900, "limit": 10.0},
            ],
            "duration": 3600,
            "startSchedule": "2026-03-02T06:00:00.000Z",
            "minChargingRate": 6.0,
        },
    }
    validation.validate(
        "1.6",
        "SetChargingProfile",
        validation.CALL,
        {"connectorId": 0, "csChargingProfiles": profile},
    )


def test_tx_profile_names_the_transaction() -> None:
    limit = ChargingLimit("CP", 1, ChargingRateUnit.WATT, ((0, 7400.0, None),), transaction_id=12)
    profile = charging_profile(limit)
    assert (profile["chargingProfileKind"], profile["transactionId"]) == ("Relative", 12)
    assert "transactionId" not in charging_profile(limit, purpose="TxProfile")


def test_the_201_encoder_names_the_transaction_by_the_station_id() -> None:
    limit = ChargingLimit(
        "CP",
        1,
        ChargingRateUnit.WATT,
        ((0, 7400.0, None), (600, 3700.5, 1)),
        purpose="ChargePointMaxProfile",
        transaction_id=12,
        min_rate=1000.0,
    )
    station_max = charging_profile_201(limit, station_tx_id="ignored")
    assert station_max["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert "transactionId" not in station_max
    tx = charging_profile_201(limit, purpose="TxProfile", station_tx_id="st-12")
    assert tx == {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": "st-12",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 7400.0},
                    {"startPeriod": 600, "limit": 3700.5, "numberPhases": 1},
                ],
                "minChargingRate": 1000.0,
            }
        ],
    }
    validation.validate(
        "2.0.1", "SetChargingProfile", validation.CALL, {"evseId": 1, "chargingProfile": tx}
    )


class AnsweringStation:
    """A WebSocket on which every CALL the central system sends is answered Accepted."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] == 2:
            self.calls.append((frame[2], frame[3]))
            answer = json.dumps([3, frame[1], {"status": "Accepted"}])
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.conn.route_message(answer))
            )


async def _commands(version: str) -> tuple[Commands, AnsweringStation, MemoryStore]:
    store = MemoryStore()
    await store.put_station(StationRecord("CP"))
    await store.put_id_token(IdToken("APP-1", kind="eMAID"))
    central = CentralSystem(store, EventBus(), ManualClock(T0))
    ws = AnsweringStation()
    cls = {"1.6": V16Connection, "2.0.1": V201Connection, "2.1": V21Connection}[version]
    ws.conn = cls("CP", ws, central)
    return Commands(lambda _sid: ws.conn, central), ws, store


async def test_commands_look_up_the_station_transaction_id_before_the_201_adapter() -> None:
    commands, ws, store = await _commands("2.0.1")
    tx, _ = await store.open_transaction(
        NewTransaction("CP", 1, 1, T0, id_token="APP-1", station_tx_id="station-tx-9")
    )
    limit = ChargingLimit("CP", 1, ChargingRateUnit.AMPERE, ((0, 16.0, 3),), transaction_id=tx.id)
    assert (await commands.set_charging_profile(limit)).status == "Accepted"
    unknown = dataclasses.replace(limit, transaction_id=tx.id + 100)
    await commands.set_charging_profile(unknown)
    default = dataclasses.replace(limit, purpose="TxDefaultProfile")
    await commands.set_charging_profile(default)
    sent = [payload["chargingProfile"].get("transactionId") for _a, payload in ws.calls]
    assert sent == ["station-tx-9", str(tx.id + 100), None]


async def test_commands_look_up_the_token_type_for_the_201_adapter_only() -> None:
    for version, expected in (("2.0.1", "eMAID"), ("1.6", None)):
        commands, ws, _ = await _commands(version)
        with pytest.raises(CommandTimeout):
            await commands.remote_start("CP", id_token="APP-1", evse_id=1, timeout_s=0.01)
        action, payload = ws.calls[0]
        if version == "1.6":
            assert (action, payload) == (
                "RemoteStartTransaction",
                {"idTag": "APP-1", "connectorId": 1},
            )
        else:
            assert action == "RequestStartTransaction"
            assert payload["idToken"] == {"idToken": "APP-1", "type": expected}
    commands, ws, _ = await _commands("2.0.1")
    with pytest.raises(CommandTimeout):
        await commands.remote_start("CP", id_token="NEW", timeout_s=0.01)
    assert ws.calls[0][1]["idToken"] == {"idToken": "NEW", "type": "Central"}


async def test_an_operation_mode_goes_to_a_21_station_only_and_passes_the_21_schema() -> None:
    setpoint = ChargingLimit(
        "CP",
        1,
        ChargingRateUnit.WATT,
        ((0, -12_500.0, None),),
        purpose="TxDefaultProfile",
        profile_id=9150,
        start_at=T0,
        valid_to=T0.replace(minute=1),
        operation_mode="CentralSetpoint",
    )
    for version in ("1.6", "2.0.1"):
        commands, ws, _ = await _commands(version)
        with pytest.raises(CommandError, match=r"needs OCPP 2\.1"):
            await commands.set_charging_profile(setpoint)
        assert ws.calls == []  # refused before sending
    commands, ws, _ = await _commands("2.1")
    assert (await commands.set_charging_profile(setpoint)).status == "Accepted"
    ((action, payload),) = ws.calls
    period = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert period == [{"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -12_500.0}]
    validation.validate("2.1", action, validation.CALL, payload)
