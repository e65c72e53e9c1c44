"""The storage controller runs under the supervisor: a failing step is restarted, ``/health``
names it, and stopping it hands the units back to the planner's worst case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chargegrid.clock import VirtualClock
from csms.storage_units import LiveUnits, SiteHooks, StorageController, StorageSettings
from csms.supervisor import Supervisor
from tests.unit.storage_units.test_glue import _meter, _site
from tests.waiting import wait_until

T0 = datetime(2026, 6, 26, 15, 0, tzinfo=UTC)


async def test_a_failing_controller_is_restarted_and_named_by_health() -> None:
    clock = VirtualClock(start=T0, speed=100.0)
    units = LiveUnits(_site())
    units.apply(_meter(T0, soc=50.0, imp=0.0))
    replans: list[str] = []

    def broken_site() -> Any:
        raise RuntimeError("site file unreadable")

    hooks = SiteHooks(
        site=broken_site,
        plan=lambda: None,
        import_w=lambda: 0.0,
        ev_reduction=lambda _w: None,
        replan=replans.append,
    )
    supervisor = Supervisor(restart_initial_s=0.01, restart_max_s=0.01)
    unused: Any = None
    controller = StorageController(
        "s",
        units,
        hooks,
        clock=clock,
        commands=unused,
        bus=unused,
        sites=unused,
        supervisor=supervisor,
        settings=StorageSettings(interval_s=1.0),
    )
    controller.start()
    assert units.dispatching and replans == ["storage control started"]

    def failing() -> bool:
        (row,) = supervisor.report().tasks
        return row.name == "storage control: site s" and row.state == "failing" and row.failures > 1

    await wait_until(failing, 10, "the controller reported failing, restarted")
    assert "site file unreadable" in (supervisor.report().tasks[0].last_error or "")
    await controller.stop()
    assert not units.dispatching and replans[-1] == "storage control stopped"
    assert supervisor.report().tasks == ()
