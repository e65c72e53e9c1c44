"""The simulated charging station: a sans-I/O model of its connectors, EVs and limits.

Inputs in, messages out, no sockets and no sleeping. The I/O layer calls :meth:`Station.step`
at :meth:`Station.next_wakeup` (and whenever a command arrives), feeds back the answers to
what it sent (:meth:`on_authorized`, :meth:`on_started`) and sends the
:mod:`simulators.messages` the model returns, in order.

The power each connector draws is :mod:`simulators.power`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from simulators.charging_profiles import ChargingProfile, ProfilePurpose, RateUnit
from simulators.composite import CompositeSchedule, next_change
from simulators.config import StationSpec, check_config, default_config
from simulators.connector import Connector, SessionRecord, visit_outcome
from simulators.ev import EV, EVSpec
from simulators.exceptions import StationError
from simulators.limits import ProfileStore
from simulators.messages import (
    AuthorizeRequest,
    ChargingStateChanged,
    ConnectorStatus,
    MeterSample,
    Outgoing,
    StatusChanged,
    StopReason,
    Transaction,
    TransactionEnded,
    TransactionStarted,
)
from simulators.power import allocate, composite, discharge_refusal, tx_ids
from simulators.sampling import aligned_after
from simulators.v2g import BidirectionalEV

__all__ = ["Station", "StationSpec"]  # StationSpec re-exported from simulators.config

logger = logging.getLogger(__name__)

_CHARGING_STATES = (
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.SUSPENDED_EVSE,
)


class Station:
    """One station's state; every method takes the current clock time."""

    def __init__(
        self, spec: StationSpec, *, now: datetime, sessions: Iterable[tuple[int, EVSpec]] = ()
    ):
        self.spec = spec
        self.profiles = ProfileStore()
        self.connectors = {
            i: Connector(i, cspec) for i, cspec in enumerate(spec.connectors, start=1)
        }
        planned = sorted(sessions, key=lambda s: (s[1].arrival or now, s[0]))
        for connector_id, ev in planned:
            self.connector(connector_id).planned.append(ev)
        self.records: list[SessionRecord] = []
        self.config = default_config(spec)
        self.meter_interval_s = spec.meter_interval_s
        self.online = False
        self._last = now
        self._tx_count = 0

    # --- queries ---------------------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise StationError(f"{self.spec.station_id} has no connector {connector_id}") from None

    def transaction(self, tx_id: str) -> Transaction | None:
        for c in self.connectors.values():
            if c.tx is not None and tx_id in (c.tx.local_id, str(c.tx.csms_id)):
                return c.tx
        return None

    def next_wakeup(self) -> datetime:
        """When :meth:`step` next has something to do."""
        return self._next_event(self._last) or self._last + timedelta(seconds=self.meter_interval_s)

    def _next_event(self, after: datetime) -> datetime | None:
        """The first instant strictly after ``after`` where something is due."""
        times = []
        for c in self.connectors.values():
            if c.tx is not None and c.next_sample_at is not None:
                times.append(c.next_sample_at)
            if c.ev is not None and c.ev.spec.departure is not None:
                times.append(c.ev.spec.departure)
            if c.ev is None and c.planned and c.planned[0].arrival is not None:
                times.append(c.planned[0].arrival)
        if len(self.profiles):
            change = next_change([i.profile for i in self.profiles.items], after, horizon_s=86_400)
            if change is not None:
                times.append(change)
        later = [t for t in times if t > after]
        return min(later) if later else None

    def composite(
        self, connector_id: int, *, duration_s: int, unit: RateUnit, now: datetime
    ) -> CompositeSchedule:
        """GetCompositeSchedule: connector 0 is the station maximum alone."""
        connector = None if connector_id == 0 else self.connector(connector_id)
        return composite(
            self.connectors, self.profiles, connector, duration_s=duration_s, unit=unit, now=now
        )

    # --- time --------------------------------------------------------------------------------

    def step(self, now: datetime) -> list[Outgoing]:
        """Advance to ``now``, handling everything due on the way in time order: energy,
        arrivals and departures, limit changes, clock-aligned meter samples. A late call
        therefore gives the same samples (times and registers) as a punctual one."""
        out: list[Outgoing] = []
        while (t := self._next_event(self._last)) is not None and t <= now:
            out += self._process(t)
        return out + self._process(now)

    def _advance_to(self, t: datetime) -> None:
        dt_s = (t - self._last).total_seconds()
        if dt_s > 0:
            for c in self.connectors.values():
                c.advance(dt_s, self._last)
            self._last = t

    def _process(self, now: datetime) -> list[Outgoing]:
        self._advance_to(now)
        out: list[Outgoing] = []
        for c in self.connectors.values():
            ev = c.ev
            if ev is not None and ev.spec.departure is not None and ev.spec.departure <= now:
                out += self._unplug(c, now, StopReason.EV_DISCONNECTED)
            self._skip_missed(c, now)
            if c.ev is None and c.planned and c.operative and not c.faulted:
                arrival = c.planned[0].arrival
                if arrival is None or arrival <= now:
                    out += self._plug(c, c.planned.popleft(), now)
            if c.ev is not None and c.tx is None and c.auth is None and c.operative:
                c.auth = "pending"
                out.append(AuthorizeRequest(c.id, c.ev.spec.id_tag or "SIM", now))
        out += self._allocate(now)
        for c in self.connectors.values():
            if c.tx is not None and c.next_sample_at is not None and c.next_sample_at <= now:
                out.append(self._sample(c, now))
                c.next_sample_at = aligned_after(now, self.meter_interval_s)
        return out

    def _skip_missed(self, c: Connector, now: datetime) -> None:
        while c.planned and c.planned[0].departure is not None and c.planned[0].departure <= now:
            missed = c.planned.popleft()
            self.records.append(SessionRecord.missed(self.spec.station_id, c.id, missed))

    def _plug(self, c: Connector, ev_spec: EVSpec, now: datetime) -> list[Outgoing]:
        if ev_spec.v2x is not None and self.spec.ocpp_version == "2.1":
            c.ev = BidirectionalEV(ev_spec, ev_spec.v2x, dc=c.spec.dc)
        else:  # 1.6 and 2.0.1 have no V2X: a V2G vehicle only charges there
            c.ev = EV(ev_spec, dc=c.spec.dc)
        c.record = SessionRecord.start(self.spec.station_id, c.id, ev_spec, now)
        c.auth = None
        return self._status(c, ConnectorStatus.PREPARING, now)

    def _unplug(self, c: Connector, now: datetime, reason: StopReason) -> list[Outgoing]:
        out = self._stop(c, now, reason) if c.tx is not None else []
        if c.ev is not None and c.record is not None:
            outcome = c.record.outcome or visit_outcome(c.ev.delivered_wh, c.record.requested_wh)
            self.records.append(c.record.finish(c.ev, now, outcome))
        c.ev, c.record, c.auth = None, None, None
        status = ConnectorStatus.UNAVAILABLE if not c.operative else ConnectorStatus.AVAILABLE
        if c.faulted:
            status = ConnectorStatus.FAULTED
        return out + self._status(c, status, now)

    def _status(self, c: Connector, status: ConnectorStatus, now: datetime) -> list[Outgoing]:
        if c.status is status:
            return []
        c.status = status
        out: list[Outgoing] = [
            StatusChanged(c.id, status, now, "OtherError" if c.faulted else "NoError")
        ]
        if c.tx is not None and status in _CHARGING_STATES and self.spec.ocpp_version != "1.6":
            out.append(ChargingStateChanged(c.tx, status, now, c.tx.next_seq()))
        return out

    # --- transactions ------------------------------------------------------------------------

    def on_authorized(self, connector_id: int, accepted: bool, now: datetime) -> list[Outgoing]:
        """The answer to an :class:`AuthorizeRequest` (or a local decision when offline)."""
        self._advance_to(now)
        c = self.connector(connector_id)
        if c.ev is None or c.tx is not None or c.auth != "pending":
            return []
        if not accepted:
            c.auth = "rejected"
            if c.record is not None:
                c.record.outcome = "rejected"
            return []
        c.auth = "accepted"
        return self._start(c, now, remote=False)

    def _start(self, c: Connector, now: datetime, *, remote: bool) -> list[Outgoing]:
        assert c.ev is not None
        self._tx_count += 1
        tx = Transaction(
            local_id=f"{self.spec.station_id}-{self._tx_count:05d}",
            connector_id=c.id,
            id_tag=c.ev.spec.id_tag or "SIM",
            started_at=now,
            meter_start_wh=round(c.energy_wh, 1),
            remote=remote,
        )
        c.tx = tx
        c.next_sample_at = aligned_after(now, self.meter_interval_s)
        out: list[Outgoing] = [TransactionStarted(tx, now, tx.next_seq())]
        if self.spec.ocpp_version != "1.6":  # 2.0.1 and 2.1 state the EV's needs
            out.append(c.charging_needs(now))
        return out + self._allocate(now)

    def on_started(
        self, tx: Transaction, *, accepted: bool, csms_id: int | None, now: datetime
    ) -> list[Outgoing]:
        """The answer to StartTransaction (1.6): the CSMS's id, or a refusal of the id tag."""
        self._advance_to(now)
        if csms_id is not None:
            tx.csms_id = csms_id
        if accepted or tx.ended:
            return []
        c = self.connector(tx.connector_id)
        if c.tx is not tx:
            return []
        if c.record is not None:
            c.record.outcome = "deauthorized"
        c.auth = "rejected"
        return self._stop(c, now, StopReason.DEAUTHORIZED)

    def _stop(self, c: Connector, now: datetime, reason: StopReason) -> list[Outgoing]:
        tx = c.tx
        assert tx is not None
        last = self._sample(c, now, context="Transaction.End")
        tx.ended = True
        c.tx, c.next_sample_at, c.power_w = None, None, 0.0
        self.profiles.end_transaction(c.id)
        out: list[Outgoing] = [
            TransactionEnded(tx, now, round(c.energy_wh, 1), reason, tx.next_seq(), last)
        ]
        if c.ev is not None and not c.faulted:
            out += self._status(c, ConnectorStatus.FINISHING, now)
        return out

    def remote_start(
        self, id_tag: str, connector_id: int | None, profile: ChargingProfile | None, now: datetime
    ) -> tuple[bool, list[Outgoing]]:
        """RemoteStartTransaction / RequestStartTransaction: use the waiting EV, or plug in the
        station's walk-up EV when the connector is free."""
        self._advance_to(now)
        candidates = (
            [self.connector(connector_id)] if connector_id else list(self.connectors.values())
        )
        for c in candidates:
            if c.tx is not None or not c.operative or c.faulted:
                continue
            out: list[Outgoing] = []
            if c.ev is None:
                spec = self.spec.default_ev
                walk_up = EVSpec(
                    **{**_fields(spec), "id_tag": id_tag, "arrival": now, "departure": None}
                )
                out += self._plug(c, walk_up, now)
            assert c.ev is not None
            c.ev.spec = EVSpec(**{**_fields(c.ev.spec), "id_tag": id_tag})
            c.auth = "accepted"
            if profile is not None:
                self.profiles.install(c.id, profile)
            return True, out + self._start(c, now, remote=True)
        return False, []

    def remote_stop(self, tx_id: str, now: datetime) -> tuple[bool, list[Outgoing]]:
        self._advance_to(now)
        tx = self.transaction(tx_id)
        if tx is None:
            return False, []
        c = self.connector(tx.connector_id)
        out = self._stop(c, now, StopReason.REMOTE)
        if c.ev is not None and c.ev.spec.departure is None:  # walk-up EVs leave when stopped
            out += self._unplug(c, now, StopReason.REMOTE)
        return True, out

    def local_stop(self, connector_id: int, now: datetime) -> list[Outgoing]:
        """The driver ends the session at the station (presents the id tag again): the
        transaction stops with reason Local and the vehicle stays plugged in until it leaves."""
        self._advance_to(now)
        c = self.connector(connector_id)
        if c.tx is None:
            return []
        return self._stop(c, now, StopReason.LOCAL) + self._allocate(now)

    # --- power -------------------------------------------------------------------------------

    def _allocate(self, now: datetime) -> list[Outgoing]:
        out: list[Outgoing] = []
        for c, status in allocate(self.connectors, self.profiles, now):
            out += self._status(c, status, now)
        return out

    def _sample(
        self, c: Connector, now: datetime, *, context: str = "Sample.Periodic"
    ) -> MeterSample:
        phases = c.phases_used()
        per_phase = c.power_w / (c.spec.voltage_v * phases) if c.power_w > 0 else 0.0
        soc = None
        if c.spec.dc and c.ev is not None:
            soc = round(c.ev.soc * 100, 1)
        tx = c.tx
        return MeterSample(
            connector_id=c.id,
            tx=tx,
            at=now,
            energy_wh=round(c.energy_wh, 1),
            power_w=float(c.power_w),
            current_a=tuple(math.floor(per_phase * 100) / 100 for _ in range(phases)),
            voltage_v=c.spec.voltage_v,
            soc_pct=soc,
            seq_no=tx.next_seq() if tx is not None and context != "Transaction.End" else 0,
            context=context,
            dc=c.spec.dc,
            export_wh=round(c.export_wh, 1)
            if isinstance(c.ev, BidirectionalEV) or c.export_wh > 0
            else None,
        )

    # --- commands ----------------------------------------------------------------------------

    def set_profile(
        self, connector_id: int, profile: ChargingProfile, now: datetime
    ) -> tuple[bool, list[Outgoing]]:
        """SetChargingProfile: refuse what OCPP says a station refuses (see
        :meth:`profile_refusal`)."""
        self._advance_to(now)
        if self.profile_refusal(connector_id, profile) is not None:
            return False, []
        self.profiles.install(connector_id, profile)
        return True, self._allocate(now)

    def profile_refusal(self, connector_id: int, profile: ChargingProfile) -> str | None:
        """Why this station refuses ``profile`` on ``connector_id``, or None if it takes it."""
        station_wide = profile.purpose in (ProfilePurpose.STATION_MAX, ProfilePurpose.EXTERNAL)
        if station_wide and connector_id != 0:
            return f"a station-wide profile applies to connector 0, not {connector_id}"
        if connector_id != 0 and connector_id not in self.connectors:
            return f"no connector {connector_id}"
        if profile.purpose is ProfilePurpose.TX:
            if connector_id == 0:
                return "a TxProfile needs a connector"
            tx = self.connectors[connector_id].tx
            if tx is None:
                return f"a TxProfile but no transaction on connector {connector_id}"
            if profile.transaction_id not in (None, *(tx_ids(tx) or ())):
                return (
                    f"a TxProfile for transaction {profile.transaction_id}, but connector "
                    f"{connector_id} runs {tx.csms_id or tx.local_id}"
                )
        modes = {p.operation_mode for p in profile.schedule.periods}
        if self.spec.ocpp_version != "2.1" and modes != {"ChargingOnly"}:
            return f"operation modes are OCPP 2.1's, this station speaks {self.spec.ocpp_version}"
        if connector_id in self.connectors and profile.purpose is ProfilePurpose.TX:
            refusal = discharge_refusal(self.connectors[connector_id], profile)
            if refusal is not None:
                return refusal
        highest = int(self.config["ChargeProfileMaxStackLevel"])
        if profile.stack_level > highest:
            return f"stack level {profile.stack_level} above ChargeProfileMaxStackLevel {highest}"
        return None

    def clear_profiles(self, now: datetime, **criteria: Any) -> tuple[bool, list[Outgoing]]:
        self._advance_to(now)
        removed = self.profiles.clear(**criteria)
        return removed > 0, self._allocate(now)

    def change_availability(
        self, connector_id: int, operative: bool, now: datetime
    ) -> tuple[str, list[Outgoing]]:
        self._advance_to(now)
        targets = (
            list(self.connectors.values()) if connector_id == 0 else [self.connector(connector_id)]
        )
        scheduled = False
        out: list[Outgoing] = []
        for c in targets:
            c.operative = operative
            if c.tx is not None:
                scheduled = True
                continue
            if c.ev is None and not c.faulted:
                out += self._status(
                    c, ConnectorStatus.AVAILABLE if operative else ConnectorStatus.UNAVAILABLE, now
                )
        return ("Scheduled" if scheduled and not operative else "Accepted"), out

    def unlock(self, connector_id: int, now: datetime) -> tuple[str, list[Outgoing]]:
        self._advance_to(now)
        c = self.connector(connector_id)
        if c.ev is None:
            return "Unlocked", []
        if c.record is not None:
            c.record.outcome = "unlocked"
        return "Unlocked", self._unplug(c, now, StopReason.UNLOCK)

    def reset(self, now: datetime, *, hard: bool) -> list[Outgoing]:
        """End every transaction; plugged vehicles authorize again after the reboot."""
        self._advance_to(now)
        out: list[Outgoing] = []
        for c in self.connectors.values():
            if c.tx is not None:
                out += self._stop(c, now, StopReason.REBOOT if hard else StopReason.SOFT_RESET)
            c.auth = None
        return out

    def trigger_samples(self, connector_id: int | None, now: datetime) -> list[MeterSample]:
        """TriggerMessage(MeterValues): a sample of every (or one) charging connector."""
        self._advance_to(now)
        return [
            self._sample(c, now, context="Trigger")
            for c in self.connectors.values()
            if c.tx is not None and connector_id in (None, 0, c.id)
        ]

    def boot_statuses(self, now: datetime) -> list[StatusChanged]:
        return [StatusChanged(c.id, c.status, now) for c in self.connectors.values()]

    def set_config(self, key: str, value: str) -> str:
        """ChangeConfiguration / SetVariables: Accepted, Rejected or NotSupported."""
        status = check_config(self.config, key, value)
        if status == "Accepted":
            self.config[key] = value
            if key == "MeterValueSampleInterval":
                self.meter_interval_s = float(value)
        return status

    # --- faults ------------------------------------------------------------------------------

    def fault(self, connector_id: int, now: datetime) -> list[Outgoing]:
        """A connector fault: the transaction stops and the connector reports Faulted."""
        self._advance_to(now)
        c = self.connector(connector_id)
        c.faulted = True
        out = self._stop(c, now, StopReason.FAULT) if c.tx is not None else []
        if c.record is not None:
            c.record.outcome = "faulted"
        return out + self._status(c, ConnectorStatus.FAULTED, now)

    def clear_fault(self, connector_id: int, now: datetime) -> list[Outgoing]:
        self._advance_to(now)
        c = self.connector(connector_id)
        c.faulted = False
        status = ConnectorStatus.PREPARING if c.ev is not None else ConnectorStatus.AVAILABLE
        c.auth = None
        return self._status(c, status, now)

    def ev_stops_drawing(self, connector_id: int, now: datetime) -> list[Outgoing]:
        self._advance_to(now)
        c = self.connector(connector_id)
        if c.ev is not None:
            c.ev.stopped_drawing = True
        return self._allocate(now)

    def meter_jump(self, connector_id: int, jump_wh: float) -> None:
        self.connector(connector_id).energy_wh += jump_wh

    def finish(self, now: datetime) -> list[SessionRecord]:
        """Close the books at the end of a run: vehicles still plugged are reported as such."""
        self.step(now)
        records = list(self.records)
        for c in self.connectors.values():
            if c.ev is not None and c.record is not None:
                records.append(c.record.finish(c.ev, now, c.record.outcome or "unfinished"))
            for ev in c.planned:
                records.append(
                    SessionRecord.missed(self.spec.station_id, c.id, ev, outcome="not arrived")
                )
        return records


def _fields(spec: EVSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}
