"""DER control, version-neutral: what stations report of their DER controls, alarms and
starts/stops, and what the central system records when a station accepts or clears a
control. Stored (held and retried while the store is unavailable), then published.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from chargegrid.clock import Clock
from csms.core.durability import Retrying
from csms.der.model import DerAlarm, DerControl, DerControlRecord, DerControlType, DerStartStop
from csms.der.repository import DerRepository
from csms.events import (
    DerAlarmRaised,
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
    EventBus,
)

__all__ = ["DerHandling"]

logger = logging.getLogger(__name__)


class DerHandling:
    """The DER controls in force per station, and their alarms."""

    def __init__(
        self, repo: DerRepository, *, bus: EventBus, clock: Clock, retrying: Retrying
    ) -> None:
        self.repo = repo
        self._bus = bus
        self._clock = clock
        self._retrying = retrying

    async def _superseded(
        self, station_id: str, ids: Sequence[str], at: datetime
    ) -> list[DerControlRecord]:
        out = []
        for control_id in ids:
            record = await self.repo.get_control(station_id, control_id)
            if record is not None and not record.control.superseded:
                control = dataclasses.replace(record.control, superseded=True)
                out.append(dataclasses.replace(record, control=control, recorded_at=at))
        return out

    async def _put(self, station_id: str, what: str, records: list[DerControlRecord]) -> None:
        await self._retrying(
            lambda: self.repo.put_controls(records), what=what, station_id=station_id
        )

    async def control_set(
        self, station_id: str, control: DerControl, superseded_ids: Sequence[str]
    ) -> DerControlRecord:
        """The station accepted ``control``: it is in force, the ones it superseded not."""
        now = self._clock.now()
        record = DerControlRecord(station_id, control, "set", now)
        records = [*await self._superseded(station_id, superseded_ids, now), record]
        await self._put(station_id, "SetDERControl", records)
        logger.info(
            "station %s: DER control %s (%s) in force",
            station_id,
            control.control_id,
            control.control_type.value,
        )
        self._bus.publish(DerControlSet(station_id, control, tuple(superseded_ids), now))
        return record

    async def controls_cleared(
        self,
        station_id: str,
        *,
        is_default: bool,
        control_type: DerControlType | None,
        control_id: str | None,
    ) -> tuple[str, ...]:
        """The station accepted a ClearDERControl: the matching controls in force are
        cleared (their rows stay, with the time). Returns their ids."""
        now = self._clock.now()
        cleared = [
            dataclasses.replace(r, cleared_at=now)
            for r in await self.repo.list_controls(station_id)
            if r.control.is_default == is_default
            and (control_type is None or r.control.control_type is control_type)
            and (control_id is None or r.control.control_id == control_id)
        ]
        await self._put(station_id, "ClearDERControl", cleared)
        ids = tuple(r.control.control_id for r in cleared)
        self._bus.publish(DerControlsCleared(station_id, ids, now))
        return ids

    async def reported(
        self, station_id: str, *, request_id: int, controls: Sequence[DerControl], tbc: bool
    ) -> None:
        """A ReportDERControl: each control listed is recorded as the station has it
        (``source="reported"``), keeping what NotifyDERStartStop said of it."""
        now = self._clock.now()
        records = []
        for control in controls:
            known = await self.repo.get_control(station_id, control.control_id)
            records.append(
                DerControlRecord(
                    station_id,
                    control,
                    "reported",
                    now,
                    started=known.started if known is not None else None,
                    started_changed_at=known.started_changed_at if known is not None else None,
                )
            )
        await self._put(station_id, "ReportDERControl", records)
        self._bus.publish(DerControlsReported(station_id, request_id, tuple(controls), tbc, now))

    async def alarm(self, alarm: DerAlarm) -> None:
        await self._retrying(
            lambda: self.repo.add_alarm(alarm), what="NotifyDERAlarm", station_id=alarm.station_id
        )
        level = logging.INFO if alarm.alarm_ended else logging.WARNING
        logger.log(
            level,
            "station %s: DER alarm %s %s%s",
            alarm.station_id,
            alarm.control_type.value,
            alarm.grid_event_fault or "",
            " ended" if alarm.alarm_ended else "",
        )
        self._bus.publish(DerAlarmRaised(alarm.station_id, alarm))

    async def start_stop(self, change: DerStartStop) -> None:
        """NotifyDERStartStop: the control's started state, and the ones it superseded. A
        control the central system does not know is only published (a station may act on
        a default it was built with)."""
        sid = change.station_id
        records = await self._superseded(sid, change.superseded_ids, change.at)
        known = await self.repo.get_control(sid, change.control_id)
        if known is not None:
            records.append(
                dataclasses.replace(known, started=change.started, started_changed_at=change.at)
            )
        else:
            logger.info(
                "station %s: DER control %s %s, not known here",
                sid,
                change.control_id,
                "started" if change.started else "stopped",
            )
        await self._put(sid, "NotifyDERStartStop", records)
        self._bus.publish(DerStartStopped(sid, change))
