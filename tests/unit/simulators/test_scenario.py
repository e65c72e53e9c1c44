from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from simulators.exceptions import ScenarioError
from simulators.scenario import (
    COLUMNS,
    generate,
    load_scenario,
    save_scenario,
    sessions_by_station,
    station_ids,
    suggested_start,
)

DAY = datetime(2026, 3, 5, tzinfo=UTC)


def test_station_ids() -> None:
    assert station_ids(3) == ["SIM-0001", "SIM-0002", "SIM-0003"]


def test_same_seed_same_scenario_other_seed_differs() -> None:
    start = suggested_start("depot", DAY)
    a = generate("depot", stations=5, seed=7, start=start)
    b = generate("depot", stations=5, seed=7, start=start)
    c = generate("depot", stations=5, seed=8, start=start)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == list(COLUMNS)


def test_depot_arrives_in_the_evening_and_leaves_in_the_morning() -> None:
    df = generate("depot", stations=20, seed=1, start=suggested_start("depot", DAY))
    assert len(df) == 20
    assert df["arrival"].dt.hour.between(17, 22).all()
    assert (df["departure"].dt.date == datetime(2026, 3, 6).date()).all()
    assert df["departure"].dt.hour.between(5, 9).all()


def test_workplace_arrives_in_the_morning_and_leaves_in_the_afternoon() -> None:
    df = generate("workplace", stations=20, seed=1, start=suggested_start("workplace", DAY))
    assert df["arrival"].dt.hour.between(7, 11).all()
    assert df["departure"].dt.hour.between(14, 20).all()


def test_public_visits_are_short_and_do_not_overlap_on_a_connector() -> None:
    df = generate("public", stations=4, connectors=2, seed=3, start=suggested_start("public", DAY))
    dwell_min = (df["departure"] - df["arrival"]).dt.total_seconds() / 60
    assert dwell_min.between(9.9, 180.1).all()
    for _, group in df.groupby(["station_id", "connector_id"]):
        g = group.sort_values("arrival")
        assert (g["arrival"].iloc[1:].to_numpy() >= g["departure"].iloc[:-1].to_numpy()).all()
    assert len(df) > 8


def test_save_and_load_replay_exactly(tmp_path: Path) -> None:
    df = generate("public", stations=3, seed=11, start=suggested_start("public", DAY))
    path = tmp_path / "s.csv"
    save_scenario(df, path)
    pd.testing.assert_frame_equal(load_scenario(path), df)


def _write(tmp_path: Path, df: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    save_scenario(df, path)
    return path


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("capacity_wh", "lots", "not a number"),
        ("initial_soc", "1.7", "initial_soc"),
        ("arrival", "tomorrow", "ISO 8601"),
        ("phases", "2.5", "positive integer"),
        ("id_tag", "", "missing"),
    ],
)
def test_bad_value_names_file_line_and_field(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    df = generate("depot", stations=3, seed=7, start=suggested_start("depot", DAY))
    path = _write(tmp_path, df)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index(field)] = value
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.file == str(path)
    assert err.value.row == 3
    assert err.value.field == field
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}: row 3: {field}: ")


def test_departure_before_arrival(tmp_path: Path) -> None:
    df = generate("depot", stations=1, seed=7, start=suggested_start("depot", DAY))
    df.loc[0, "departure"] = df.loc[0, "arrival"] - pd.Timedelta(minutes=1)
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, df))
    assert (err.value.row, err.value.field) == (2, "departure")


def test_missing_column_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("ev_id,station_id\nEV-1,SIM-0001\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.field == "connector_id"
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.csv")


def test_sessions_by_station_maps_rows_to_the_fleet() -> None:
    df = generate(
        "workplace", stations=2, connectors=2, seed=5, start=suggested_start("workplace", DAY)
    )
    plan = sessions_by_station(df, station_ids(2), connectors=2)
    assert sum(len(v) for v in plan.values()) == len(df)
    connector, ev = plan["SIM-0001"][0]
    assert connector in (1, 2)
    assert ev.arrival is not None and ev.arrival.tzinfo is not None
    with pytest.raises(ScenarioError) as err:
        sessions_by_station(df, station_ids(1), connectors=2)
    assert err.value.field == "station_id"


def test_a_loaded_file_that_does_not_fit_the_fleet_names_file_line_and_field(
    tmp_path: Path,
) -> None:
    df = generate("depot", stations=3, connectors=2, seed=7, start=suggested_start("depot", DAY))
    path = _write(tmp_path, df)
    loaded = load_scenario(path)
    line = 2 + next(i for i, s in enumerate(loaded["station_id"]) if s == "SIM-0003")
    with pytest.raises(ScenarioError) as err:
        sessions_by_station(loaded, station_ids(2), connectors=2)
    assert (err.value.file, err.value.row, err.value.field) == (str(path), line, "station_id")
    assert str(err.value).startswith(f"{path}: row {line}: station_id: unknown station")
    line = 2 + next(i for i, c in enumerate(loaded["connector_id"]) if c == 2)
    with pytest.raises(ScenarioError) as err:
        sessions_by_station(loaded, station_ids(3), connectors=1)
    assert (err.value.file, err.value.row, err.value.field) == (str(path), line, "connector_id")
    # The line is the file's: the CSV's own line holds that connector.
    assert path.read_text().splitlines()[line - 1].split(",")[2] == "2"


def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path)  # a directory
    assert err.value.file == str(tmp_path) and "cannot read it" in str(err.value)
