"""Taking one station of a running fleet offline and back (failure tests, decision 0925).

:class:`StationSwitch` is part of :class:`~simulators.fleet.Fleet`: :meth:`stop_station`
stops one station or site device (its connection closed with 1000, its model no longer
stepped: a station switched off, or a meter whose link is cut), :meth:`restart_station` runs
it again (it reconnects and boots; a device sends the samples that fell due meanwhile, as
a meter that kept its readings does).
"""

from __future__ import annotations

import asyncio
import contextlib

from simulators.runner import StationRunner

__all__ = ["StationSwitch"]


class StationSwitch:
    """The fleet's running stations by id, each stoppable and restartable on its own."""

    _tasks: list[asyncio.Task[None]]
    _running: dict[str, asyncio.Task[None]]

    def _every(self) -> list[StationRunner]:
        raise NotImplementedError

    def _launch(self, runner: StationRunner, delay_s: float = 0.0) -> None:
        task = asyncio.create_task(self._start(runner, delay_s), name=f"fleet:{runner.station_id}")
        self._running[runner.station_id] = task
        self._tasks.append(task)

    async def _start(self, runner: StationRunner, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        await runner.run()

    def running(self, station_id: str) -> bool:
        """Whether the station runs (started by ``run`` and not stopped)."""
        task = self._running.get(station_id)
        return task is not None and not task.done()

    async def stop_station(self, station_id: str) -> None:
        """Stop one running station or site device (by its OCPP id) until
        :meth:`restart_station`; ValueError if it does not run."""
        task = self._running.pop(station_id, None)
        if task is None or task.done():
            raise ValueError(f"station {station_id!r} is not running")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._tasks.remove(task)

    def restart_station(self, station_id: str) -> None:
        """Run a stopped station again; ValueError for an unknown or running one."""
        runner = next((r for r in self._every() if r.station_id == station_id), None)
        if runner is None:
            raise ValueError(f"no station {station_id!r} in the fleet")
        if self.running(station_id):
            raise ValueError(f"station {station_id!r} is running")
        self._launch(runner)
