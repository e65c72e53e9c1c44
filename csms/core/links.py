"""What an OCPP adapter offers :class:`~csms.core.commands.Commands` for one connected
station: :class:`StationLink` (every version) and :class:`V21Link` (what 2.1 adds; V2X's
link is :class:`csms.core.v2x.V2XLink`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from csms.core.results import CommandResult, CompositeSchedule, VariableResult
from csms.der.model import DerControl, DerControlType
from csms.domain import ChargingLimit, ChargingRateUnit

__all__ = ["ProfileClearRequest", "RemoteStartRequest", "StationLink", "V21Link"]


@dataclass(frozen=True, slots=True)
class RemoteStartRequest:
    """A remote start as :class:`~csms.core.commands.Commands` resolved it for the link: the
    driver's token and its type (None: unknown, or a version whose tokens have none), the
    request's id, the EVSE (None: the station picks), the TxProfile to start under and the
    station's name of the transaction it is for (versions whose stations name theirs)."""

    id_token: str
    id_token_type: str | None
    remote_start_id: int
    evse_id: int | None = None
    limit: ChargingLimit | None = None
    station_tx_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileClearRequest:
    """Which charging profiles to clear: the one with ``profile_id``, or those matching the
    EVSE, purpose and stack level given (None asks nothing of that field)."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


class StationLink(Protocol):
    """What an adapter offers for one connected station. Methods raise
    :class:`~csms.exceptions.CommandError` subclasses; they return the station's status."""

    station_id: str
    ocpp_version: str
    #: The station names its transactions (2.0.1): a TxProfile carries the station's id,
    #: which :class:`Commands` looks up; else (1.6) the central system's id is the name.
    station_names_transactions: bool
    #: An id token sent to the station carries its type (2.0.1), which :class:`Commands`
    #: looks up.
    names_token_types: bool

    async def remote_start(self, request: RemoteStartRequest) -> CommandResult: ...

    async def remote_stop(self, *, station_tx_id: str) -> CommandResult: ...

    async def reset(self, *, hard: bool, evse_id: int | None) -> CommandResult: ...

    async def change_availability(
        self, *, evse_id: int, connector_id: int | None, operative: bool
    ) -> CommandResult: ...

    async def unlock_connector(self, *, evse_id: int, connector_id: int) -> CommandResult: ...

    async def trigger_message(
        self, *, message: str, evse_id: int | None, connector_id: int | None
    ) -> CommandResult: ...

    async def clear_cache(self) -> CommandResult: ...

    async def set_charging_profile(
        self, limit: ChargingLimit, *, station_tx_id: str | None
    ) -> CommandResult: ...

    async def clear_charging_profile(self, request: ProfileClearRequest) -> CommandResult: ...

    async def get_composite_schedule(
        self, *, evse_id: int, duration_s: int, unit: ChargingRateUnit | None
    ) -> tuple[CommandResult, CompositeSchedule | None]: ...

    async def get_configuration(self, keys: Sequence[str]) -> list[VariableResult]: ...

    async def change_configuration(self, key: str, value: str) -> CommandResult: ...

    async def get_variables(self, items: Sequence[tuple[str, str]]) -> list[VariableResult]: ...

    async def set_variables(
        self, items: Sequence[tuple[str, str, str]]
    ) -> list[VariableResult]: ...

    async def get_base_report(self, *, request_id: int, report_base: str) -> CommandResult: ...

    async def send_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class V21Link(Protocol):
    """What an OCPP 2.1 adapter adds to :class:`StationLink`: DER control and battery
    swaps. A link without it answers these commands with a CommandError."""

    async def set_der_control(self, control: DerControl) -> CommandResult: ...

    async def get_der_control(
        self,
        *,
        request_id: int,
        is_default: bool | None,
        control_type: DerControlType | None,
        control_id: str | None,
    ) -> CommandResult: ...

    async def clear_der_control(
        self, *, is_default: bool, control_type: DerControlType | None, control_id: str | None
    ) -> CommandResult: ...

    async def request_battery_swap(
        self, *, id_token: str, id_token_type: str | None, request_id: int
    ) -> CommandResult: ...
