"""The telemetry listener and recording API: the only part that runs on the OCPP path.

:meth:`TelemetryRecorder.on_event` appends the (immutable) event to a thread-safe deque and
returns; it never builds a point, touches a file or waits on the network. The pipeline's
ingest thread drains the deque, encodes and stores. The typed ``record_*`` methods are the
same for things that are not domain events yet (plans, grid constraints, storage, site).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime

from csms.domain import ChargingLimit
from csms.events import ChargingLimitSent, EventBus
from csms.telemetry.metrics import TelemetryStats
from csms.telemetry.normalize import Reject
from csms.telemetry.records import (
    GridConstraintRecord,
    PlanRecord,
    PlanStep,
    Record,
    SiteRecord,
    StorageRecord,
)

__all__ = ["TelemetryRecorder"]

logger = logging.getLogger(__name__)


class TelemetryRecorder:
    """Collects events and records for the pipeline without blocking the caller.

    When ``max_buffer_items`` records are waiting (the ingest thread is stalled), new ones are
    dropped, counted under ``buffer_full`` and logged at most once per ``log_every_s``.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        stats: TelemetryStats | None = None,
        max_buffer_items: int = 100_000,
        site: str = "default",
        log_every_s: float = 10.0,
    ) -> None:
        self.stats = stats if stats is not None else TelemetryStats()
        self.site = site
        # disabled: a zero bound makes every append a no-op without a branch on the hot path
        self.enabled = enabled
        self.max_buffer_items = max_buffer_items if enabled else 0
        self._buffer: deque[Record] = deque()
        self._log_every_s = log_every_s
        self._last_drop_log = 0.0
        self._dropped_since_log = 0

    # -- the OCPP path -------------------------------------------------------------------

    def on_event(self, event: Record) -> None:
        """An :class:`~csms.events.EventBus` listener: O(1), no I/O. The typed records
        below are buffered the same way (``_put``)."""
        if len(self._buffer) < self.max_buffer_items:
            self._buffer.append(event)
        elif self.enabled:
            self._dropped(1)

    _put = on_event

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to ``bus``; returns the unsubscribe function."""
        return bus.subscribe(self.on_event)

    # -- typed records for the planner, storage control and API --------------------------

    def record_charging_limit(self, limit: ChargingLimit, *, accepted: bool, at: datetime) -> None:
        """A charging limit sent to a station (one point per schedule period)."""
        self._put(ChargingLimitSent(limit=limit, accepted=accepted, at=at))

    def record_plan(
        self,
        *,
        asset_kind: str,
        asset: str,
        steps: Iterable[PlanStep],
        plan_id: str | None = None,
        site: str | None = None,
    ) -> None:
        """An optimizer plan for one EVSE (``asset_kind="evse"``, ``asset="ST1/1"``) or storage
        unit (``asset_kind="storage"``): one point per time step, with the constraint in force."""
        self._put(
            PlanRecord(
                site=site or self.site,
                asset_kind=asset_kind,
                asset=asset,
                plan_id=plan_id,
                steps=tuple(steps),
            )
        )

    def record_grid_constraint(
        self,
        *,
        kind: str,
        value: float,
        unit: str,
        at: datetime,
        reason: str | None = None,
        site: str | None = None,
        node: str | None = None,
    ) -> None:
        """A grid constraint (``kind`` e.g. ``import_max``, ``export_max``, ``import_price``)
        on ``node`` of the site's limit tree. The CSMS's own constraints are written from the
        site service's ``GridConstraintSet`` events; this is for limits from elsewhere."""
        self._put(
            GridConstraintRecord(
                site=site or self.site,
                kind=kind,
                value=value,
                unit=unit,
                at=at,
                reason=reason,
                node=node,
            )
        )

    def record_storage(
        self,
        *,
        storage: str,
        at: datetime,
        soc_pct: float | None = None,
        setpoint_w: float | None = None,
        power_w: float | None = None,
        site: str | None = None,
    ) -> None:
        """A storage unit's state of charge, setpoint and measured power."""
        self._put(StorageRecord(site or self.site, storage, at, soc_pct, setpoint_w, power_w))

    def record_site(
        self,
        *,
        at: datetime,
        import_w: float | None = None,
        export_w: float | None = None,
        pv_w: float | None = None,
        load_w: float | None = None,
        site: str | None = None,
    ) -> None:
        """Site import/export at the grid connection, PV production and load."""
        self._put(SiteRecord(site or self.site, at, import_w, export_w, pv_w, load_w))

    # -- the pipeline side ----------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records waiting for the ingest thread."""
        return len(self._buffer)

    def drain(self, limit: int) -> list[Record]:
        """Take up to ``limit`` records, oldest first (called by the ingest thread)."""
        buffer = self._buffer
        out: list[Record] = []
        pop = buffer.popleft
        try:
            for _ in range(limit):
                out.append(pop())
        except IndexError:
            pass
        return out

    def _dropped(self, count: int) -> None:
        self.stats.drop(Reject.BUFFER_FULL, count)
        self._dropped_since_log += count
        now = time.monotonic()
        if now - self._last_drop_log >= self._log_every_s:
            logger.warning(
                "telemetry buffer full (%d records): dropped %d records since last report",
                self.max_buffer_items,
                self._dropped_since_log,
            )
            self._last_drop_log = now
            self._dropped_since_log = 0
