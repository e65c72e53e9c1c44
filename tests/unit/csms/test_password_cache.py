"""Station passwords: scrypt once per process and password, the outcome remembered under a
keyed hash (never the password), a changed password effective at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargegrid.clock import ManualClock
from csms.core import service
from csms.core.passwords import hash_password, verify_password
from csms.core.service import CentralSystem
from csms.events import EventBus
from csms.store import MemoryStore
from csms.store.base import StationRecord


async def test_scrypt_runs_once_per_password(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return verify_password(password, stored)

    monkeypatch.setattr(service, "verify_password", counting)
    store = MemoryStore()
    await store.put_station(StationRecord("CP", password_hash=hash_password("secret", n=2**4)))
    central = CentralSystem(store, EventBus(), ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    for _ in range(5):
        assert (await central.admission("CP", "secret")).allowed
    assert calls == ["secret"]
    for _ in range(3):
        refused = await central.admission("CP", "guess")
        assert not refused.allowed and refused.reason == "wrong password"
    assert calls == ["secret", "guess"]
    assert not any(b"secret" in key[1] or b"guess" in key[1] for key in central._verified)
    # A new password: the old one is refused at once, the new one verified once.
    await store.put_station(StationRecord("CP", password_hash=hash_password("fresh", n=2**4)))
    assert not (await central.admission("CP", "secret")).allowed
    assert (await central.admission("CP", "fresh")).allowed
    assert (await central.admission("CP", "fresh")).allowed
    assert calls == ["secret", "guess", "secret", "fresh"]


async def test_remembered_outcomes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_VERIFIED_MAX", 3)
    store = MemoryStore()
    await store.put_station(StationRecord("CP", password_hash=hash_password("secret", n=2**4)))
    central = CentralSystem(store, EventBus(), ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    for guess in ("a", "b", "c", "d", "e"):
        assert not (await central.admission("CP", guess)).allowed
    assert len(central._verified) == 3
