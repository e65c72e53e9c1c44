"""A swap station's swap timeout: a swap not done within ``swap_timeout_s`` of the vehicle's
turn (no ready pack in time, a jammed robot) is recorded as ``timed_out`` with its reason,
moves no battery, and is reported over 2.1 as a ``Timeout`` NotifyEvent."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from simulators.exceptions import InvalidParameter
from simulators.swap import SwapStation
from tests.unit.simulators import test_swap_ocpp as ocpp_side
from tests.unit.simulators.test_storage_station import check
from tests.unit.simulators.test_swap import T0, arrival, balance_error, station


def _serials(st: SwapStation) -> set[str]:
    return {pack.serial for pack in st.slots if pack is not None}


def test_a_vehicle_waits_for_a_pack_to_become_ready_within_the_timeout() -> None:
    st = station([0.85], swap_timeout_s=1800.0)  # ready at 0.9: about 400 s of charging
    st.add_arrivals([arrival("V1", 1)])
    [record] = st.advance(3600).swaps
    assert record.outcome == "swapped" and record.reason is None
    ready_s = (record.started - T0).total_seconds()  # the pack charged from the start
    assert 390.0 <= ready_s <= 410.0 and record.waited_s == ready_s - 60.0
    # without a timeout the same vehicle is turned away at once
    st = station([0.85])
    st.add_arrivals([arrival("V1", 1)])
    [record] = st.advance(3600).swaps
    assert (record.outcome, record.finished) == ("no_ready_pack", T0 + timedelta(minutes=1))


def test_no_ready_pack_in_time_is_a_timed_out_swap_that_moves_no_battery() -> None:
    st = station([0.3], swap_timeout_s=600.0)
    before = st.rack_energy_wh()
    st.add_arrivals([arrival("V1", 1)])
    [record] = st.advance(3600).swaps
    assert (record.outcome, record.reason) == ("timed_out", "no_ready_pack")
    assert record.started == T0 + timedelta(minutes=1)
    assert record.finished == T0 + timedelta(minutes=11)
    assert record.pack_out_serial is None and record.slot is None
    assert _serials(st) == {"P0"}
    assert balance_error(st, before) < 1e-9


def test_a_jammed_robot_times_the_swap_out_and_its_pack_goes_back_to_charging() -> None:
    st = station([0.95, 0.5], swap_timeout_s=900.0)
    before = st.rack_energy_wh()
    st.add_arrivals([arrival("V1", 1), arrival("V2", 20), arrival("V3", 130)])
    st.advance(120)  # V1's swap has begun
    st.jam(T0 + timedelta(hours=2))
    records = st.advance(3 * 3600).swaps
    assert [(r.vehicle_id, r.outcome, r.reason) for r in records] == [
        ("V1", "timed_out", "robot_jam"),
        ("V2", "timed_out", "robot_jam"),  # its turn came while the robot was stuck
        ("V3", "swapped", None),  # the jam is over
    ]
    assert records[0].finished == T0 + timedelta(minutes=16)  # its turn at 1 min + 900 s
    assert records[1].finished == T0 + timedelta(minutes=35)
    assert records[2].pack_out_serial == "P0"  # the pack V1 did not get was charged on
    assert _serials(st) == {"P1", "X-V3"}
    assert balance_error(st, before) < 1e-9


def test_without_a_timeout_a_jam_only_delays_the_swap() -> None:
    st = station([0.95])
    st.add_arrivals([arrival("V1", 1)])
    st.advance(120)
    st.jam(T0 + timedelta(minutes=30))
    [record] = st.advance(3600).swaps
    assert record.outcome == "swapped"
    assert record.finished == T0 + timedelta(minutes=30)


def test_jams_are_seeded() -> None:
    def run(seed: int) -> list[tuple[str, str]]:
        st = station([0.95] * 6, swap_timeout_s=900.0, jam_share=0.5, jam_s=1200.0)
        st.seed = seed
        st.add_arrivals([arrival(f"V{n}", 1 + 40 * n) for n in range(12)])
        return [(r.outcome, r.reason or "") for r in st.advance(12 * 3600).swaps]

    first = run(3)
    assert first == run(3)
    assert {("swapped", ""), ("timed_out", "robot_jam")} <= set(first)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("swap_timeout_s", 200.0, "below swap_time_s"),
        ("swap_timeout_s", math.nan, "swap_timeout_s"),
        ("swap_timeout_s", 0.0, "swap_timeout_s"),
        ("jam_share", 1.5, "jam_share"),
        ("jam_s", 0.0, "jam_s"),
    ],
)
def test_timeout_and_jam_numbers_are_checked(field: str, value: float, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        station([0.5], **{field: value})  # type: ignore[arg-type]


def test_a_timed_out_swap_is_a_timeout_notify_event_over_2_1() -> None:
    st = ocpp_side.swap_station([0.3], swap_timeout_s=600.0)
    st.swap.add_arrivals([ocpp_side.arrival("V1", 1)])
    out = check(st.step(ocpp_side.T0 + timedelta(minutes=30)))
    assert not ocpp_side.of(out, "BatterySwap")  # no battery moved
    [event] = ocpp_side.of(out, "NotifyEvent")
    data = event["eventData"][0]
    assert (data["component"]["name"], data["variable"]["name"]) == ("BatterySwap", "Outcome")
    assert data["actualValue"] == "Timeout"
    assert "V1" in data["techInfo"] and "no_ready_pack" in data["techInfo"]
    assert st.outcomes()["timed_out"] == 1
