"""A storage unit as an OCPP 2.1 station with one bidirectional EVSE: the sans-I/O part.

:class:`StorageStation` wraps a :class:`~simulators.storage.StorageUnit` and speaks in 2.1
payloads (:class:`~simulators.messages.DeviceRequest`: camelCase, valid against the 2.1
schemas), so the runner only has to send them and hand it the central system's calls:

- ``step(now)`` runs the unit up to ``now`` and returns what it has to say, in time order:
  clock-aligned ``MeterValues`` on EVSE 1 (``SoC``, ``Power.Active.Import`` and ``.Export``,
  ``Power.Active.Setpoint``, the import and export energy registers); ``NotifyEvent`` for
  the over-temperature alarm (component ``TemperatureSensor`` on EVSE 1, variable
  ``Temperature``, trigger ``Alerting``, ``cleared`` when it ends) with a
  ``StatusNotification`` (``Faulted``, then ``Available``), and the temperature itself as a
  ``Delta`` event each time it has moved ``temperature_delta_c`` since the last report
  (2.1 has no temperature measurand in MeterValues);
- ``set_charging_profile(evse_id, raw, now)``: a ``CentralSetpoint`` / ``Idle``
  ``TxDefaultProfile`` (:mod:`simulators.setpoint_profiles`) becomes the unit's schedule;
  the newest accepted profile replaces the one before; setpoints beyond the rating are
  clamped, counted and said in the answer's ``statusInfo``;
- ``clear_charging_profile(profile_id)``: back to Idle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.exceptions import InvalidParameter, ProfileRefused
from simulators.messages import DeviceRequest
from simulators.quantities import aware, positive
from simulators.sampling import SampleClock
from simulators.setpoint_profiles import SetpointProfile, parse_setpoint_profile
from simulators.storage import AlarmEvent, StorageUnit

__all__ = [
    "EVSE_ID",
    "DeviceEvents",
    "HeldProfile",
    "ProfileAnswer",
    "StorageStation",
    "clock_sample",
    "device_event",
]

EVSE_ID = 1


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def clock_sample(
    at: datetime, evse_id: int, values: list[tuple[str, float, str]], *, location: str = "Outlet"
) -> DeviceRequest:
    """A clock-aligned MeterValues on ``evse_id``: (measurand, value, unit) at ``location``."""
    sampled = [
        {
            "value": value,
            "measurand": measurand,
            "context": "Sample.Clock",
            "location": location,
            "unitOfMeasure": {"unit": unit},
        }
        for measurand, value, unit in values
    ]
    return DeviceRequest(
        "MeterValues",
        {"evseId": evse_id, "meterValue": [{"timestamp": _iso(at), "sampledValue": sampled}]},
    )


def device_event(at: datetime, seq_no: int, event_id: int, data: dict[str, Any]) -> DeviceRequest:
    """A NotifyEvent of one event: ``data`` holds its component, variable, trigger, value."""
    event = {"eventId": event_id, "timestamp": _iso(at), **data}
    return DeviceRequest(
        "NotifyEvent", {"generatedAt": _iso(at), "seqNo": seq_no, "eventData": [event]}
    )


@dataclass(frozen=True, slots=True)
class ProfileAnswer:
    """The SetChargingProfile answer: status, and ``statusInfo`` when there is more to say."""

    status: str
    reason_code: str | None = None
    detail: str | None = None

    @classmethod
    def refused(cls, refused: ProfileRefused | InvalidParameter) -> ProfileAnswer:
        """Rejected: with the reason a :class:`ProfileRefused` names, else ``InvalidValue``
        (a number the device model refused)."""
        if isinstance(refused, ProfileRefused):
            return cls("Rejected", refused.reason_code, refused.detail)
        return cls("Rejected", "InvalidValue", str(refused))

    def payload(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"status": self.status}
        if self.reason_code is not None:
            info: dict[str, Any] = {"reasonCode": self.reason_code}
            if self.detail:
                info["additionalInfo"] = self.detail[:1024]
            answer["statusInfo"] = info
        return answer


class HeldProfile:
    """The one charging profile a device holds: the newest accepted replaces the one before;
    a clear without an id, or with the held one's, ends it. Refusals are counted."""

    def __init__(self, parse: Callable[..., SetpointProfile]) -> None:
        self._parse = parse
        self.profile_id: int | None = None
        self.rejected = 0

    def receive(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> SetpointProfile | ProfileAnswer:
        """The profile, now the one held; or the answer refusing it."""
        try:
            profile = self._parse(raw, evse_id=evse_id, received_at=now)
        except (ProfileRefused, InvalidParameter) as refused:
            self.rejected += 1
            return ProfileAnswer.refused(refused)
        self.profile_id = profile.profile_id
        return profile

    def clear(self, profile_id: int | None) -> bool:
        """ClearChargingProfile: whether it ended the held profile (else: ``Unknown``)."""
        if self.profile_id is None or profile_id not in (None, self.profile_id):
            return False
        self.profile_id = None
        return True


class DeviceEvents:
    """A device's NotifyEvent messages, numbered: each its ``seqNo`` and its event's id."""

    def __init__(self) -> None:
        self._event_id = 0
        self._seq_no = 0

    def notify(self, at: datetime, data: dict[str, Any]) -> DeviceRequest:
        self._event_id += 1
        request = device_event(at, self._seq_no, self._event_id, data)
        self._seq_no += 1
        return request


class StorageStation:
    def __init__(
        self,
        unit: StorageUnit,
        *,
        meter_interval_s: float = 60.0,
        temperature_delta_c: float = 1.0,
    ) -> None:
        self.unit = unit
        self.station_id = unit.spec.unit_id
        self.sampling = SampleClock(meter_interval_s, unit.now)
        self.temperature_delta_c = positive("temperature_delta_c", temperature_delta_c)
        self.import_wh = 0.0
        self.export_wh = 0.0
        self.profile = HeldProfile(parse_setpoint_profile)
        self._reported_temperature_c = unit.temperature_c
        self._events = DeviceEvents()

    @property
    def profiles_rejected(self) -> int:
        return self.profile.rejected

    def next_wakeup(self) -> datetime:
        """When the station next has something to say without being asked: its next sample
        (alarms and temperature changes between samples are found by ``step``)."""
        return self.sampling.next

    def connector_status(self) -> str:
        return "Faulted" if self.unit.alarm else "Available"

    def status_notification(self, now: datetime) -> DeviceRequest:
        return DeviceRequest(
            "StatusNotification",
            {
                "timestamp": _iso(now),
                "connectorStatus": self.connector_status(),
                "evseId": EVSE_ID,
                "connectorId": 1,
            },
        )

    def statuses(self, now: datetime) -> list[DeviceRequest]:
        return [self.status_notification(now)]

    def samples(self, now: datetime) -> list[DeviceRequest]:
        return [self.meter_values(now)]

    def evse_ids(self) -> tuple[int, ...]:
        return (EVSE_ID,)

    def step(self, now: datetime) -> list[DeviceRequest]:
        """Run the unit up to ``now``; the messages that became due, in time order."""
        aware("now", now)
        out: list[DeviceRequest] = []
        while self.unit.now < now:
            until = min(now, self.sampling.next)
            report = self.unit.advance((until - self.unit.now).total_seconds())
            self.import_wh += report.energy_in_wh
            self.export_wh += report.energy_out_wh
            for event in report.alarm_events:
                out.append(self._alarm_event(event))
                out.append(self.status_notification(event.at))
            if abs(report.temperature_c - self._reported_temperature_c) >= self.temperature_delta_c:
                out.append(self._temperature_event(report.end, report.temperature_c))
            if self.sampling.take(until) is not None:
                out.append(self.meter_values(until))
        return out

    def set_charging_profile(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> ProfileAnswer:
        """Bring the unit to ``now`` first (call :meth:`step`), then this."""
        profile = self.profile.receive(evse_id, raw, now)
        if isinstance(profile, ProfileAnswer):
            return profile
        clamps = self.unit.set_schedule(profile.schedule)
        if not clamps:
            return ProfileAnswer("Accepted")
        said = ", ".join(
            f"{c.requested_w:g} W at {c.start_s:g} s -> {c.applied_w:g} W" for c in clamps
        )
        return ProfileAnswer("Accepted", "ValueOutOfRange", f"beyond the rating: {said}")

    def clear_charging_profile(self, profile_id: int | None) -> str:
        if not self.profile.clear(profile_id):
            return "Unknown"
        self.unit.set_schedule(None)
        return "Accepted"

    def meter_values(self, at: datetime) -> DeviceRequest:
        """A MeterValues sample of the unit now (also what TriggerMessage asks for)."""
        unit = self.unit
        setpoint = unit.setpoint_w(at)
        values = [
            ("SoC", round(unit.soc_pct, 2), "Percent"),
            ("Power.Active.Import", round(max(0.0, unit.power_w), 1), "W"),
            ("Power.Active.Export", round(max(0.0, -unit.power_w), 1), "W"),
            ("Power.Active.Setpoint", round(0.0 if setpoint is None else setpoint, 1), "W"),
            ("Energy.Active.Import.Register", round(self.import_wh, 3), "Wh"),
            ("Energy.Active.Export.Register", round(self.export_wh, 3), "Wh"),
        ]
        return clock_sample(at, EVSE_ID, values)

    def _notify(self, at: datetime, data: dict[str, Any]) -> DeviceRequest:
        sensor = {
            "eventNotificationType": "HardWiredMonitor",
            "component": {"name": "TemperatureSensor", "evse": {"id": EVSE_ID}},
            "variable": {"name": "Temperature"},
        }
        return self._events.notify(at, sensor | data)

    def _alarm_event(self, event: AlarmEvent) -> DeviceRequest:
        self._reported_temperature_c = event.temperature_c
        return self._notify(
            event.at,
            {
                "trigger": "Alerting",
                "actualValue": f"{event.temperature_c:.1f}",
                "cleared": not event.active,
                "techInfo": "over-temperature: trips to 0 W"
                if event.active
                else "temperature back below the clear level",
            },
        )

    def _temperature_event(self, at: datetime, temperature_c: float) -> DeviceRequest:
        self._reported_temperature_c = temperature_c
        return self._notify(at, {"trigger": "Delta", "actualValue": f"{temperature_c:.1f}"})
