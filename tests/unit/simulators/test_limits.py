from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.charging_profiles import ChargingProfile, ProfilePurpose, parse_profile
from simulators.limits import ProfileStore, share_w

T0 = datetime(2026, 3, 5, tzinfo=UTC)


def profile(pid: int, purpose: str, level: int = 0, tx: str | None = None) -> ChargingProfile:
    raw = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": T0.isoformat(),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
        },
    }
    if tx is not None:
        raw["transactionId"] = tx
    return parse_profile(raw)


def test_share_w_water_fills_a_cap() -> None:
    assert share_w({1: 5000, 2: 5000}, None) == {1: 5000, 2: 5000}
    assert share_w({1: 5000, 2: 5000}, 20000) == {1: 5000, 2: 5000}
    # 3 kW is all the first wants; the other two split the remaining 9 kW.
    assert share_w({1: 3000, 2: 11000, 3: 11000}, 12000) == {1: 3000, 2: 4500, 3: 4500}
    assert share_w({1: 3000}, 0) == {1: 0}


def test_install_replaces_same_id_or_same_purpose_and_level() -> None:
    store = ProfileStore()
    store.install(1, profile(1, "TxDefaultProfile"))
    store.install(1, profile(2, "TxDefaultProfile"))  # same purpose and level on connector 1
    assert [i.profile.id for i in store.items] == [2]
    store.install(0, profile(2, "TxDefaultProfile", level=1))  # same id moves
    assert [(i.connector_id, i.profile.id) for i in store.items] == [(0, 2)]


def test_for_connector_selects_defaults_and_the_running_transaction() -> None:
    store = ProfileStore()
    store.install(0, profile(1, "TxDefaultProfile"))
    store.install(2, profile(2, "TxDefaultProfile", level=1))
    store.install(0, profile(3, "ChargePointMaxProfile"))
    store.install(1, profile(4, "TxProfile", tx="7"))
    assert [p.id for p in store.for_connector(1, tx_ids=None)] == [1]
    assert [p.id for p in store.for_connector(1, tx_ids=("SIM-1", "7"))] == [1, 4]
    assert [p.id for p in store.for_connector(1, tx_ids=("SIM-2", "8"))] == [1]
    assert [p.id for p in store.for_connector(2, tx_ids=None)] == [1, 2]
    assert [p.id for p in store.station_wide()] == [3]
    store.end_transaction(1)
    assert [i.profile.id for i in store.items] == [1, 2, 3]


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        ({"profile_id": 2}, [1, 3]),
        ({"connector_id": 0}, [2]),
        ({"purpose": ProfilePurpose.STATION_MAX}, [1, 2]),
        ({"connector_id": 0, "stack_level": 0}, [2]),
        ({}, []),
    ],
)
def test_clear_by_criteria(criteria: dict[str, object], left: list[int]) -> None:
    store = ProfileStore()
    store.install(0, profile(1, "TxDefaultProfile"))
    store.install(1, profile(2, "TxDefaultProfile"))
    store.install(0, profile(3, "ChargePointMaxProfile"))
    store.clear(**criteria)  # type: ignore[arg-type]
    assert [i.profile.id for i in store.items] == left
