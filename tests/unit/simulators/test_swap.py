from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastjsonschema
import ocpp
import pytest

from simulators.battery_swap import battery_swap_requests
from simulators.exceptions import InvalidParameter
from simulators.swap import PackSpec, SwapArrival, SwapStation, SwapStationSpec

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CAP = 50_000.0


def station(socs: list[float], *, slots: int | None = None, **overrides: object) -> SwapStation:
    values: dict[str, object] = {
        "station_id": "SW1",
        "slots": len(socs) if slots is None else slots,
        "packs": tuple(PackSpec(f"P{i}", CAP, soc) for i, soc in enumerate(socs)),
        "max_rack_power_w": 60_000.0,
        "max_pack_power_w": 25_000.0,
        "charge_efficiency": 0.9,
        "ready_soc": 0.9,
        "target_soc": 0.95,
        "swap_time_s": 300.0,
    }
    values.update(overrides)
    return SwapStation(SwapStationSpec(**values), start=T0)  # type: ignore[arg-type]


def arrival(name: str, minutes: float, soc: float = 0.15) -> SwapArrival:
    return SwapArrival(name, T0 + timedelta(minutes=minutes), PackSpec(f"X-{name}", CAP, soc))


def balance_error(st: SwapStation, rack_before_wh: float) -> float:
    t = st.totals
    rhs = st.rack_energy_wh() - rack_before_wh + t.losses_wh + t.carried_out_wh - t.carried_in_wh
    return abs(t.energy_wh - rhs) / max(1.0, t.energy_wh)


def test_swap_takes_the_fullest_ready_pack_and_leaves_the_depleted_one() -> None:
    st = station([0.92, 0.97, 0.5], swap_time_s=240.0)
    st.add_arrivals([arrival("V1", 10)])
    report = st.advance(3600)
    [record] = report.swaps
    assert record.outcome == "swapped"
    assert record.pack_out_serial == "P1"
    assert record.slot == 2
    assert record.pack_in_serial == "X-V1"
    assert record.pack_in_soc == 0.15
    assert record.energy_in_wh == pytest.approx(0.15 * CAP)
    # P1 was at 0.97 (above target: not charging) when the robot took it
    assert record.pack_out_soc == pytest.approx(0.97)
    assert record.energy_out_wh == pytest.approx(0.97 * CAP)
    assert record.started == T0 + timedelta(minutes=10)
    assert record.finished == record.started + timedelta(seconds=240)
    slot_pack = st.slots[1]
    assert slot_pack is not None and slot_pack.serial == "X-V1"
    assert slot_pack.soc > 0.15  # charging since the swap


def test_a_swap_with_no_ready_pack_is_recorded_as_such() -> None:
    st = station([0.5, 0.6])
    st.add_arrivals([arrival("V1", 0)])
    [record] = st.advance(60).swaps
    assert record.outcome == "no_ready_pack"
    assert record.pack_out_serial is None and record.energy_out_wh == 0.0
    assert st.rack_energy_wh() > 1.1 * CAP  # the rack kept its packs, charging


def test_a_pack_that_is_already_in_the_rack_is_refused() -> None:
    st = station([0.95, 0.95])
    st.add_arrivals([SwapArrival("V1", T0, PackSpec("P0", CAP, 0.2))])
    [record] = st.advance(10).swaps
    assert record.outcome == "duplicate_pack"


def test_the_robot_serves_one_vehicle_at_a_time_in_arrival_order() -> None:
    st = station([0.95, 0.95, 0.95, 0.1], swap_time_s=300.0)
    st.add_arrivals([arrival("V2", 1), arrival("V1", 0), arrival("V3", 2)])
    swaps = st.advance(3600).swaps
    assert [r.vehicle_id for r in swaps] == ["V1", "V2", "V3"]
    assert [r.waited_s for r in swaps] == [0.0, 240.0, 480.0]
    assert all(r.outcome == "swapped" for r in swaps)


def test_a_pack_becomes_ready_while_a_vehicle_waits_for_the_robot() -> None:
    # one ready pack; the second is 1 kWh short of ready: at 25 kW x 0.9 that is 160 s,
    # less than the first swap's 300 s, so the second vehicle still finds a ready pack
    st = station([0.95, 0.9 - 1000 / CAP], max_rack_power_w=25_000.0)
    st.add_arrivals([arrival("V1", 0), arrival("V2", 0)])
    swaps = st.advance(900).swaps
    assert [r.outcome for r in swaps] == ["swapped", "swapped"]
    assert [r.vehicle_id for r in swaps] == ["V1", "V2"]  # same instant: in the given order
    assert swaps[1].pack_out_serial == "P1"


def test_rack_power_is_shared_fullest_first_under_the_limits() -> None:
    st = station([0.2, 0.5, 0.8], max_rack_power_w=60_000.0, max_pack_power_w=25_000.0)
    report = st.advance(60)
    assert report.power_w == pytest.approx(60_000.0)
    packs = [pack for pack in st.slots if pack is not None]
    assert packs[2].soc_wh == pytest.approx(0.8 * CAP + 25_000 / 60 * 0.9)
    assert packs[1].soc_wh == pytest.approx(0.5 * CAP + 25_000 / 60 * 0.9)
    assert packs[0].soc_wh == pytest.approx(0.2 * CAP + 10_000 / 60 * 0.9)
    st.set_power_limit_w(30_000.0)
    assert st.advance(60).power_w == pytest.approx(30_000.0)
    st.set_power_limit_w(None)
    assert st.advance(60).power_w == pytest.approx(60_000.0)


def test_packs_stop_at_the_target() -> None:
    st = station([0.94])
    report = st.advance(3600)
    pack = st.slots[0]
    assert pack is not None
    assert pack.soc == pytest.approx(0.95)
    assert report.energy_wh == pytest.approx(0.01 * CAP / 0.9)
    assert report.power_w == 0.0
    assert st.energy_to_target_wh() == pytest.approx(0.0, abs=1e-6)


def test_energy_is_conserved_over_a_busy_day() -> None:
    rng = random.Random(5)
    st = station(
        [rng.uniform(0.2, 1.0) for _ in range(8)],
        max_rack_power_w=100_000.0,
        max_pack_power_w=20_000.0,
    )
    before = st.rack_energy_wh()
    st.add_arrivals(
        [arrival(f"V{n}", rng.uniform(0, 24 * 60), rng.uniform(0, 0.4)) for n in range(60)]
    )
    outcomes: list[str] = []
    for _ in range(100):  # a day and an hour: the last swap ends
        st.set_power_limit_w(rng.choice([None, 30_000.0, 80_000.0]))
        outcomes += [r.outcome for r in st.advance(900).swaps]
    assert len(outcomes) == 60
    assert "swapped" in outcomes and "no_ready_pack" in outcomes
    assert st.totals.carried_in_wh > 0
    assert balance_error(st, before) < 1e-9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_rack_power_w", 0.0),
        ("max_pack_power_w", math.nan),
        ("charge_efficiency", 1.01),
        ("ready_soc", -0.1),
        ("target_soc", 0.5),
        ("swap_time_s", math.inf),
        ("slots", 0),
    ],
)
def test_station_numbers_are_checked(field: str, value: float) -> None:
    with pytest.raises(InvalidParameter) as caught:
        station([0.5], **{field: value})  # type: ignore[arg-type]
    assert caught.value.field.startswith("swap[SW1].")


def test_packs_and_arrivals_are_checked() -> None:
    with pytest.raises(InvalidParameter, match="soc"):
        PackSpec("A", CAP, 1.2)
    with pytest.raises(InvalidParameter, match="serial"):
        PackSpec("", CAP, 0.5)
    with pytest.raises(InvalidParameter, match="serial"):
        PackSpec("x" * 51, CAP, 0.5)
    with pytest.raises(InvalidParameter, match="twice"):
        SwapStationSpec("S", 2, (PackSpec("A", CAP, 0.5), PackSpec("A", CAP, 0.6)), 1.0, 1.0)
    with pytest.raises(InvalidParameter, match="slots"):
        SwapStationSpec("S", 1, (PackSpec("A", CAP, 0.5), PackSpec("B", CAP, 0.6)), 1.0, 1.0)
    st = station([0.5])
    st.advance(60)
    with pytest.raises(InvalidParameter, match="before the station"):
        st.add_arrivals([arrival("V1", 0)])
    with pytest.raises(InvalidParameter, match="limit_w"):
        st.set_power_limit_w(-1.0)


def test_a_served_swap_is_battery_in_then_battery_out_valid_against_2_1() -> None:
    schema = json.loads(
        (Path(ocpp.__file__).parent / "v21" / "schemas" / "BatterySwapRequest.json").read_text(
            encoding="utf-8"
        )
    )
    validate = fastjsonschema.compile(schema)
    st = station([0.96, 0.5])
    st.add_arrivals(
        [
            SwapArrival("V1", T0, PackSpec("X1", CAP, 0.12), id_token="DRIVER1"),
            SwapArrival("V2", T0 + timedelta(minutes=6), PackSpec("X2", CAP, 0.1)),
        ]
    )
    served, turned_away = st.advance(900).swaps
    first, second = battery_swap_requests(served, request_id=5, soh=0.97)
    for payload in (first, second):
        validate(payload)
    assert (first["eventType"], second["eventType"]) == ("BatteryIn", "BatteryOut")
    assert first["batteryData"] == [{"evseId": 1, "serialNumber": "X1", "soC": 12.0, "soH": 97.0}]
    assert second["batteryData"][0]["serialNumber"] == "P0"
    assert second["batteryData"][0]["soC"] == pytest.approx(96.0)
    assert first["idToken"] == {"idToken": "DRIVER1", "type": "Central"}
    assert turned_away.outcome == "no_ready_pack"
    assert battery_swap_requests(turned_away, request_id=6) == []
    with pytest.raises(InvalidParameter, match="request_id"):
        battery_swap_requests(served, request_id=-1)
