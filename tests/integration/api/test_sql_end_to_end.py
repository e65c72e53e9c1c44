"""The API over a SQL store (SQLite file and PostgreSQL): tokens, constraints, commands as
jobs with an idempotency key, the audit log and webhooks all persist in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chargegrid.clock import ManualClock
from csms.api.sql_repository import SqlApiRepository
from csms.store import SqlStore
from csms.store.base import StationRecord
from tests.integration.api.conftest import START, start_api
from tests.integration.csms.databases import temporary_postgres

P = "/api/v1"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from temporary_postgres()


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_api_on_a_sql_store(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
        if dialect == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = SqlStore(url)
    await store.open()
    for sid, site in (("CP1", "depot"), ("CP2", "depot"), ("FAR", "other")):
        await store.put_station(StationRecord(sid, site_id=site))
    csms, api = await start_api(store, ManualClock(START), planning={"enabled": False})
    try:
        assert isinstance(api.services.repo, SqlApiRepository)
        async with (
            api.client("grid_operator") as g,
            api.client("fleet_manager") as f,
            api.client("admin") as a,
        ):
            cap = await g.post(
                f"{P}/sites/depot/constraints",
                json={
                    "node_id": "grid",
                    "start": "2026-03-02T06:00:00Z",
                    "end": "2026-03-02T07:00:00Z",
                    "max_import_w": 70000,
                },
            )
            assert cap.status_code == 201, cap.text
            body = {"command": "reset", "station_id": "CP1"}
            first = await f.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "sql-1"})
            again = await f.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "sql-1"})
            job = (await f.get(f"{P}/jobs/{first.json()['job_id']}", params={"wait_s": 5})).json()
            hook = await a.post(f"{P}/webhooks", json={"url": "http://127.0.0.1:9/hook"})
            audit = (await a.get(f"{P}/audit")).json()
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["job_id"] == first.json()["job_id"]
        assert job["status"] == "failed" and job["error"]["type"] == "StationOffline"
        assert hook.status_code == 201
        assert [(e["action"], e["result"]) for e in audit] == [
            ("webhook.create", "ok"),
            ("command.reset", "failed"),
            ("command.reset", "accepted"),
            ("constraint.create", "ok"),
        ]
    finally:
        await api.server.stop()
        await csms.stop()
        await store.close()
    # Everything is in the database: a new store on the same URL sees it.
    reopened = SqlStore(url)
    await reopened.open()
    try:
        repo = SqlApiRepository(reopened)
        assert len(await repo.list_tokens()) == 7
        assert len(await repo.list_audit()) == 4
        assert (await repo.get_job(job["job_id"])).status.value == "failed"  # type: ignore[union-attr]
        assert [h.url for h in await repo.list_webhooks()] == ["http://127.0.0.1:9/hook"]
    finally:
        await reopened.close()
