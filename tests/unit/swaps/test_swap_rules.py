"""The swap rules (csms.swaps.model.apply), pure: sessions, energy, packs, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.swaps import (
    BatteryPack,
    PackReading,
    SwapEvent,
    SwapEventKind,
    SwapRefused,
    SwapState,
    UnknownPack,
    UnknownSwap,
    apply,
)
from csms.swaps.model import requested

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
PACKS = {
    "P-IN": BatteryPack("P-IN", capacity_wh=60_000),
    "P-OUT": BatteryPack("P-OUT", capacity_wh=60_000, station_id="SW1", slot=4),
}
IN = SwapEvent(
    "SW1", SwapEventKind.BATTERY_IN, 5, "DRIVER", (PackReading("P-IN", 2, 20.0, 97.0),), T0
)
OUT = SwapEvent(
    "SW1",
    SwapEventKind.BATTERY_OUT,
    5,
    "DRIVER",
    (PackReading("P-OUT", 4, 95.0, 99.0),),
    T0 + timedelta(minutes=3),
)


def test_a_swap_in_then_out_is_a_session_with_energy_in_and_out() -> None:
    opened = apply(None, IN, PACKS, authorization="Accepted")
    assert opened.swap is not None and opened.swap.state is SwapState.OPEN
    assert opened.swap.energy_in_wh == pytest.approx(12_000)
    assert opened.swap.energy_wh is None  # not billable before the packs are out
    [moved_in] = opened.packs
    assert (moved_in.station_id, moved_in.slot, moved_in.soc_pct) == ("SW1", 2, 20.0)
    done = apply(opened.swap, OUT, PACKS, authorization=None)
    assert done.swap is not None and done.swap.state is SwapState.COMPLETED
    assert done.swap.energy_out_wh == pytest.approx(57_000)
    assert done.swap.energy_wh == pytest.approx(45_000)
    assert done.swap.ended_at == OUT.at and done.swap.auth_status == "Accepted"
    [moved_out] = done.packs
    assert moved_out.station_id is None and moved_out.slot is None


def test_redelivered_events_change_nothing() -> None:
    opened = apply(None, IN, PACKS, authorization="Accepted").swap
    assert apply(opened, IN, PACKS, authorization="Accepted").swap is None
    done = apply(opened, OUT, PACKS, authorization=None).swap
    assert apply(done, OUT, PACKS, authorization=None).swap is None


def test_a_requested_swap_is_opened_by_its_first_event() -> None:
    waiting = requested("SW1", 5, "DRIVER", T0)
    opened = apply(waiting, IN, PACKS, authorization="Accepted").swap
    assert opened is not None and opened.requested and opened.created_at == T0


def test_out_without_in_is_an_unknown_swap() -> None:
    with pytest.raises(UnknownSwap, match="requestId: no swap 5"):
        apply(None, OUT, PACKS, authorization=None)
    with pytest.raises(UnknownSwap):
        apply(requested("SW1", 5, "DRIVER", T0), OUT, PACKS, authorization=None)


def test_an_unregistered_pack_is_refused() -> None:
    event = SwapEvent(
        "SW1", SwapEventKind.BATTERY_IN, 6, "D", (PackReading("NOPE", 1, 50, 90),), T0
    )
    with pytest.raises(UnknownPack, match=r"batteryData\[0\].serialNumber: unknown pack 'NOPE'"):
        apply(None, event, PACKS, authorization="Accepted")


@pytest.mark.parametrize("soc", [-0.1, 100.5, float("nan"), float("inf")])
def test_a_state_of_charge_outside_0_100_or_not_finite_is_refused(soc: float) -> None:
    event = SwapEvent(
        "SW1", SwapEventKind.BATTERY_IN, 6, "D", (PackReading("P-IN", 1, soc, 90),), T0
    )
    with pytest.raises(
        SwapRefused, match=r"batteryData\[0\].soC: must be a finite number in 0..100"
    ):
        apply(None, event, PACKS, authorization="Accepted")


def test_a_second_swap_in_under_an_open_request_id_is_refused() -> None:
    opened = apply(None, IN, PACKS, authorization="Accepted").swap
    other = SwapEvent(
        "SW1", SwapEventKind.BATTERY_IN, 5, "D", (PackReading("P-OUT", 1, 10, 90),), T0
    )
    with pytest.raises(SwapRefused, match="requestId: swap 5 already has its packs in"):
        apply(opened, other, PACKS, authorization="Accepted")


def test_a_timeout_ends_the_swap_unbilled_and_the_packs_stay() -> None:
    opened = apply(None, IN, PACKS, authorization="Accepted").swap
    timeout = SwapEvent(
        "SW1", SwapEventKind.BATTERY_OUT_TIMEOUT, 5, "D", OUT.packs, T0 + timedelta(minutes=5)
    )
    out = apply(opened, timeout, PACKS, authorization=None)
    assert out.swap is not None and out.swap.state is SwapState.TIMED_OUT
    assert out.swap.energy_wh is None
    assert [p.station_id for p in out.packs] == ["SW1"]
