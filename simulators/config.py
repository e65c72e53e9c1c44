"""A station's identity and settings: :class:`StationSpec` and its OCPP configuration keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from chargegrid.measurands import Measurand as M
from simulators.connector import ConnectorSpec
from simulators.ev import EVSpec

__all__ = ["OCPP_VERSIONS", "READ_ONLY", "StationSpec", "check_config", "default_config"]

#: The OCPP versions a simulated station speaks.
OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")

#: Configuration keys a central system may read but not change.
READ_ONLY = frozenset(
    {
        "NumberOfConnectors",
        "ChargeProfileMaxStackLevel",
        "MeterValuesSampledData",
        "ChargingScheduleAllowedChargingRateUnit",
    }
)
_POSITIVE_SECONDS = frozenset({"HeartbeatInterval", "MeterValueSampleInterval"})


@dataclass(frozen=True, slots=True)
class StationSpec:
    station_id: str
    ocpp_version: str = "1.6"
    connectors: tuple[ConnectorSpec, ...] = (ConnectorSpec(),)
    vendor: str = "chargegrid"
    model: str = "SimStation"
    meter_interval_s: float = 60.0
    heartbeat_interval_s: float = 300.0
    default_ev: EVSpec = field(default_factory=lambda: EVSpec(ev_id="walk-up"))

    def __post_init__(self) -> None:
        if self.ocpp_version not in OCPP_VERSIONS:
            raise ValueError(
                f"ocpp_version must be one of {', '.join(OCPP_VERSIONS)}, got {self.ocpp_version!r}"
            )
        if not self.connectors:
            raise ValueError("a station needs at least one connector")
        if self.meter_interval_s <= 0:
            raise ValueError("meter_interval_s must be positive")


def default_config(spec: StationSpec) -> dict[str, str]:
    """The OCPP 1.6 configuration keys (2.0.1 variables map onto them)."""
    return {
        "HeartbeatInterval": str(int(spec.heartbeat_interval_s)),
        "MeterValueSampleInterval": str(int(spec.meter_interval_s)),
        "NumberOfConnectors": str(len(spec.connectors)),
        "ChargeProfileMaxStackLevel": "8",
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "MeterValuesSampledData": ",".join(
            (
                M.ENERGY_ACTIVE_IMPORT_REGISTER,
                M.POWER_ACTIVE_IMPORT,
                M.CURRENT_IMPORT,
                M.VOLTAGE,
                M.SOC,
            )
        ),
        "AuthorizeRemoteTxRequests": "false",
        "LocalAuthorizeOffline": "true",
    }


def check_config(config: dict[str, str], key: str, value: str) -> str:
    """Whether ``key`` may be set to ``value``: Accepted, Rejected or NotSupported."""
    if key not in config:
        return "NotSupported"
    if key in READ_ONLY:
        return "Rejected"
    if key in _POSITIVE_SECONDS:
        try:
            seconds = int(value)
        except ValueError:
            return "Rejected"
        if seconds <= 0:
            return "Rejected"
    if key in ("AuthorizeRemoteTxRequests", "LocalAuthorizeOffline") and value not in (
        "true",
        "false",
    ):
        return "Rejected"
    return "Accepted"
