"""Battery swaps and DER events as telemetry points (decision 0921): each family's lines,
in the schema's measurement, tags and fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.der import DerControl, DerControlType
from csms.der.model import DerAlarm, DerStartStop
from csms.events import (
    BatterySwapUpdated,
    DerAlarmRaised,
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
    SwapFromReadyPack,
    SwapWithoutReadyPack,
)
from csms.sites import Site, StationSites, SwapStation
from csms.swaps import BatterySwap, SwapState
from csms.swaps.model import PackReading
from csms.telemetry.points import PointEncoder
from csms.telemetry.records import Record

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MS = 1_767_268_800_000  # T0 in ms


def _encode(*records: Record) -> list[str]:
    enc = PointEncoder(now_s=lambda: (T0 + timedelta(minutes=5)).timestamp())
    out: list[str] = []
    enc.encode_many(list(records), out)
    assert enc.encode_errors == 0
    return out


def _swap(state: SwapState, **kw: object) -> BatterySwapUpdated:
    swap = BatterySwap(
        7,
        "SWAP1",
        42,
        "DRIVER",
        state,
        "Accepted",
        False,
        T0,
        **kw,  # type: ignore[arg-type]
    )
    return BatterySwapUpdated("SWAP1", swap, T0 + timedelta(minutes=3))


def test_a_swap_session_is_a_point_per_state_change() -> None:
    packs_in = (PackReading("IN-1", 1, 10.0, 99.0), PackReading("IN-2", 2, 20.0, 98.0))
    packs_out = (PackReading("OUT-1", 3, 90.0, 97.0),)
    later = T0 + timedelta(seconds=90)
    lines = _encode(
        _swap(SwapState.REQUESTED),
        _swap(SwapState.OPEN, started_at=T0, packs_in=packs_in, energy_in_wh=10_500.0),
        _swap(
            SwapState.COMPLETED,
            started_at=T0,
            ended_at=later,
            packs_in=packs_in,
            packs_out=packs_out,
            energy_in_wh=10_500.0,
            energy_out_wh=63_000.0,
        ),
        _swap(SwapState.TIMED_OUT, started_at=T0, ended_at=later, packs_in=packs_in[:1]),
    )
    assert lines == [
        f'swap,event=requested,station=SWAP1 auth_status="Accepted",request_id=42i,swap_id=7i {MS}',
        f'swap,event=in,station=SWAP1 auth_status="Accepted",energy_in_wh=10500,'
        f'packs_in="IN-1,IN-2",request_id=42i,soc_in_pct=15,swap_id=7i {MS}',
        f'swap,event=out,station=SWAP1 auth_status="Accepted",duration_s=90,'
        f'energy_in_wh=10500,energy_out_wh=63000,packs_in="IN-1,IN-2",packs_out="OUT-1",'
        f"request_id=42i,soc_in_pct=15,soc_out_pct=90,swap_id=7i {MS + 90_000}",
        f'swap,event=timed_out,station=SWAP1 auth_status="Accepted",duration_s=90,'
        f'packs_in="IN-1",request_id=42i,soc_in_pct=10,swap_id=7i {MS + 90_000}',
    ]


def test_a_swap_session_point_carries_its_stations_site_where_known() -> None:
    sites = StationSites()
    sites.register_site("SWAP1", None)  # registered without a site ...
    enc = PointEncoder(now_s=lambda: (T0 + timedelta(minutes=5)).timestamp(),
                       site_of=sites.placed)  # fmt: skip
    out: list[str] = []
    enc.encode_many([_swap(SwapState.REQUESTED)], out)
    assert out[0].startswith("swap,event=requested,station=SWAP1 ")  # no site known: no tag
    sites.name_stations(
        Site(id="depot", swap=(SwapStation(id="rack", station="SWAP1", node="grid",
             rack_size=2, pack_capacity_wh=1e4, max_pack_power_w=1e3, max_rack_power_w=2e3),))
    )  # fmt: skip
    enc.encode_many([_swap(SwapState.REQUESTED)], out)  # ... named by the site's [[swap]]
    assert out[1].startswith("swap,event=requested,site=depot,station=SWAP1 ")
    sites.register_site("SWAP1", "yard")  # the registration's site wins
    enc.encode_many([_swap(SwapState.REQUESTED)], out)
    assert out[2].startswith("swap,event=requested,site=yard,station=SWAP1 ")


def test_each_swap_at_a_rack_is_a_point_of_its_site_with_or_without_a_ready_pack() -> None:
    lines = _encode(
        SwapFromReadyPack("s1", "rack-a", "SWAP1", 93.0, 80.0, T0 - timedelta(seconds=1)),
        SwapWithoutReadyPack("s1", "rack-a", "SWAP1", 61.5, 80.0, T0),
        SwapWithoutReadyPack("s1", "rack-a", "SWAP1", None, 80.0, T0 + timedelta(seconds=1)),
    )
    assert lines == [
        f'swap,event=ready_pack,site=s1,station=SWAP1 rack="rack-a",ready_pack=true,'
        f"ready_soc_pct=80,soc_out_pct=93 {MS - 1000}",
        f'swap,event=no_ready_pack,site=s1,station=SWAP1 rack="rack-a",ready_pack=false,'
        f"ready_soc_pct=80,soc_out_pct=61.5 {MS}",
        f'swap,event=no_ready_pack,site=s1,station=SWAP1 rack="rack-a",ready_pack=false,'
        f"ready_soc_pct=80 {MS + 1000}",
    ]


def test_der_controls_set_cleared_reported_started_and_alarms() -> None:
    limit = DerControl(
        "lmd-1", DerControlType.LIMIT_MAX_DISCHARGE, False,
        {"priority": 2, "pct_max_discharge_power": 40.0},
    )  # fmt: skip
    old = DerControl("lmd-0", DerControlType.LIMIT_MAX_DISCHARGE, True, {"priority": 5},
                     superseded=True)  # fmt: skip
    droop = DerControl("fd-1", DerControlType.FREQ_DROOP, False, {"priority": 1})
    s = timedelta(seconds=1)
    lines = _encode(
        DerControlSet("BESS1", limit, ("lmd-0",), T0),
        DerControlsReported("BESS1", 3, (droop, limit, old), False, T0 + s),
        DerStartStopped("BESS1", DerStartStop("BESS1", "lmd-1", True, T0 + 2 * s)),
        DerAlarmRaised("BESS1", DerAlarm("BESS1", DerControlType.LV_MUST_TRIP, T0 + 3 * s,
                                         grid_event_fault="UnderVoltage")),
        DerAlarmRaised("BESS1", DerAlarm("BESS1", DerControlType.LV_MUST_TRIP, T0 + 4 * s,
                                         alarm_ended=True)),
        DerStartStopped("BESS1", DerStartStop("BESS1", "lmd-1", False, T0 + 5 * s)),
        DerControlsCleared("BESS1", ("lmd-1", "fd-1"), T0 + 6 * s),
    )  # fmt: skip
    ms = lambda k: MS + 1000 * k  # noqa: E731
    assert lines == [
        f'der,control_type=LimitMaxDischarge,event=set,station=BESS1 control_id="lmd-1",'
        f'in_force=true,is_default=false,priority=2i,superseded="lmd-0",value=1i {ms(0)}',
        f'der,control_type=FreqDroop,event=reported,station=BESS1 control_id="fd-1",'
        f"in_force=true,value=1i {ms(1)}",
        f"der,control_type=LimitMaxDischarge,event=reported,station=BESS1 "
        f'control_id="lmd-1,lmd-0",in_force=true,value=2i {ms(1)}',
        f'der,event=started,station=BESS1 control_id="lmd-1",in_force=true,value=1i {ms(2)}',
        f"der,control_type=LVMustTrip,event=alarm,station=BESS1 "
        f'grid_event_fault="UnderVoltage",value=1i {ms(3)}',
        f"der,control_type=LVMustTrip,event=alarm_ended,station=BESS1 value=1i {ms(4)}",
        f'der,event=stopped,station=BESS1 control_id="lmd-1",in_force=false,value=1i {ms(5)}',
        f'der,event=cleared,station=BESS1 control_id="lmd-1,fd-1",in_force=false,value=2i {ms(6)}',
    ]
