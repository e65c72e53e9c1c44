"""A storage controller over fakes: the site, its constraints and the stations' answers in
memory, a manual clock; each test calls ``step_once`` itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from chargegrid.clock import ManualClock
from csms.domain import ChargingLimit
from csms.events import EventBus
from csms.exceptions import CommandError
from csms.sites import Site
from csms.storage_units import LiveUnits, SiteHooks, StorageController, StorageSettings

__all__ = ["Commands", "Harness", "harness"]

T0 = datetime(2026, 6, 26, 15, 0, tzinfo=UTC)


@dataclass
class Commands:
    """The stations: every one online; each schedule accepted unless ``refuse`` is set."""

    sent: list[ChargingLimit] = field(default_factory=list)
    refuse: bool = False

    def is_online(self, station_id: str) -> bool:
        return True

    async def set_charging_profile(self, limit: ChargingLimit) -> None:
        if self.refuse:
            raise CommandError(limit.station_id, "SetChargingProfile", "Rejected")
        self.sent.append(limit)


class _Sites:
    async def list_constraints(self, site_id: str) -> list[Any]:
        return []


@dataclass
class Harness:
    controller: StorageController
    units: LiveUnits
    commands: Commands
    clock: ManualClock
    #: what the site import hook answers (the sum of what the CSMS knows)
    import_w: list[float]

    def setpoints_w(self) -> list[float | None]:
        """The setpoint of every schedule sent, in order (None: Idle)."""
        out: list[float | None] = []
        for limit in self.commands.sent:
            (period,) = limit.v2x
            out.append(period.setpoint)
        return out


def harness(site: Site, *, import_w: float = 0.0) -> Harness:
    units = LiveUnits(site)
    commands = Commands()
    clock = ManualClock(T0)
    estimate = [import_w]
    hooks = SiteHooks(
        site=lambda: site,
        plan=lambda: None,
        import_w=lambda: estimate[0],
        ev_reduction=lambda _w: None,
        replan=lambda _why: None,
    )
    unused: Any = None
    controller = StorageController(
        site.id,
        units,
        hooks,
        clock=clock,
        commands=cast(Any, commands),
        bus=EventBus(),
        sites=cast(Any, _Sites()),
        supervisor=unused,
        settings=StorageSettings(interval_s=5.0, deadband_w=100.0),
    )
    return Harness(controller, units, commands, clock, estimate)
