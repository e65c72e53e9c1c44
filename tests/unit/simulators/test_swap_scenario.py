from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.exceptions import InvalidParameter, ScenarioError
from simulators.swap import PackSpec, SwapStation, SwapStationSpec
from simulators.swap_scenario import (
    generate_swap_arrivals,
    load_swap_arrivals,
    save_swap_arrivals,
)

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def test_generated_arrivals_are_seeded_poisson_within_the_window() -> None:
    a = generate_swap_arrivals("SW1", start=T0, hours=24, per_hour=4, seed=3)
    assert a == generate_swap_arrivals("SW1", start=T0, hours=24, per_hour=4, seed=3)
    assert a != generate_swap_arrivals("SW1", start=T0, hours=24, per_hour=4, seed=4)
    assert 60 <= len(a) <= 130  # 96 expected
    assert all(T0 <= x.at < T0 + timedelta(hours=24) for x in a)
    assert [x.at for x in a] == sorted(x.at for x in a)
    assert all(0.05 <= x.pack.soc <= 0.35 for x in a)
    assert len({x.pack.serial for x in a}) == len(a)
    assert generate_swap_arrivals("SW1", start=T0, per_hour=0) == []


def test_generated_arrivals_drive_a_station() -> None:
    arrivals = generate_swap_arrivals("SW1", start=T0, hours=6, per_hour=6, seed=1)
    st = SwapStation(
        SwapStationSpec(
            "SW1",
            8,
            tuple(PackSpec(f"P{i}", 70_000.0, 0.95) for i in range(8)),
            max_rack_power_w=150_000.0,
            max_pack_power_w=40_000.0,
        ),
        start=T0,
    )
    st.add_arrivals(arrivals)
    records = [r for _ in range(7 * 4) for r in st.advance(900).swaps]
    assert len(records) == len(arrivals)
    assert {r.outcome for r in records} <= {"swapped", "no_ready_pack"}


def test_round_trip_through_csv(tmp_path: Path) -> None:
    arrivals = generate_swap_arrivals("SW1", start=T0, hours=3, per_hour=5, seed=2)
    path = tmp_path / "swaps.csv"
    save_swap_arrivals(arrivals, path)
    assert load_swap_arrivals(path) == arrivals


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("V1,2026-06-01T08:00:00Z,P1,70000,1.5,", "row 2: pack_soc: must be in"),
        ("V1,2026-06-01T08:00:00Z,P1,abc,0.2,", "row 2: pack_capacity_wh: not a number"),
        ("V1,2026-06-01T08:00:00Z,P1,inf,0.2,", "row 2: pack_capacity_wh: must be finite"),
        ("V1,yesterday,P1,70000,0.2,", "row 2: arrival: not an ISO 8601"),
        ("V1,2026-06-01T08:00:00,P1,70000,0.2,", "row 2: arrival: must be a timezone-aware"),
        ("V1,2026-06-01T08:00:00Z,,70000,0.2,", "row 2: pack_serial"),
        (",2026-06-01T08:00:00Z,P1,70000,0.2,", "row 2: vehicle_id"),
    ],
)
def test_bad_rows_are_named_by_file_row_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "swaps.csv"
    path.write_text(
        "vehicle_id,arrival,pack_serial,pack_capacity_wh,pack_soc,id_token\n" + row + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=message) as caught:
        load_swap_arrivals(path)
    assert caught.value.file == str(path)


def test_missing_columns_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "swaps.csv"
    path.write_text("vehicle_id,arrival\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="row 1: missing columns: pack_serial"):
        load_swap_arrivals(path)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_swap_arrivals(tmp_path / "none.csv")


def test_generator_arguments_are_checked() -> None:
    with pytest.raises(InvalidParameter, match="per_hour"):
        generate_swap_arrivals("SW1", start=T0, per_hour=math.nan)
    with pytest.raises(InvalidParameter, match="min_soc"):
        generate_swap_arrivals("SW1", start=T0, min_soc=0.5, max_soc=0.2)
    with pytest.raises(InvalidParameter, match="start"):
        generate_swap_arrivals("SW1", start=datetime(2026, 1, 1))
