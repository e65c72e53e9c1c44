"""The simulated OCPP 2.1 station: the 2.0.1 station speaking ``ocpp2.1`` with the 2.1
schemas, and fleets that mix all three versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from simulators.config import StationSpec
from simulators.fleet import build_runner, version_for
from simulators.ocpp21 import V21Adapter, V21ChargePoint
from simulators.ocpp201 import V201Adapter, V201ChargePoint
from simulators.runner import StationRunner
from simulators.station import Station

T0 = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)

#: A TxDefaultProfile with a field 2.1 added (``maxOfflineDuration``).
PROFILE_21 = {
    "id": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "maxOfflineDuration": 600,
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-03-05T18:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}],
        }
    ],
}


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, frame: str) -> None:
        self.sent.append(json.loads(frame))

    async def recv(self) -> str:
        raise AssertionError("not used")


def _runner(version: str) -> StationRunner:
    spec = StationSpec(station_id="SIM-0001", ocpp_version=version)
    return build_runner(spec, url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))


def test_version_mixes() -> None:
    assert [version_for(i, "mixed") for i in range(4)] == ["1.6", "2.0.1", "1.6", "2.0.1"]
    assert [version_for(i, "all") for i in range(4)] == ["1.6", "2.0.1", "2.1", "1.6"]
    assert version_for(5, "2.1") == "2.1"
    with pytest.raises(ValueError, match=r"2\.1, mixed, all"):
        version_for(0, "3.0")
    with pytest.raises(ValueError, match="ocpp_version"):
        StationSpec(station_id="X", ocpp_version="2.2")


def test_a_21_station_offers_ocpp21() -> None:
    r = _runner("2.1")
    assert isinstance(r.adapter, V21Adapter)
    assert r.adapter.subprotocol == "ocpp2.1"
    assert type(_runner("2.0.1").adapter) is V201Adapter


async def test_the_21_station_takes_21_fields_that_201_refuses() -> None:
    r21, ws21 = _runner("2.1"), FakeConnection()
    cp21 = V21ChargePoint(r21, ws21)  # type: ignore[arg-type]
    frame = json.dumps([2, "a", "SetChargingProfile", {"evseId": 1, "chargingProfile": PROFILE_21}])
    await cp21.route_message(frame)
    assert ws21.sent == [[3, "a", {"status": "Accepted"}]]
    assert [i.profile.id for i in r21.station.profiles.items] == [7]

    r201, ws201 = _runner("2.0.1"), FakeConnection()
    cp201 = V201ChargePoint(r201, ws201)  # type: ignore[arg-type]
    await cp201.route_message(frame)
    assert ws201.sent[0][0] == 4  # a CALLERROR: 2.0.1 has no maxOfflineDuration
    assert not r201.station.profiles.items


def test_the_21_station_states_its_needs_at_the_start() -> None:
    """Like 2.0.1 (and unlike 1.6), a 2.1 transaction start carries the EV's needs."""
    from simulators.ev import EVSpec
    from simulators.messages import ChargingNeeds

    ev = EVSpec(ev_id="EV1", arrival=T0, id_tag="TAG1")
    for version, needs in (("2.1", 1), ("1.6", 0)):
        station = Station(
            StationSpec(station_id="SIM-0001", ocpp_version=version), now=T0, sessions=[(1, ev)]
        )
        out = station.remote_start("TAG1", 1, None, T0)[1]
        assert sum(isinstance(m, ChargingNeeds) for m in out) == needs, version
