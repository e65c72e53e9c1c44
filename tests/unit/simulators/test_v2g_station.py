"""V2G vehicles at the simulated OCPP 2.1 station: their needs with V2X parameters, 2.1
operation modes in charging profiles, discharge within the vehicle's limits, the export
register and negative power; 1.6 and 2.0.1 stations never discharge."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.charge_point import snake_to_camel_case

from chargegrid.clock import ManualClock
from simulators.charging_profiles import ProfileError, parse_profile
from simulators.config import StationSpec
from simulators.connector import ConnectorSpec
from simulators.ev import EVSpec
from simulators.fleet import build_runner
from simulators.fleet_devices import with_v2g
from simulators.messages import ChargingNeeds, MeterSample, Outgoing, TransactionStarted
from simulators.runner import OutItem
from simulators.station import Station
from simulators.v2g import BidirectionalEV, V2XSpec
from tests.unit.simulators.test_storage_station import validator

T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
V2X = V2XSpec(max_discharge_w=7_000.0, min_discharge_w=1_000.0, v2x_min_soc=0.3)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def ev(v2x: V2XSpec | None = V2X, **kw: Any) -> EVSpec:
    values: dict[str, Any] = {
        "ev_id": "EV-1",
        "capacity_wh": 60_000.0,
        "initial_soc": 0.6,
        "target_soc": 0.8,
        "max_ac_power_w": 11_000.0,
        "arrival": T0,
        "departure": minutes(12 * 60),
        "id_tag": "TAG1",
        "v2x": v2x,
    }
    values.update(kw)
    return EVSpec(**values)


def started(version: str = "2.1", **kw: Any) -> tuple[Station, list[Outgoing]]:
    spec = StationSpec(
        station_id="SIM-0001",
        ocpp_version=version,
        meter_interval_s=60.0,
        connectors=(ConnectorSpec(max_current_a=32, phases=3),),
    )
    st = Station(spec, now=T0, sessions=[(1, ev(**kw))])
    out = st.step(T0)
    out += st.on_authorized(1, True, T0)
    return st, out


def setpoint_profile(
    setpoints: list[float], *, purpose: str = "TxProfile", mode: str = "CentralSetpoint"
) -> dict[str, Any]:
    return {
        "id": 5,
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 600 * i, "operationMode": mode, "setpoint": value}
                    for i, value in enumerate(setpoints)
                ],
            }
        ],
    }


def samples(out: list[Outgoing]) -> list[MeterSample]:
    return [m for m in out if isinstance(m, MeterSample)]


def test_2_1_profile_periods_read_their_operation_mode() -> None:
    p = parse_profile(setpoint_profile([-5_000, 3_000]))
    assert [(q.operation_mode, q.setpoint, q.limit) for q in p.schedule.periods] == [
        ("CentralSetpoint", -5_000.0, 0.0),
        ("CentralSetpoint", 3_000.0, 3_000.0),
    ]
    raw = setpoint_profile([-9_000])
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["dischargeLimit"] = -4_000
    assert parse_profile(raw).schedule.periods[0].setpoint == -4_000.0
    idle = parse_profile(setpoint_profile([0], mode="Idle")).schedule.periods[0]
    assert (idle.limit, idle.setpoint) == (0.0, 0.0)
    local = setpoint_profile([0], mode="LocalFrequency")
    local["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = 6_000
    assert parse_profile(local).schedule.periods[0].limit == 6_000.0
    with pytest.raises(ProfileError, match="operationMode"):
        parse_profile(setpoint_profile([1], mode="ExternalSetpoint"))
    with pytest.raises(ProfileError, match="setpoint"):
        parse_profile(setpoint_profile([float("nan")]))
    negative = setpoint_profile([0], mode="ChargingOnly")
    negative["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = -10
    with pytest.raises(ProfileError, match="must not be negative"):
        parse_profile(negative)


def test_a_v2g_vehicle_states_its_v2x_needs_valid_against_2_1() -> None:
    st, out = started()
    assert isinstance(st.connectors[1].ev, BidirectionalEV)
    [needs] = [m for m in out if isinstance(m, ChargingNeeds)]
    assert needs.v2x is not None
    runner = build_runner(st.spec, url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))
    encoded = runner.adapter.encode(OutItem(needs), runner.station)
    assert encoded is not None
    payload = {k: v for k, v in snake_to_camel_case(asdict(encoded)).items() if v is not None}
    validator("NotifyEVChargingNeedsRequest")(payload)
    sent = payload["chargingNeeds"]
    assert sent["requestedEnergyTransfer"] == "AC_BPT"
    assert sent["availableEnergyTransfer"] == ["AC_BPT", "AC_three_phase"]
    assert sent["v2xChargingParameters"]["maxDischargePower"] == 7_000.0
    assert sent["acChargingParameters"]["energyAmount"] == 12_000


def test_a_negative_central_setpoint_discharges_and_is_metered_as_export() -> None:
    st, _ = started()
    ok, _ = st.set_profile(1, parse_profile(setpoint_profile([-5_000, 4_000])), T0)
    assert ok and st.connectors[1].power_w == -5_000
    out = st.step(minutes(9))
    last = samples(out)[-1]
    assert last.power_w == -5_000.0 and last.export_wh == pytest.approx(750.0, abs=0.1)
    ev = st.connectors[1].ev
    assert ev is not None and ev.soc == pytest.approx(0.6 - 750 / 60_000)
    out = st.step(minutes(20))  # the second period charges at its setpoint
    assert samples(out)[-1].power_w == 4_000.0
    assert st.connectors[1].energy_wh == pytest.approx(4_000 / 6, abs=1)
    runner = build_runner(st.spec, url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))
    encoded = runner.adapter.encode(OutItem(last), runner.station)
    assert encoded is not None
    payload = {k: v for k, v in snake_to_camel_case(asdict(encoded)).items() if v is not None}
    validator("TransactionEventRequest")(payload)
    values = {v["measurand"]: v["value"] for v in payload["meterValue"][0]["sampledValue"]}
    assert values["Power.Active.Import"] == -5_000.0
    assert values["Power.Active.Export"] == 5_000.0
    assert values["Energy.Active.Export.Register"] == pytest.approx(750.0, abs=0.1)


def test_the_vehicle_stops_giving_at_its_floor_and_the_refusal_is_counted() -> None:
    st, _ = started(initial_soc=0.32)  # 1200 Wh above its V2X minimum
    st.set_profile(1, parse_profile(setpoint_profile([-6_000])), T0)
    out = st.step(minutes(30))
    assert samples(out)[-1].power_w == 0.0
    ev = st.connectors[1].ev
    assert ev is not None and ev.soc == pytest.approx(0.3)
    record = st.connectors[1].record
    assert record is not None and record.discharge_refusals == 1
    assert record.discharged_wh == pytest.approx(1_200.0)


def test_a_vehicle_that_cannot_give_has_the_tx_profile_refused() -> None:
    plain, _ = started(v2x=None)
    assert plain.profile_refusal(1, parse_profile(setpoint_profile([-5_000]))) is not None
    unwilling, _ = started(v2x=V2XSpec(discharge_allowed=False))
    refusal = unwilling.profile_refusal(1, parse_profile(setpoint_profile([-5_000])))
    assert refusal is not None and "does not allow" in refusal
    # a default profile is not about one vehicle: taken, and a plain EV simply gives nothing
    ok, _ = plain.set_profile(
        1, parse_profile(setpoint_profile([-5_000], purpose="TxDefaultProfile")), T0
    )
    assert ok
    plain.step(minutes(5))
    record = plain.connectors[1].record
    assert record is not None and record.discharge_refusals == 1 and record.discharged_wh == 0.0
    assert plain.connectors[1].power_w == 0


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_older_stations_take_no_operation_modes_and_their_v2g_vehicles_only_charge(
    version: str,
) -> None:
    st, out = started(version)
    assert not isinstance(st.connectors[1].ev, BidirectionalEV)
    assert all(m.v2x is None for m in out if isinstance(m, ChargingNeeds))
    refusal = st.profile_refusal(1, parse_profile(setpoint_profile([-5_000])))
    assert refusal is not None and "2.1" in refusal
    assert [m for m in out if isinstance(m, TransactionStarted)]


def test_a_seeded_share_of_the_vehicles_is_v2g() -> None:
    plan = {"S": [(1, ev(v2x=None, ev_id=f"EV-{i}")) for i in range(400)]}
    mixed = with_v2g(plan, 0.25, V2X, seed=3)
    v2g = [spec.ev_id for _, spec in mixed["S"] if spec.v2x is not None]
    assert 60 < len(v2g) < 140
    assert v2g == [spec.ev_id for _, spec in with_v2g(plan, 0.25, V2X, seed=3)["S"] if spec.v2x]
    assert with_v2g(plan, 0.0, V2X, seed=3) is plan
    with pytest.raises(ValueError, match="v2g_share"):
        with_v2g(plan, 1.5, V2X, seed=3)
