"""The supervisor: long-running tasks restarted after failures and reported; one-shots
logged; probes; what /health answers."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.exc import OperationalError

from csms.supervisor import Supervisor, cancel_and_wait
from tests.waiting import Entered, until_cancelled, wait_until


async def test_a_failing_task_is_restarted_reported_failing_then_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = Supervisor(restart_initial_s=0.001, restart_max_s=0.01, stable_after_s=3600.0)
    runs = 0
    release = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:  # the database is down twice, then back
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        await release.wait()
        await asyncio.Event().wait()  # runs until cancelled

    with caplog.at_level(logging.ERROR, logger="csms.supervisor"):
        task = sup.run("planner: site watcher", flaky)
        await wait_until(lambda: runs == 3, 30.0, "the third run", every_s=0.005)
    report = sup.report()
    assert not report.ok
    (row,) = report.tasks
    assert (row.name, row.state, row.failures) == ("planner: site watcher", "failing", 2)
    assert row.last_error is not None and "OperationalError" in row.last_error
    assert report.as_dict()["unhealthy"] == ["planner: site watcher"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all(r.exc_info is not None for r in errors)  # with the traceback
    assert "the database is unavailable" in errors[0].getMessage()

    # Once it has run long enough without failing, it is healthy again.
    sup.stable_after_s = 0.0
    assert sup.report().ok
    assert sup.report().tasks[0].failures == 2

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sup.report().tasks == ()  # stopped on purpose: gone from the report


async def test_a_task_that_returns_is_dead_for_good(caplog: pytest.LogCaptureFixture) -> None:
    sup = Supervisor()

    async def quits() -> None:
        return

    with caplog.at_level(logging.ERROR, logger="csms.supervisor"):
        task = sup.run("telemetry: sender", quits)
        await task
    report = sup.report()
    assert [(t.name, t.state) for t in report.tasks] == [("telemetry: sender", "dead")]
    assert not report.ok
    assert "ended on its own" in caplog.text


async def test_one_shot_failures_are_logged_and_counted_but_not_unhealthy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = Supervisor()

    async def boom() -> None:
        raise RuntimeError("no such thing")

    with caplog.at_level(logging.ERROR, logger="csms.supervisor"):
        task = sup.spawn("planner: load site depot", boom())
        with pytest.raises(RuntimeError):
            await task
        report = await wait_until(
            lambda: (r := sup.report()).one_shot_failures == 1 and r, 10, "the done callback"
        )
    assert report.ok
    (record,) = [r for r in caplog.records if "load site depot" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_probes_report_what_runs_elsewhere() -> None:
    sup = Supervisor()
    problem: list[str | None] = [None]
    remove = sup.probe("telemetry pipeline", lambda: problem[0])

    def broken() -> str | None:
        raise ValueError("bad probe")

    sup.probe("store writer", broken)
    report = sup.report()
    assert [(t.name, t.state) for t in report.tasks] == [
        ("store writer", "dead"),
        ("telemetry pipeline", "running"),
    ]
    assert report.tasks[0].last_error == "probe failed: ValueError: bad probe"
    problem[0] = "threads stopped: telemetry-sender"
    assert sup.report().as_dict()["unhealthy"] == ["store writer", "telemetry pipeline"]
    remove()
    assert [t.name for t in sup.report().tasks] == ["store writer"]


async def test_cancel_and_wait_stops_a_task_that_lost_its_first_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What asyncio.wait_for does on 3.11 when the answer and the cancel arrive together: the
    # cancellation is gone and the loop goes on.
    lost = 0

    async def loop_forever() -> None:
        nonlocal lost
        while True:
            try:
                await until_cancelled()
            except asyncio.CancelledError:
                if lost:
                    raise
                lost += 1

    started = Entered()
    quiet = started.start(until_cancelled())
    stubborn = started.start(loop_forever())
    await wait_until(lambda: started.inside == 2, 10, "both tasks running")
    with caplog.at_level(logging.WARNING, logger="csms.supervisor"):
        await asyncio.wait_for(cancel_and_wait([quiet, stubborn], every_s=0.01), 30.0)
    assert quiet.cancelled() and stubborn.cancelled()
    assert lost == 1
    assert "cancelled again" in caplog.text


async def test_cancel_and_wait_does_not_raise_what_the_tasks_ended_with() -> None:
    async def fail_on_cancel() -> None:
        try:
            await until_cancelled()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    started = Entered()
    task = started.start(fail_on_cancel())
    await wait_until(lambda: started.inside == 1, 10, "the task running")
    await cancel_and_wait([task])
    assert isinstance(task.exception(), RuntimeError)
