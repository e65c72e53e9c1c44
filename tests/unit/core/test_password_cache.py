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


class CountingStations(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_station(self, station_id: str) -> StationRecord | None:
        self.reads += 1
        return await super().get_station(station_id)


async def test_a_connection_reads_its_station_record_once() -> None:
    from csms.domain import BootInfo, RegistrationStatus

    store = CountingStations()
    await store.put_station(StationRecord("CP"))
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    central = CentralSystem(store, EventBus(), clock)
    info = BootInfo(vendor="V", model="M", ocpp_version="1.6")
    assert (await central.admission("CP", None)).allowed
    assert await central.registration("CP") is RegistrationStatus.ACCEPTED
    assert (await central.boot("CP", info)).status is RegistrationStatus.ACCEPTED
    assert store.reads == 1
    # A later boot on the same connection reads the current record again.
    await store.put_station(StationRecord("CP", registration=RegistrationStatus.REJECTED))
    assert (await central.boot("CP", info)).status is RegistrationStatus.REJECTED
    assert store.reads == 2
    # So does a boot long after the admission.
    await store.put_station(StationRecord("CP"))
    assert (await central.admission("CP", None)).allowed
    clock.advance(60)
    await store.put_station(StationRecord("CP", registration=RegistrationStatus.PENDING))
    assert (await central.boot("CP", info)).status is RegistrationStatus.PENDING
    # Refused admissions leave nothing behind.
    for i in range(5):
        assert not (await central.admission(f"UNKNOWN{i}", None)).allowed
    assert central._admitted == {}
