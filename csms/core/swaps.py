"""Battery swaps, version-neutral: BatterySwap events applied to swap sessions (the rules
are :func:`csms.swaps.model.apply`), the driver's id token authorized like a charging
session's, the session and the packs it moved stored in one write, then published.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from chargegrid.clock import Clock
from csms.core.durability import Retrying
from csms.domain import AuthorizationResult, AuthorizationStatus
from csms.events import BatterySwapUpdated, EventBus
from csms.swaps.model import BatterySwap, SwapEvent, SwapEventKind, apply, requested
from csms.swaps.repository import SwapRepository

__all__ = ["SwapHandling"]

logger = logging.getLogger(__name__)

Authorize = Callable[[str, str], Awaitable[AuthorizationResult]]


class SwapHandling:
    def __init__(
        self,
        repo: SwapRepository,
        *,
        bus: EventBus,
        clock: Clock,
        retrying: Retrying,
        authorize: Authorize,
    ) -> None:
        self.repo = repo
        self._bus = bus
        self._clock = clock
        self._retrying = retrying
        self._authorize = authorize

    async def event(self, event: SwapEvent) -> BatterySwap | None:
        """Apply a station's BatterySwap event; returns the session as stored (the one
        already stored for a redelivered event). :class:`~csms.swaps.model.SwapRefused`
        when the event cannot be kept: nothing is stored."""
        sid = event.station_id
        packs = await self._retrying(
            lambda: self.repo.get_packs(r.serial_number for r in event.packs),
            what="BatterySwap",
            station_id=sid,
        )
        latest = await self._retrying(
            lambda: self.repo.latest_swap(sid, event.request_id), what="BatterySwap", station_id=sid
        )
        status = None
        if event.kind is SwapEventKind.BATTERY_IN:
            status = (await self._authorize(sid, event.id_token)).status
        outcome = apply(latest, event, packs, authorization=status.value if status else None)
        if outcome.swap is None:
            return latest
        swap = outcome.swap
        stored = await self._retrying(
            lambda: self.repo.save_swap(swap, outcome.packs), what="BatterySwap", station_id=sid
        )
        if status is not None and status is not AuthorizationStatus.ACCEPTED:
            logger.warning(
                "station %s: swap %s went ahead with an id token that is %s",
                sid,
                event.request_id,
                status.value,
            )
        logger.info(
            "station %s: swap %s (request %s) %s",
            sid,
            stored.id,
            stored.request_id,
            stored.state.value,
        )
        self._bus.publish(BatterySwapUpdated(sid, stored, self._clock.now()))
        return stored

    async def requested(self, station_id: str, request_id: int, id_token: str) -> BatterySwap:
        """The station accepted a RequestBatterySwap: the session waits for its packs."""
        swap = requested(station_id, request_id, id_token, self._clock.now())
        stored = await self._retrying(
            lambda: self.repo.save_swap(swap), what="RequestBatterySwap", station_id=station_id
        )
        self._bus.publish(BatterySwapUpdated(station_id, stored, self._clock.now()))
        return stored
