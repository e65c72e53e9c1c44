from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.api.audit import Auditor
from csms.api.auth import Principal, Role
from csms.api.exceptions import IdempotencyMismatch
from csms.api.jobs import JobManager, request_hash
from csms.api.records import JobStatus
from csms.api.repository import MemoryApiRepository
from csms.exceptions import CommandRejected

T0 = datetime(2026, 3, 2, tzinfo=UTC)
WHO = Principal("tok", "fm", Role.FLEET_MANAGER, frozenset({"a"}))


def manager() -> tuple[JobManager, MemoryApiRepository]:
    repo = MemoryApiRepository()
    return JobManager(repo, Auditor(repo, now=lambda: T0), now=lambda: T0), repo


def test_request_hash_ignores_key_order() -> None:
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})


async def test_idempotent_submit_runs_once() -> None:
    jobs, repo = manager()
    calls: list[dict[str, Any]] = []

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        calls.append(request)
        # Not a wait: the command under test yields to the loop once, as a real one does.
        await asyncio.sleep(0)
        return {"status": "Accepted"}

    req = {"command": "reset", "station_id": "CP1"}
    first, made = await jobs.submit(
        WHO,
        command="reset",
        station_id="CP1",
        site_id="a",
        request=req,
        run=run,
        idempotency_key="k",
    )
    again, made_again = await jobs.submit(
        WHO,
        command="reset",
        station_id="CP1",
        site_id="a",
        request=dict(req),
        run=run,
        idempotency_key="k",
    )
    assert (made, made_again, again.job_id) == (True, False, first.job_id)
    done = await jobs.get(first.job_id, wait_s=5)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.result == {"status": "Accepted"}
    assert calls == [req]
    with pytest.raises(IdempotencyMismatch):
        await jobs.submit(
            WHO,
            command="reset",
            station_id="CP1",
            site_id="a",
            request={**req, "hard": True},
            run=run,
            idempotency_key="k",
        )
    assert [(e.action, e.result) for e in await repo.list_audit()] == [
        ("command.reset", "succeeded"),
        ("command.reset", "accepted"),
    ]


async def test_a_refusal_fails_the_job_with_the_status() -> None:
    jobs, _ = manager()

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        raise CommandRejected("CP1", "Reset", "Rejected")

    job, _ = await jobs.submit(
        WHO, command="reset", station_id="CP1", site_id="a", request={}, run=run
    )
    done = await jobs.get(job.job_id, wait_s=5)
    assert done is not None and done.status is JobStatus.FAILED
    assert done.error == {
        "type": "CommandRejected",
        "message": "Reset to CP1: station answered Rejected",
        "status": "Rejected",
    }
    await jobs.stop()


class _StaleLookup(MemoryApiRepository):
    """A repository whose first lookup by key misses a job another server has just stored."""

    def __init__(self) -> None:
        super().__init__()
        self.stale = True

    async def find_job(self, token_id: str, idempotency_key: str) -> Any:
        if self.stale:
            self.stale = False
            return None
        return await super().find_job(token_id, idempotency_key)


async def test_the_server_that_loses_the_race_for_a_key_returns_the_first_job() -> None:
    repo = _StaleLookup()
    jobs = JobManager(repo, Auditor(repo, now=lambda: T0), now=lambda: T0)
    req = {"command": "reset", "station_id": "CP1"}
    other_server = JobManager(repo, Auditor(repo, now=lambda: T0), now=lambda: T0)
    repo.stale = False
    first, made = await other_server.submit(
        WHO,
        command="reset",
        station_id="CP1",
        site_id="a",
        request=req,
        run=_accepted,
        idempotency_key="k",
    )
    repo.stale = True  # this server looked the key up just before the other stored it
    again, made_again = await jobs.submit(
        WHO,
        command="reset",
        station_id="CP1",
        site_id="a",
        request=req,
        run=_accepted,
        idempotency_key="k",
    )
    assert made and not made_again and again.job_id == first.job_id
    repo.stale = True
    with pytest.raises(IdempotencyMismatch):
        await jobs.submit(
            WHO,
            command="reset",
            station_id="CP2",
            site_id="a",
            request={**req, "x": 1},
            run=_accepted,
            idempotency_key="k",
        )
    assert len(await repo.list_jobs()) == 1


async def _accepted(request: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


async def test_an_outcome_is_recorded_once_the_database_is_back() -> None:
    from csms.exceptions import StoreUnavailable

    jobs, repo = manager()
    jobs.finish_retry_initial_s = 0.001
    real_finish = repo.finish_job
    failures = {"left": 3}

    async def finish_job(job: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailable("database unavailable: connection refused")
        await real_finish(job)

    repo.finish_job = finish_job  # type: ignore[method-assign]

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    job, _ = await jobs.submit(
        WHO, command="reset", station_id="CP1", site_id="a", request={}, run=run
    )
    done = await jobs.get(job.job_id, wait_s=30)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert failures["left"] == 0
