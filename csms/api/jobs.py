"""Commands as jobs: accepted at once, resolved to the station's answer in the background.

A job created with an ``Idempotency-Key`` is remembered per token: the same key with the same
request returns the same job (nothing is sent twice); the same key with another request is
refused with :class:`~csms.api.exceptions.IdempotencyMismatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from csms.api.audit import Auditor
from csms.api.auth import Principal
from csms.api.exceptions import IdempotencyMismatch
from csms.api.records import Job, JobStatus
from csms.api.repository import ApiRepository
from csms.exceptions import CommandError, CommandRejected, CsmsError, StoreUnavailable
from csms.store.transient import is_transient
from csms.supervisor import cancel_and_wait

__all__ = ["Executor", "JobManager", "request_hash"]

logger = logging.getLogger(__name__)

#: Runs one command; returns the JSON result or raises a CommandError.
Executor = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def request_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _error(exc: BaseException) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, CommandRejected):
        error["status"] = exc.status
    return error


class JobManager:
    def __init__(
        self,
        repo: ApiRepository,
        auditor: Auditor,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._repo = repo
        self._auditor = auditor
        #: The first wait before recording a job's outcome again (the database was down).
        self.finish_retry_initial_s = 1.0
        self._now = now
        self._lock = asyncio.Lock()
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(
        self,
        who: Principal,
        *,
        command: str,
        station_id: str,
        site_id: str | None,
        request: dict[str, Any],
        run: Executor,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Create (or find) the job; returns ``(job, created)``."""
        digest = request_hash(request)
        async with self._lock:
            if idempotency_key is not None:
                existing = await self._repo.find_job(who.token_id, idempotency_key)
                if existing is not None:
                    if existing.request_hash != digest:
                        raise IdempotencyMismatch(idempotency_key)
                    return existing, False
            job = Job(
                job_id=secrets.token_hex(12),
                token_id=who.token_id,
                idempotency_key=idempotency_key,
                request_hash=digest,
                command=command,
                station_id=station_id,
                site_id=site_id,
                request=request,
                status=JobStatus.PENDING,
                created_at=self._now(),
            )
            if not await self._repo.add_job(job):
                # Another server on the same database took the key since the lookup.
                assert idempotency_key is not None
                existing = await self._repo.find_job(who.token_id, idempotency_key)
                assert existing is not None
                if existing.request_hash != digest:
                    raise IdempotencyMismatch(idempotency_key)
                return existing, False
            self._done[job.job_id] = asyncio.Event()
        await self._auditor.record(
            who,
            f"command.{command}",
            "accepted",
            site_id=site_id,
            station_id=station_id,
            target=job.job_id,
            request=request,
        )
        task = asyncio.create_task(self._run(who, job, run), name=f"job-{job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job, True

    async def _run(self, who: Principal, job: Job, run: Executor) -> None:
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        stopping = False
        try:
            result = await run(job.request)
        except (CommandError, CsmsError) as exc:
            error = _error(exc)
        except asyncio.CancelledError:
            error = {"type": "Cancelled", "message": "the server stopped before the answer"}
            stopping = True
            raise
        except Exception as exc:
            logger.exception("job %s (%s) failed", job.job_id, job.command)
            error = _error(exc)
        finally:
            done = dataclasses.replace(
                job,
                status=JobStatus.SUCCEEDED if error is None else JobStatus.FAILED,
                result=result,
                error=error,
                finished_at=self._now(),
            )
            await asyncio.shield(self._finish_durably(who, done, retry=not stopping))
            event = self._done.pop(job.job_id, None)
            if event is not None:
                event.set()

    async def _finish_durably(self, who: Principal, job: Job, *, retry: bool) -> None:
        """Record the outcome; while the database is unavailable, try again (1 s doubling to
        30 s, for up to about ten minutes) unless the server is stopping."""
        delay_s = self.finish_retry_initial_s
        for attempt in range(1, 25):
            try:
                await self._finish(who, job)
                return
            except Exception as exc:
                transient = isinstance(exc, StoreUnavailable) or is_transient(exc)
                if not (retry and transient) or attempt == 24:
                    logger.error(
                        "job %s (%s): outcome %s not recorded",
                        job.job_id,
                        job.command,
                        job.status.value,
                        exc_info=exc,
                    )
                    return
                logger.warning(
                    "job %s: cannot record the outcome yet (%s); retrying in %.0f s",
                    job.job_id,
                    exc,
                    delay_s,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(30.0, delay_s * 2)

    async def _finish(self, who: Principal, job: Job) -> None:
        await self._repo.finish_job(job)
        await self._auditor.record(
            who,
            f"command.{job.command}",
            job.status.value,
            site_id=job.site_id,
            station_id=job.station_id,
            target=job.job_id,
            request=job.request,
            detail=job.result if job.error is None else job.error,
        )

    async def get(self, job_id: str, *, wait_s: float = 0.0) -> Job | None:
        """The job; with ``wait_s`` > 0, wait up to that long for it to resolve."""
        event = self._done.get(job_id)
        if event is not None and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait_s)
        return await self._repo.get_job(job_id)

    async def stop(self) -> None:
        await cancel_and_wait(tuple(self._tasks))
