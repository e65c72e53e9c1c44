"""What the version adapters do alike: messages with one shape in every version, meter
values to domain samples, the parts of command answers with one shape.

:class:`VersionAdapter` sits between :class:`~csms.ocpp.base.OcppConnection` (framing,
validation, calls) and the adapters of :mod:`csms.ocpp.v16` and :mod:`csms.ocpp.v201`, which
add what differs: the version's field names and the encoding of commands.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from csms.core.commands import CommandResult, CompositeSchedule
from csms.core.meter import normalize_sample
from csms.domain import ChargingLimit, ChargingRateUnit, MeterSample
from csms.exceptions import CommandError
from csms.ocpp.base import OcppConnection, on, parse_timestamp

__all__ = ["VersionAdapter", "drop_none", "recorded", "schedule_periods"]


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its ``None`` values, in nested dicts and lists too."""
    out: dict[str, Any] = _prune(data)
    return out


def _prune(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _prune(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_prune(v) for v in data]
    return data


def schedule_periods(
    periods: Iterable[dict[str, Any]],
) -> tuple[tuple[int, float, int | None], ...]:
    """A composite schedule's ``chargingSchedulePeriod`` (the same in every version) as
    ``(start_s, limit, number_phases)`` periods."""
    return tuple((int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases")) for p in periods)


def recorded(action: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The handler of a station's status report (firmware, log, diagnostics): kept as a
    station event named ``action`` with its ``status`` and the rest; answered empty. Bind it
    to ``on_<action in snake_case>``: the library finds a handler by that name."""

    async def handler(self: OcppConnection, status: str, **kw: Any) -> dict[str, Any]:
        await self.central.record_event(self.station_id, action, {"status": status, **kw})
        return {}

    handler.__name__ = handler.__qualname__ = "on" + re.sub("([A-Z])", r"_\1", action).lower()
    return on(action)(handler)


class VersionAdapter(OcppConnection):
    """The handlers and decoding every OCPP version shares."""

    #: The version whose commands the adapter encodes (a 2.1 station gets 2.0.1's).
    commands_version = "1.6"
    #: The field naming the EVSE in SetChargingProfile and GetCompositeSchedule (1.6: the
    #: connector) and the one carrying SetChargingProfile's profile.
    evse_field = "connectorId"
    profile_field = "csChargingProfiles"

    def unavailable(self, action: str) -> CommandError:
        """The error for a command the version does not have."""
        return CommandError(
            self.station_id, action, f"not available in OCPP {self.commands_version}"
        )

    async def get_composite_schedule(
        self, *, evse_id: int, duration_s: int, unit: ChargingRateUnit | None
    ) -> tuple[CommandResult, CompositeSchedule | None]:
        payload: dict[str, Any] = {self.evse_field: evse_id, "duration": duration_s}
        if unit is not None:
            payload["chargingRateUnit"] = unit.value
        result = await self._status_call("GetCompositeSchedule", payload)
        return result, self.composite_answer(result.payload, evse_id)

    def composite_answer(self, answer: dict[str, Any], evse_id: int) -> CompositeSchedule | None:
        """The schedule in the version's GetCompositeSchedule answer, if it has one."""
        raise NotImplementedError

    def sample_unit(self, sampled_value: dict[str, Any]) -> tuple[str | None, int]:
        """The unit and power-of-ten multiplier of one sampled value, as the version puts
        them (1.6: ``unit``; 2.0.1: ``unitOfMeasure``)."""
        raise NotImplementedError

    async def set_charging_profile(
        self, limit: ChargingLimit, *, station_tx_id: str | None
    ) -> CommandResult:
        self.plain_limit(limit)
        profile = self.encode_profile(limit, station_tx_id=station_tx_id)
        return await self._status_call(
            "SetChargingProfile", {self.evse_field: limit.evse_id, self.profile_field: profile}
        )

    def encode_profile(self, limit: ChargingLimit, *, station_tx_id: str | None) -> dict[str, Any]:
        """The version's ``ChargingProfile`` of ``limit`` for SetChargingProfile."""
        raise NotImplementedError

    async def clear_cache(self) -> CommandResult:
        return await self._status_call("ClearCache", {})

    def plain_limit(self, limit: ChargingLimit) -> None:
        """Refuse, before sending, a V2X operation mode the version cannot carry (2.1 alone
        overrides the profile encoding that takes one)."""
        if limit.v2x:
            raise CommandError(
                self.station_id,
                "SetChargingProfile",
                f"operation mode {limit.v2x[0].mode} needs OCPP 2.1 "
                f"(the station speaks {self.ocpp_version})",
            )

    def unreadable(self, sampled_value: dict[str, Any], at: datetime) -> None:
        """A sampled value that is not kept as a number: the core reports it."""
        self.central.unreadable_sample(
            self.station_id,
            measurand=sampled_value.get("measurand"),
            value=sampled_value["value"],
            at=at,
        )

    def samples(self, meter_value: Sequence[dict[str, Any]]) -> list[MeterSample]:
        out: list[MeterSample] = []
        for mv in meter_value:
            at = parse_timestamp(mv["timestamp"], self.ocpp_version)
            for sv in mv["sampled_value"]:
                unit, multiplier = self.sample_unit(sv)
                sample = normalize_sample(
                    timestamp=at,
                    value=sv["value"],
                    measurand=sv.get("measurand"),
                    unit=unit,
                    multiplier=multiplier,
                    phase=sv.get("phase"),
                    location=sv.get("location"),
                    context=sv.get("context"),
                )
                if sample is None:
                    self.unreadable(sv, at)
                    continue
                out.append(sample)
        return out

    # -- from the station: one shape in 1.6 (with its security extension) and 2.0.1 -------
    @on("SecurityEventNotification")
    async def on_security_event_notification(
        self, type: str, timestamp: str, tech_info: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        await self.central.security_event(
            self.station_id, type, tech_info, parse_timestamp(timestamp, self.ocpp_version)
        )
        return {}

    @on("SignCertificate")
    async def on_sign_certificate(
        self, csr: str, certificate_type: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        status = await self.central.sign_certificate(
            self.station_id, csr, certificate_type, self.ocpp_version
        )
        return {"status": status}

    on_firmware_status_notification = recorded("FirmwareStatusNotification")
    on_log_status_notification = recorded("LogStatusNotification")

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> dict[str, Any]:
        await self.central.record_event(
            self.station_id, "DataTransfer", {"vendor_id": vendor_id, **kw}
        )
        return {"status": "UnknownVendorId"}
