"""The API's records on SQLite and PostgreSQL: migration 0003 creates tables that match the
code, and the SQL repository keeps tokens, the audit log, jobs and webhooks like the memory one."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from csms.api import tables as api_tables
from csms.api.auth import Role, hash_secret, verify
from csms.api.records import (
    AuditEntry,
    AuditQuery,
    DeliveryStatus,
    Job,
    JobQuery,
    JobStatus,
    WebhookDelivery,
)
from csms.api.repository import ApiRepository, MemoryApiRepository, open_repository
from csms.api.sql_repository import SqlApiRepository
from csms.api.tokens import TokenService
from csms.schema import metadata
from csms.store import MemoryStore, SqlStore, migrate
from tests.integration.csms.databases import temporary_postgres

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
API_TABLES = {
    t.name
    for t in (
        api_tables.api_tokens,
        api_tables.audit_log,
        api_tables.jobs,
        api_tables.webhooks,
        api_tables.webhook_deliveries,
    )
}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from temporary_postgres()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiRepository]:
    if request.param == "memory":
        yield open_repository(MemoryStore())
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = SqlStore(url)
    await store.open()
    if store.dialect == "postgresql":
        from tests.integration.csms.databases import truncate_all

        await truncate_all(store.engine)
    try:
        yield open_repository(store)
    finally:
        await store.close()


def test_repository_kinds(tmp_path: Path) -> None:
    assert isinstance(open_repository(MemoryStore()), MemoryApiRepository)
    sql = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    assert isinstance(open_repository(sql), SqlApiRepository)


def test_the_api_revision_follows_the_sites_and_leads_to_the_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    by_file = {Path(r.path).name: r for r in script.walk_revisions()}
    api = next(r for name, r in by_file.items() if name.endswith("_api.py"))
    sites = next(r for name, r in by_file.items() if name.endswith("_sites.py"))
    assert api.down_revision == sites.revision
    # one line of revisions: the head descends from the API's (later parts add their own)
    below_head = {r.revision for r in script.walk_revisions(base="base", head=migrate.head())}
    assert api.revision in below_head and len(script.get_heads()) == 1


def _api_diff(conn: Connection) -> list[object]:
    """Differences between the migrated database and every table the code declares."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_migrated_tables_match_the_code(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        if dialect == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = SqlStore(url)
    await store.open()
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_api_diff) == []
            names = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    finally:
        await store.close()
    assert names >= API_TABLES


async def test_tokens_round_trip_and_revoke(repo: ApiRepository) -> None:
    tokens = TokenService(repo, now=lambda: T0)
    record, text = await tokens.create(
        role=Role.FLEET_MANAGER, name="fm", sites=["b", "a"], expires_at=T0 + timedelta(days=1)
    )
    admin, _ = await tokens.create(role="admin", name="root")
    stored = await repo.get_token(record.token_id)
    assert stored == record
    assert stored.sites == frozenset({"a", "b"})
    assert (await repo.get_token(admin.token_id)).sites is None  # type: ignore[union-attr]
    secret = text.split("_", 2)[2]
    assert stored.secret_hash == hash_secret(secret) and secret not in repr(stored)
    assert verify(stored, secret, T0).role is Role.FLEET_MANAGER
    assert [t.token_id for t in await repo.list_tokens()] == sorted(
        [record.token_id, admin.token_id], key=lambda i: (T0, i)
    )
    assert await repo.revoke_token(record.token_id, T0 + timedelta(hours=1))
    assert await repo.revoke_token(record.token_id, T0 + timedelta(hours=2))  # keeps the first
    assert (await repo.get_token(record.token_id)).revoked_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    assert not await repo.revoke_token("nope", T0)


async def test_audit_is_append_only_newest_first(repo: ApiRepository) -> None:
    for i, site in enumerate(["a", "b", "a"]):
        entry = AuditEntry(
            at=T0 + timedelta(minutes=i),
            token_id="t",
            actor="x",
            role="admin",
            action="constraint.create" if i < 2 else "command.reset",
            result="ok",
            site_id=site,
            request={"i": i},
            detail={"n": [1, 2]},
        )
        stored = await repo.append_audit(entry)
        assert stored.id == i + 1
    newest = await repo.list_audit()
    assert [e.id for e in newest] == [3, 2, 1]
    assert newest[2].request == {"i": 0} and newest[2].detail == {"n": [1, 2]}

    async def ids(query: AuditQuery) -> list[int]:
        return [e.id for e in await repo.list_audit(query)]

    assert await ids(AuditQuery(site_ids=frozenset({"a"}))) == [3, 1]
    assert await ids(AuditQuery(action="constraint.create", limit=1)) == [2]
    assert await ids(AuditQuery(since=T0 + timedelta(minutes=1))) == [3, 2]
    assert await ids(AuditQuery(until=T0 + timedelta(minutes=1))) == [1]
    assert await ids(AuditQuery(action_prefixes=("constraint.", "site."))) == [2, 1]
    assert await ids(AuditQuery(action_prefixes=())) == []


async def test_jobs_by_id_and_key(repo: ApiRepository) -> None:
    job = Job(
        "j1", "tok", "key-1", "h" * 64, "reset", "CP1", "depot", {"a": 1}, JobStatus.PENDING, T0
    )
    await repo.add_job(job)
    assert await repo.find_job("tok", "key-1") == job
    assert await repo.find_job("other", "key-1") is None
    done = dataclasses.replace(
        job,
        status=JobStatus.SUCCEEDED,
        result={"status": "Accepted"},
        finished_at=T0 + timedelta(seconds=1),
    )
    await repo.finish_job(done)
    assert await repo.get_job("j1") == done
    assert await repo.get_job("j2") is None
    later = dataclasses.replace(
        job,
        job_id="j3",
        idempotency_key=None,
        station_id="CP2",
        site_id="other",
        created_at=T0 + timedelta(seconds=5),
    )
    await repo.add_job(later)
    assert [j.job_id for j in await repo.list_jobs()] == ["j3", "j1"]

    async def ids(query: JobQuery) -> list[str]:
        return [j.job_id for j in await repo.list_jobs(query)]

    assert await ids(JobQuery(status="pending")) == ["j3"]
    assert await ids(JobQuery(station_id="CP1")) == ["j1"]
    assert await ids(JobQuery(site_ids=frozenset({"depot"}))) == ["j1"]
    assert await ids(JobQuery(limit=1)) == ["j3"]


async def test_a_taken_idempotency_key_stores_nothing(repo: ApiRepository) -> None:
    """Two servers on one database: the second job under a token's key is refused, so the
    server that lost the race returns the first one's job."""
    job = Job("j1", "tok", "key-1", "h" * 64, "reset", "CP1", "depot", {}, JobStatus.PENDING, T0)
    assert await repo.add_job(job) is True
    twin = dataclasses.replace(job, job_id="j2", request_hash="g" * 64)
    assert await repo.add_job(twin) is False
    assert await repo.get_job("j2") is None
    assert await repo.find_job("tok", "key-1") == job
    # The key is the token's own: another token may use it; jobs without a key never clash.
    assert await repo.add_job(dataclasses.replace(twin, job_id="j3", token_id="other")) is True
    keyless = dataclasses.replace(job, idempotency_key=None)
    assert await repo.add_job(dataclasses.replace(keyless, job_id="j4")) is True
    assert await repo.add_job(dataclasses.replace(keyless, job_id="j5")) is True
    assert sorted(j.job_id for j in await repo.list_jobs()) == ["j1", "j3", "j4", "j5"]


async def test_webhooks_and_deliveries(repo: ApiRepository) -> None:
    from csms.api.records import Webhook

    hook = Webhook("w1", "http://127.0.0.1:9/x", "s" * 32, ("station.*",), "tok", T0, "depot")
    await repo.add_webhook(hook)
    assert await repo.list_webhooks() == [hook]
    d = WebhookDelivery("d1", "w1", "5", "station.status", DeliveryStatus.PENDING, 0, T0)
    await repo.put_delivery(d)
    retried = dataclasses.replace(
        d, attempts=1, last_status_code=500, last_error="HTTP 500", last_attempt_at=T0
    )
    await repo.put_delivery(retried)
    assert await repo.list_deliveries("w1") == [retried]
    assert await repo.delete_webhook("w1")
    assert not await repo.delete_webhook("w1")
    assert await repo.list_webhooks() == []
