"""What a site's planning loop needs from around it, handed down as one small object.

The planning service builds one :class:`PlanningContext` and gives it to every site loop; a
loop never sees the service itself (decision 0620). Tests build one from fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from csms.planning.config import PlanningSettings

if TYPE_CHECKING:
    from chargegrid.clock import Clock
    from csms.core.commands import Commands
    from csms.events import EventBus
    from csms.planning.state import SiteState
    from csms.sites.service import SiteService
    from csms.store import Store
    from csms.supervisor import Supervisor

__all__ = ["PlanningContext", "Spawn"]


class Spawn(Protocol):
    """Run a coroutine once beside the loops; a failure is logged (``what`` names it)."""

    def __call__(self, coro: Coroutine[Any, Any, None], *, what: str = ...) -> None: ...


@dataclass(frozen=True, slots=True)
class PlanningContext:
    """The settings, the clock and the outside parts a site loop reads and calls."""

    settings: PlanningSettings
    clock: Clock
    #: profiles and configuration reads to the stations; which stations are connected
    commands: Commands
    #: where the plans, missed departures and non-compliance are published
    bus: EventBus
    #: the site's grid constraints
    sites: SiteService
    #: the session history (expected arrivals)
    store: Store
    #: runs each site's loop, restarted after a failure
    supervisor: Supervisor
    spawn: Spawn
    #: the group of each active session's id token (fleet defaults)
    token_groups: Callable[[SiteState], Awaitable[dict[str, str | None]]]
