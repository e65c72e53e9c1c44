"""The live state of a site's OCPP storage units, kept from domain events (sans-I/O).

A unit registered in the site file with a ``station`` (and ``evse``) reports by MeterValues
on that EVSE: ``SoC`` (%), ``Power.Active.Import`` (charging) and ``Power.Active.Export``
(discharging), ``Temperature``; its alarms arrive as the EVSE's status (``Faulted`` while an
alarm is raised) and as NotifyEvent alerts on its EVSE (``Alerting``, raised until an event
says ``cleared``), its temperature as the ``Temperature`` variable's events. Each value
is kept with the timestamp it was measured at; whether it is fresh enough to count on is the
control law's call (``stale_after_s``). A state of charge outside 0..100 % is refused: not
kept, logged and counted (decision 0609).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

from chargegrid.measurands import Measurand
from csms.domain import ConnectorStatus, DeviceEvent, StorageReading
from csms.events import DeviceEventsNotified, DomainEvent, MeterValuesReceived, StatusChanged
from csms.sites.model import Site, StorageAsset
from csms.storage_units.der import DER_EVENTS, DerInForce
from csms.storage_units.meter import soc_refusal
from storage_ctrl import UnitRating, UnitReading

__all__ = ["LiveUnit", "LiveUnits"]

logger = logging.getLogger(__name__)

_IMPORT = Measurand.POWER_ACTIVE_IMPORT
_EXPORT = Measurand.POWER_ACTIVE_EXPORT


@dataclass(slots=True)
class LiveUnit:
    """One unit: its entry in the site file and what it last reported."""

    asset: StorageAsset
    soc_pct: float | None = None
    power_w: float | None = None
    """Net power into the unit (charging positive, discharging negative)."""
    measured_at: datetime | None = None
    """When the power was measured (a reading counts from the older of SoC and power)."""
    soc_at: datetime | None = None
    temperature_c: float | None = None
    status_alarm: bool = False
    """The EVSE's status is Faulted or Unavailable."""
    event_alarm: bool = False
    """A NotifyEvent alert on the unit's EVSE that has not been cleared."""
    refused_soc: int = 0
    sent_w: float | None = None
    """The setpoint of the schedule the unit last accepted (None: Idle or none)."""

    @property
    def alarm(self) -> bool:
        return self.status_alarm or self.event_alarm

    def rating(self, *, discharge_share: float = 1.0) -> UnitRating:
        """The site file's rating, its discharge narrowed to ``discharge_share`` (what the DER
        controls acting on the unit leave of it)."""
        a = self.asset
        return UnitRating(
            a.id,
            capacity_wh=a.capacity_wh,
            max_charge_w=a.max_charge_w,
            max_discharge_w=a.max_discharge_w * discharge_share,
            min_soc_wh=a.min_soc_wh,
            max_soc_wh=a.max_soc_wh,
            charge_efficiency=a.charge_efficiency,
            discharge_efficiency=a.discharge_efficiency,
            ramp_w_per_s=a.ramp_w_per_s,
        )

    def reading(self) -> UnitReading | None:
        """What the control law reads; None until both SoC and power were reported."""
        if self.soc_pct is None or self.power_w is None:
            return None
        assert self.measured_at is not None and self.soc_at is not None
        return UnitReading.from_percent(
            self.asset.id,
            soc_pct=self.soc_pct,
            capacity_wh=self.asset.capacity_wh,
            power_w=self.power_w,
            measured_at=min(self.measured_at, self.soc_at),
            alarm=self.alarm,
        )

    def storage_reading(self) -> StorageReading | None:
        """The same as the planner's and telemetry's storage reading."""
        if self.power_w is None or self.measured_at is None:
            return None
        return StorageReading(self.asset.id, self.measured_at, self.soc_pct, self.power_w)


def _log_alarm(unit: LiveUnit, raised: bool, what: str) -> None:
    logger.warning(
        "storage unit %s: %s (%s)",
        unit.asset.id,
        "alarm raised" if raised else "alarm cleared",
        what,
    )


class LiveUnits:
    """Every OCPP storage unit of one site, by unit id and by (station, EVSE)."""

    def __init__(self, site: Site) -> None:
        self.units: dict[str, LiveUnit] = {}
        self._by_evse: dict[tuple[str, int], LiveUnit] = {}
        self.refused_soc = 0
        #: Alarms raised (a unit's status or an alert going from clear to raised).
        self.alarms_raised = 0
        #: Whether a storage controller is dispatching the units (the planner schedules
        #: them only then: nobody else would make them follow the plan).
        self.dispatching = False
        #: The DER controls in force on the units' stations (decision 0918).
        self.der = DerInForce()
        self.reset_site(site)

    def reset_site(self, site: Site) -> None:
        """Take a new revision of the site, keeping what units that stay reported."""
        old = self.units
        self.units, self._by_evse = {}, {}
        for asset in site.storage:
            if asset.station is None:
                continue
            unit = old.get(asset.id)
            if unit is None or (unit.asset.station, unit.asset.evse) != (asset.station, asset.evse):
                unit = LiveUnit(asset)
            unit.asset = asset
            self.units[asset.id] = unit
            self._by_evse[(asset.station, asset.evse)] = unit

    def unit_at(self, station_id: str, evse_id: int) -> LiveUnit | None:
        return self._by_evse.get((station_id, evse_id))

    def is_unit_station(self, station_id: str) -> bool:
        return any(station == station_id for station, _ in self._by_evse)

    def apply(self, event: DomainEvent) -> bool:
        """Update from ``event``; whether it was one of a unit's (consumed here)."""
        if isinstance(event, DER_EVENTS):
            return self.is_unit_station(event.station_id) and self.der.apply(event)
        if isinstance(event, MeterValuesReceived):
            unit = self.unit_at(event.station_id, event.evse_id)
            if unit is None:
                return False
            self._meter(unit, event)
            return True
        if isinstance(event, StatusChanged):
            report = event.report
            unit = self.unit_at(report.station_id, report.evse_id)
            if unit is None:
                return False
            alarm = report.status in (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)
            if alarm != unit.status_alarm:
                _log_alarm(unit, alarm, report.status.value)
                self.alarms_raised += 1 if alarm else 0
            unit.status_alarm = alarm
            return True
        if isinstance(event, DeviceEventsNotified):
            found = False
            for device_event in event.events:
                unit = self.unit_at(event.station_id, device_event.evse_id or 0)
                if unit is not None:
                    self.alarms_raised += self._device_event(unit, device_event)
                    found = True
            return found
        return False

    @staticmethod
    def _device_event(unit: LiveUnit, event: DeviceEvent) -> bool:
        """A monitored variable of the unit: its temperature, and an alert raised or cleared
        (whether it raised one)."""
        if event.variable == "Temperature":
            try:
                value = float(event.actual_value)
            except ValueError:
                value = math.nan
            if math.isfinite(value) and -100.0 <= value <= 300.0:
                unit.temperature_c = value
        if event.trigger == "Alerting":
            alarm = not event.cleared
            raised = alarm and not unit.event_alarm
            if alarm != unit.event_alarm:
                _log_alarm(unit, alarm, f"{event.component}.{event.variable} {event.actual_value}")
            unit.event_alarm = alarm
            return raised
        return False

    def _meter(self, unit: LiveUnit, event: MeterValuesReceived) -> None:
        charge: float | None = None
        discharge: float | None = None
        at: datetime | None = None
        for sample in event.samples:
            if sample.phase is not None:
                continue
            if sample.measurand == _IMPORT:
                charge, at = sample.value, sample.timestamp
            elif sample.measurand == _EXPORT:
                discharge, at = sample.value, sample.timestamp
            elif sample.measurand == Measurand.SOC:
                self._soc(unit, sample.value, sample.timestamp)
            elif sample.measurand == Measurand.TEMPERATURE and sample.unit in ("Celsius", "C"):
                unit.temperature_c = sample.value
        if at is None:
            return
        if unit.measured_at is not None and at < unit.measured_at:
            return  # older than what is known: a late retry
        unit.power_w = (charge or 0.0) - (discharge or 0.0)
        unit.measured_at = at

    def _soc(self, unit: LiveUnit, value: float, at: datetime) -> None:
        why = soc_refusal(value)
        if why is not None:
            unit.refused_soc += 1
            self.refused_soc += 1
            logger.warning(
                "storage unit %s: state of charge %g %% refused (%s; %d so far)",
                unit.asset.id,
                value,
                why,
                unit.refused_soc,
            )
            return
        if unit.soc_at is None or at >= unit.soc_at:
            unit.soc_pct, unit.soc_at = value, at

    def ratings(self, now: datetime) -> dict[str, UnitRating]:
        """Each unit's rating at ``now``, narrowed by the DER controls acting on it."""
        return {
            unit_id: unit.rating(discharge_share=self.discharge_share(unit, now))
            for unit_id, unit in self.units.items()
        }

    def discharge_share(self, unit: LiveUnit, now: datetime) -> float:
        """What the DER controls acting on the unit's station at ``now`` leave of its rated
        discharge (1.0: all of it)."""
        assert unit.asset.station is not None  # only units that speak OCPP are kept
        return self.der.discharge_share(unit.asset.station, now)

    def readings(self) -> dict[str, UnitReading]:
        out: dict[str, UnitReading] = {}
        for unit_id, unit in self.units.items():
            reading = unit.reading()
            if reading is not None:
                out[unit_id] = reading
        return out
