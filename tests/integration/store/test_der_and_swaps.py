"""DER controls, DER alarms, battery packs and swap sessions on every store (memory, SQLite,
PostgreSQL): the same answers from each repository."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from csms.der import DerAlarm, DerControl, DerControlRecord, DerControlType, der_repository_for
from csms.store import Store
from csms.swaps import BatteryPack, PackReading, SwapFilter, SwapState, swap_repository_for
from csms.swaps.model import BatterySwap
from tests.integration.store.helpers import T0, at

CURVE = DerControl(
    "vw-1",
    DerControlType.VOLT_WATT,
    False,
    {"priority": 2, "y_unit": "PctMaxW", "curve_data": [{"x": 106.0, "y": 100.0}]},
)
PF = DerControl(
    "pf-1",
    DerControlType.FIXED_PF_ABSORB,
    True,
    {"priority": 1, "displacement": 0.9, "excitation": False},
)


async def test_der_controls_round_trip_and_leave_force(store: Store) -> None:
    repo = der_repository_for(store)
    await repo.put_controls(
        [DerControlRecord("S1", CURVE, "set", T0), DerControlRecord("S1", PF, "reported", T0)]
    )
    await repo.put_controls([DerControlRecord("S2", CURVE, "set", T0)])
    found = await repo.list_controls("S1")
    assert [r.control for r in found] == [PF, CURVE]  # by type, then priority
    assert found[1].recorded_at == T0 and found[1].source == "set"
    started = dataclasses.replace(found[1], started=True, started_changed_at=at(5))
    await repo.put_controls([started])
    assert await repo.get_control("S1", "vw-1") == started
    cleared = dataclasses.replace(found[0], cleared_at=at(9))
    await repo.put_controls([cleared])
    assert [r.control.control_id for r in await repo.list_controls("S1")] == ["vw-1"]
    assert len(await repo.list_controls("S1", in_force=False)) == 2
    superseded = dataclasses.replace(started.control, superseded=True)
    await repo.put_controls([dataclasses.replace(started, control=superseded)])
    assert await repo.list_controls("S1") == []
    assert [r.station_id for r in await repo.list_controls("S2")] == ["S2"]
    assert await repo.get_control("S1", "nope") is None


async def test_der_alarms_newest_first(store: Store) -> None:
    repo = der_repository_for(store)
    first = DerAlarm("S1", DerControlType.HV_MUST_TRIP, at(1), "OverVoltage", False, "253 V")
    second = DerAlarm("S1", DerControlType.HV_MUST_TRIP, at(60), "OverVoltage", True)
    other = DerAlarm("S2", DerControlType.LF_MUST_TRIP, at(30))
    for alarm in (first, second, other):
        await repo.add_alarm(alarm)
    assert await repo.list_alarms(station_id="S1") == [second, first]
    assert await repo.list_alarms(since=at(30)) == [second, other]
    assert await repo.list_alarms(limit=1) == [second]


def _swap(**kw: object) -> BatterySwap:
    fields: dict[str, object] = {
        "id": None,
        "station_id": "SW1",
        "request_id": 7,
        "id_token": "DRV",
        "state": SwapState.OPEN,
        "auth_status": "Accepted",
        "requested": False,
        "created_at": T0,
        "started_at": T0,
        "packs_in": (PackReading("A1", 2, 12.5, 97.0),),
        "energy_in_wh": 6250.0,
    }
    fields.update(kw)
    return BatterySwap(**fields)  # type: ignore[arg-type]


async def test_swaps_and_packs_round_trip(store: Store) -> None:
    repo = swap_repository_for(store)
    await repo.put_pack(BatteryPack("A1", capacity_wh=50_000))
    moved = BatteryPack(
        "A1", 50_000, station_id="SW1", slot=2, soc_pct=12.5, soh_pct=97, updated_at=T0
    )
    stored = await repo.save_swap(_swap(), [moved])
    assert stored.id is not None
    assert await repo.get_packs(["A1", "ZZ"]) == {"A1": moved}
    assert await repo.list_packs(station_id="SW1") == [moved]
    done = dataclasses.replace(
        stored,
        state=SwapState.COMPLETED,
        ended_at=at(90),
        packs_out=(PackReading("B2", 4, 95.0, 99.0),),
        energy_out_wh=47_500.0,
    )
    assert await repo.save_swap(done) == done
    assert await repo.get_swap(stored.id) == done
    assert await repo.latest_swap("SW1", 7) == done
    assert await repo.latest_swap("SW1", 8) is None
    assert done.energy_wh == 41_250.0


async def test_swap_filters(store: Store) -> None:
    repo = swap_repository_for(store)
    a = await repo.save_swap(_swap())
    b = await repo.save_swap(
        _swap(station_id="SW2", id_token="OTHER", created_at=T0 + timedelta(hours=1))
    )
    c = await repo.save_swap(
        _swap(request_id=8, state=SwapState.REQUESTED, created_at=T0 + timedelta(hours=2))
    )
    assert await repo.list_swaps(SwapFilter()) == [a, b, c]
    assert await repo.list_swaps(SwapFilter(station_id="SW1")) == [a, c]
    assert await repo.list_swaps(SwapFilter(station_ids=frozenset({"SW2"}))) == [b]
    assert await repo.list_swaps(SwapFilter(id_token="OTHER")) == [b]
    assert await repo.list_swaps(SwapFilter(state=SwapState.REQUESTED)) == [c]
    window = SwapFilter(since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))
    assert await repo.list_swaps(window) == [b]
    assert await repo.list_swaps(SwapFilter(limit=2)) == [a, b]
    assert await repo.latest_swap("SW1", 7) == a
