"""Background tasks that survive failures, or say loudly that they did not.

Every long-running task of the central system (a site's planner loop, the site watcher, ...)
runs under one :class:`Supervisor`::

    supervisor = Supervisor()
    task = supervisor.run("planner: site watcher", watch_sites)  # restarted if it fails
    supervisor.spawn("planner: load site depot", load_site())   # one-shot, failure logged
    supervisor.probe("store writer", lambda: None if writer_alive() else "stopped")
    report = supervisor.report()     # what /health answers: ok, and each task's state

A long-running task that raises is logged at ERROR with its traceback and started again after
a backoff (1 s, doubling to 60 s; wall time: outages are on the wall clock). It counts as
*failing*, and the process as unhealthy, from the failure until it has run
``stable_after_s`` without failing again. A task that returns on its own (long-running tasks
never should) counts as *dead* for good. One-shot tasks are logged the same way when they
fail and counted, but do not make the process unhealthy: what they were for is retried by
the long-running task that owns it (the site watcher reloads a site whose load failed).

Probes report on what runs elsewhere (threads, other tasks): a probe returns None when all
is well or a short description of what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from csms.backoff import Backoff
from csms.store.transient import is_transient

__all__ = ["HealthReport", "Supervisor", "TaskHealth", "cancel_and_wait"]

logger = logging.getLogger(__name__)

TaskState = Literal["running", "failing", "dead"]


@dataclass(frozen=True, slots=True)
class TaskHealth:
    """One supervised task or probe, as ``/health`` shows it."""

    name: str
    state: TaskState
    failures: int = 0
    last_error: str | None = None
    #: Wall-clock seconds since the last failure (None: never failed).
    failed_ago_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True, slots=True)
class HealthReport:
    tasks: tuple[TaskHealth, ...]
    #: One-shot tasks that failed since the start (each logged with its traceback).
    one_shot_failures: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tasks)

    @property
    def unhealthy(self) -> tuple[TaskHealth, ...]:
        return tuple(t for t in self.tasks if not t.ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "unhealthy": [t.name for t in self.unhealthy],
            "tasks": [
                {
                    "name": t.name,
                    "state": t.state,
                    "failures": t.failures,
                    "last_error": t.last_error,
                    "failed_ago_s": None if t.failed_ago_s is None else round(t.failed_ago_s, 3),
                }
                for t in self.tasks
            ],
            "one_shot_failures": self.one_shot_failures,
        }


class _Entry:
    __slots__ = ("dead", "failed_at", "failures", "last_error", "name", "started_at")

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.last_error: str | None = None
        self.failed_at: float | None = None
        self.started_at = time.monotonic()
        self.dead = False


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, every_s: float = 2.0) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again any that goes on.

    A task can lose its cancellation: on Python 3.11 ``asyncio.wait_for`` returns the result
    when the awaited answer arrives in the same loop iteration as the cancel, and the task's
    loop simply continues. A single ``cancel()`` followed by ``await task`` then waits for
    ever (a shutdown that never ends). A task still running ``every_s`` wall seconds after a
    cancel is cancelled again (its cleanup, if that is what took so long, is cut short).
    Whatever the tasks end with is not raised here."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=every_s)
        for task in pending:
            logger.warning("task %s still runs after its cancellation: cancelled again", task)
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the owner stopped it on purpose


class Supervisor:
    def __init__(
        self,
        *,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 60.0,
        stable_after_s: float = 60.0,
    ) -> None:
        self.restart_initial_s = restart_initial_s
        self.restart_max_s = restart_max_s
        self.stable_after_s = stable_after_s
        self._entries: dict[int, _Entry] = {}
        self._probes: dict[str, Callable[[], str | None]] = {}
        self._one_shots: set[asyncio.Task[None]] = set()
        self.one_shot_failures = 0

    # -- long-running ---------------------------------------------------------------------
    def run(
        self,
        name: str,
        factory: Callable[[], Coroutine[Any, Any, None]],
        *,
        task_name: str | None = None,
    ) -> asyncio.Task[None]:
        """Run ``factory()`` until cancelled, starting it again after each failure. Cancel the
        returned task to stop it (it then leaves the report)."""
        entry = _Entry(name)
        task = asyncio.create_task(self._keep_running(entry, factory), name=task_name or name)
        self._entries[id(task)] = entry
        task.add_done_callback(self._finished)
        return task

    async def _keep_running(
        self, entry: _Entry, factory: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        backoff = Backoff(initial_s=self.restart_initial_s, max_s=self.restart_max_s, jitter=0.0)
        while True:
            entry.started_at = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                entry.failures += 1
                entry.failed_at = time.monotonic()
                entry.last_error = describe(exc)
                if time.monotonic() - entry.started_at >= self.stable_after_s:
                    backoff.reset()  # it had been running well: start afresh
                delay = backoff.next_delay()
                logger.error(
                    "background task %r failed (%s failure%s%s); restarting in %.1f s",
                    entry.name,
                    entry.failures,
                    "" if entry.failures == 1 else "s",
                    ", the database is unavailable" if is_transient(exc) else "",
                    delay,
                    exc_info=exc,
                )
                await asyncio.sleep(delay)
                continue
            entry.dead = True
            entry.last_error = "returned (a background task must run until stopped)"
            logger.error("background task %r ended on its own: it is not running", entry.name)
            return

    def _finished(self, task: asyncio.Task[None]) -> None:
        entry = self._entries.get(id(task))
        if entry is None:
            return
        if task.cancelled() or not entry.dead:
            del self._entries[id(task)]  # stopped on purpose

    # -- one-shots ------------------------------------------------------------------------
    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` once; a failure is logged at ERROR with its traceback and counted."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._one_shots.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._one_shots.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self.one_shot_failures += 1
                logger.error("background task %r failed: %s", name, describe(exc), exc_info=exc)

        task.add_done_callback(done)
        return task

    async def cancel_one_shots(self) -> None:
        tasks = list(self._one_shots)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- probes and the report ------------------------------------------------------------
    def probe(self, name: str, check: Callable[[], str | None]) -> Callable[[], None]:
        """Report ``check()`` (None when well, else what is wrong) under ``name``; returns a
        function that removes the probe."""
        self._probes[name] = check

        def remove() -> None:
            if self._probes.get(name) is check:
                del self._probes[name]

        return remove

    def report(self) -> HealthReport:
        now = time.monotonic()
        rows: list[TaskHealth] = []
        for entry in self._entries.values():
            ago = None if entry.failed_at is None else now - entry.failed_at
            if entry.dead:
                state: TaskState = "dead"
            elif entry.failed_at is not None and now - entry.started_at < self.stable_after_s:
                state = "failing"  # failed lately, or waiting to start again
            elif entry.failed_at is not None and entry.started_at < entry.failed_at:
                state = "failing"
            else:
                state = "running"
            rows.append(TaskHealth(entry.name, state, entry.failures, entry.last_error, ago))
        for name, check in self._probes.items():
            try:
                problem = check()
            except Exception as exc:  # a probe must not break the health check
                problem = f"probe failed: {describe(exc)}"
            rows.append(
                TaskHealth(name, "running" if problem is None else "dead", last_error=problem)
            )
        rows.sort(key=lambda t: t.name)
        return HealthReport(tuple(rows), self.one_shot_failures)
