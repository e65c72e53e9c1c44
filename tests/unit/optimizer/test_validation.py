"""Bad inputs are rejected once, at construction, with the field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimizer import (
    InvalidProblem,
    LimitNode,
    Problem,
    Session,
    StorageUnit,
    Tariff,
    TimeGrid,
)
from optimizer.scenario import load_scenario, problem_from_dict
from tests.unit.optimizer.helpers import T0, at, evse, problem, session


def test_departure_before_arrival_names_departure() -> None:
    with pytest.raises(InvalidProblem) as info:
        Session("S1", "E1", arrival=at(2), departure=at(1), energy_requested_wh=1000.0)
    assert info.value.field == "departure"


def test_negative_energy_names_the_field() -> None:
    with pytest.raises(InvalidProblem) as info:
        session("S1", "E1", hours=1, energy_wh=-5.0)
    assert info.value.field == "energy_requested_wh"


def test_limit_tree_with_a_cycle() -> None:
    nodes = (LimitNode("grid"), LimitNode("a", "b"), LimitNode("b", "a"))
    with pytest.raises(InvalidProblem) as info:
        problem(nodes=nodes)
    assert info.value.field == "nodes[1].parent_id"
    assert "cycle" in info.value.message


def test_evse_under_no_node() -> None:
    with pytest.raises(InvalidProblem) as info:
        problem(evses=(evse("E1", "nowhere"),))
    assert info.value.field == "evses[0].node_id"


def test_two_roots_are_rejected() -> None:
    with pytest.raises(InvalidProblem) as info:
        problem(nodes=(LimitNode("grid"), LimitNode("other")))
    assert info.value.field == "nodes"


def test_storage_soc_outside_bounds() -> None:
    with pytest.raises(InvalidProblem) as info:
        StorageUnit(
            "B1",
            "grid",
            capacity_wh=10000.0,
            soc_wh=500.0,
            min_soc_wh=1000.0,
            max_charge_w=1.0,
            max_discharge_w=1.0,
        )
    assert info.value.field == "soc_wh"


def test_min_current_above_max_current() -> None:
    with pytest.raises(InvalidProblem) as info:
        evse("E1", min_current_a=20.0, max_current_a=16.0)
    assert info.value.field == "min_current_a"


def test_price_series_of_the_wrong_length() -> None:
    with pytest.raises(InvalidProblem) as info:
        Problem(
            grid=TimeGrid.uniform(start=T0, step_s=900, n_steps=4),
            nodes=(LimitNode("grid"),),
            evses=(),
            tariff=Tariff((0.1, 0.2)),
        )
    assert info.value.field == "tariff.import_price_per_kwh"


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(InvalidProblem) as info:
        Session(
            "S1", "E1", arrival=at(0).replace(tzinfo=None), departure=at(1), energy_requested_wh=1.0
        )
    assert info.value.field == "arrival"


def _scenario() -> dict[str, Any]:
    return {
        "grid": {"start": "2026-01-05T00:00:00+00:00", "step_s": 900, "n_steps": 4},
        "tariff": {"import_price_per_kwh": [0.1, 0.1, 0.2, 0.2]},
        "nodes": [{"node_id": "grid", "max_import_w": 7000}],
        "evses": [{"evse_id": "E1", "node_id": "grid", "phase": "L1L2L3"}],
        "sessions": [
            {
                "session_id": "S1",
                "evse_id": "E1",
                "arrival": "2026-01-04T23:00:00+00:00",
                "departure": "2026-01-05T01:00:00+00:00",
                "energy_requested_wh": 5000,
            }
        ],
    }


def test_scenario_round_trip() -> None:
    p = problem_from_dict(_scenario())
    assert p.nodes[0].max_import_w == 7000
    assert p.sessions[0].departure == at(1)


def test_scenario_field_in_other_units_names_the_core_field() -> None:
    data = _scenario()
    data["nodes"][0] = {"node_id": "grid", "max_import_kw": 7}
    with pytest.raises(InvalidProblem) as info:
        problem_from_dict(data)
    assert info.value.field == "nodes[0].max_import_kw"
    assert "'max_import_w'" in info.value.message


def test_scenario_error_names_file_and_nested_field(tmp_path: Path) -> None:
    data = _scenario()
    data["sessions"][0]["departure"] = "2026-01-04T22:00:00+00:00"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidProblem) as info:
        load_scenario(path)
    assert info.value.field == f"{path}: sessions[0].departure"


def test_scenario_unknown_session_evse() -> None:
    data = _scenario()
    data["sessions"][0]["evse_id"] = "E9"
    with pytest.raises(InvalidProblem) as info:
        problem_from_dict(data)
    assert info.value.field == "sessions[0].evse_id"


def test_scenario_current_limits_and_unknown_evse() -> None:
    data = _scenario()
    data["current_limits"] = [{"name": "line", "coefficients": [["E1", 1.0]], "max_current_a": 10}]
    p = problem_from_dict(data)
    assert p.current_limits[0].coefficients == (("E1", 1.0),)
    data["current_limits"][0]["coefficients"] = [["E7", 1.0]]
    with pytest.raises(InvalidProblem) as info:
        problem_from_dict(data)
    assert info.value.field == "current_limits[0].coefficients[0]"
