"""Commands to stations, version-neutral.

Each connected station is reachable through a :class:`StationLink` (``links.py``) that its
OCPP adapter implements; :class:`Commands` finds the link, sends, checks the answer and
turns failures into :mod:`csms.exceptions` (``StationOffline`` at once when the station is
not connected, ``CommandTimeout``, ``CommandFailed`` for a CALLERROR, ``CommandRejected``
for a refusal).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from csms.core.links import ProfileClearRequest, RemoteStartRequest, StationLink, V21Link
from csms.core.results import CommandResult, CompositeSchedule, VariableResult
from csms.core.service import CentralSystem
from csms.core.v2x import V2XLink, limit_problems, transfer_mode_problems
from csms.der.model import DerControl, DerControlType, check_setting
from csms.domain import ChargingLimit, ChargingRateUnit, Transaction
from csms.events import ChargingLimitSent
from csms.exceptions import CommandError, CommandRejected, CommandTimeout, StationOffline

__all__ = [
    "CommandResult",
    "Commands",
    "CompositeSchedule",
    "StationLink",
    "V2XLink",
    "V21Link",
    "VariableResult",
]

logger = logging.getLogger(__name__)


_OK = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired"})


def _reason(result: CommandResult) -> str | None:
    """The station's ``statusInfo`` (2.0.1 / 2.1) as ``reasonCode: additionalInfo``."""
    info = result.payload.get("statusInfo")
    if not isinstance(info, dict) or not info.get("reasonCode"):
        return None
    extra = info.get("additionalInfo")
    return f"{info['reasonCode']}: {extra}" if extra else str(info["reasonCode"])


def _request_id() -> int:
    """A random positive 32-bit id for a request the station answers by it."""
    return secrets.randbelow(2**31 - 1) + 1


def _check(link: StationLink, action: str, result: CommandResult) -> CommandResult:
    if result.status not in _OK:
        raise CommandRejected(link.station_id, action, result.status, _reason(result))
    return result


class Commands:
    """The Python API for commands to stations.

    What a command names by the central system's ids (a transaction, an id token) is looked
    up here, before the adapter encodes it: adapters read no store."""

    def __init__(
        self,
        links: Callable[[str], StationLink | None],
        central: CentralSystem,
        *,
        remote_start_timeout_s: float = 60.0,
        told_wait_s: float = 30.0,
    ) -> None:
        self._links = links
        self._central = central
        self.remote_start_timeout_s = remote_start_timeout_s
        #: How long a TxProfile waits for its StartTransaction answer to be written (0014).
        self.told_wait_s = told_wait_s

    def link(self, station_id: str, action: str) -> StationLink:
        link = self._links(station_id)
        if link is None:
            raise StationOffline(station_id, action)
        return link

    def is_online(self, station_id: str) -> bool:
        return self._links(station_id) is not None

    async def _send(
        self,
        station_id: str,
        action: str,
        call: Callable[[StationLink], Awaitable[CommandResult]],
    ) -> CommandResult:
        """``call`` on the station's link, its answer checked (a refusal raised)."""
        link = self.link(station_id, action)
        return _check(link, action, await call(link))

    async def _transaction(self, station_id: str, action: str, transaction_id: int) -> Transaction:
        """The (CSMS) transaction ``transaction_id`` of ``station_id``, else a CommandError."""
        tx = await self._central.store.get_transaction(transaction_id)
        if tx is None or tx.station_id != station_id:
            raise CommandError(station_id, action, f"no transaction {transaction_id}")
        return tx

    async def remote_start(
        self,
        station_id: str,
        *,
        id_token: str,
        evse_id: int | None = None,
        limit: ChargingLimit | None = None,
        timeout_s: float | None = None,
    ) -> Transaction:
        """Ask the station to start charging; returns the transaction once it has started."""
        link = self.link(station_id, "RemoteStart")
        waiter: asyncio.Future[Transaction] = asyncio.get_running_loop().create_future()
        remote_start_id = _request_id()
        entry = self._central.remote_starts.expect(
            station_id,
            remote_start_id=remote_start_id,
            evse_id=evse_id,
            id_token=id_token,
            waiter=waiter,
        )
        wait_s = timeout_s if timeout_s is not None else self.remote_start_timeout_s
        try:
            _check(
                link,
                "RemoteStart",
                await link.remote_start(
                    RemoteStartRequest(
                        id_token=id_token,
                        id_token_type=await self._token_type(link, id_token),
                        remote_start_id=remote_start_id,
                        evse_id=evse_id,
                        limit=limit,
                        station_tx_id=await self._station_tx_id(link, limit, "TxProfile"),
                    )
                ),
            )
            try:
                async with asyncio.timeout(wait_s):
                    return await waiter
            except TimeoutError:
                raise CommandTimeout(station_id, "RemoteStart", wait_s) from None
        finally:
            self._central.remote_starts.discard(entry)

    async def _token_type(self, link: StationLink, id_token: str) -> str | None:
        """The type of a known id token, for a version whose tokens carry one; None for
        an unknown token (the adapter sends its version's default) or a version without."""
        if not link.names_token_types:
            return None
        known = await self._central.store.get_id_token(id_token)
        return known.kind if known is not None else None

    async def _station_tx_id(
        self, link: StationLink, limit: ChargingLimit | None, purpose: str
    ) -> str | None:
        """The station's name of the transaction a TxProfile is for, for a version whose
        stations name their transactions (the central system's id when the store does not
        know it); None for any other profile."""
        if (
            not link.station_names_transactions
            or limit is None
            or limit.transaction_id is None
            or purpose != "TxProfile"
        ):
            return None
        tx = await self._central.store.get_transaction(limit.transaction_id)
        return tx.station_tx_id if tx is not None else str(limit.transaction_id)

    async def remote_stop(self, station_id: str, *, transaction_id: int) -> CommandResult:
        """Ask the station to stop the (CSMS) transaction ``transaction_id``."""
        link = self.link(station_id, "RemoteStop")
        tx = await self._transaction(station_id, "RemoteStop", transaction_id)
        return _check(link, "RemoteStop", await link.remote_stop(station_tx_id=tx.station_tx_id))

    async def reset(
        self, station_id: str, *, hard: bool = False, evse_id: int | None = None
    ) -> CommandResult:
        return await self._send(
            station_id, "Reset", lambda link: link.reset(hard=hard, evse_id=evse_id)
        )

    async def change_availability(
        self,
        station_id: str,
        *,
        evse_id: int = 0,
        connector_id: int | None = None,
        operative: bool = True,
    ) -> CommandResult:
        return await self._send(
            station_id,
            "ChangeAvailability",
            lambda link: link.change_availability(
                evse_id=evse_id, connector_id=connector_id, operative=operative
            ),
        )

    async def unlock_connector(
        self, station_id: str, *, evse_id: int, connector_id: int = 1
    ) -> CommandResult:
        return await self._send(
            station_id,
            "UnlockConnector",
            lambda link: link.unlock_connector(evse_id=evse_id, connector_id=connector_id),
        )

    async def trigger_message(
        self,
        station_id: str,
        *,
        message: str,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> CommandResult:
        return await self._send(
            station_id,
            "TriggerMessage",
            lambda link: link.trigger_message(
                message=message, evse_id=evse_id, connector_id=connector_id
            ),
        )

    async def clear_cache(self, station_id: str) -> CommandResult:
        return await self._send(station_id, "ClearCache", lambda link: link.clear_cache())

    async def set_charging_profile(self, limit: ChargingLimit) -> CommandResult:
        """Send ``limit``; a V2X schedule (setpoints, discharge) only to a 2.1 station, and
        never a negative limit to any other (:func:`csms.core.v2x.limit_problems`)."""
        link = self.link(limit.station_id, "SetChargingProfile")
        problems = limit_problems(limit, bidirectional=isinstance(link, V2XLink))
        if problems:
            raise CommandError(limit.station_id, "SetChargingProfile", "; ".join(problems))
        station_tx_id = await self._station_tx_id(link, limit, limit.purpose)
        if limit.purpose == "TxProfile" and limit.transaction_id is not None:
            await self._told(limit.station_id, limit.transaction_id)
        result = await link.set_charging_profile(limit, station_tx_id=station_tx_id)
        accepted = result.status == "Accepted"
        self._central.bus.publish(ChargingLimitSent(limit, accepted, self._central.clock.now()))
        return _check(link, "SetChargingProfile", result)

    async def _told(self, station_id: str, tx_id: int) -> None:
        """Wait (at most ``told_wait_s``) until the station has been told ``tx_id``: a 1.6
        station refuses a TxProfile for an id its StartTransaction answer has not told it
        yet (decision 0014)."""
        if not await self._central.untold.told(tx_id, timeout_s=self.told_wait_s):
            logger.warning("station %s: TxProfile sent, transaction %d untold", station_id, tx_id)

    async def clear_charging_profile(
        self,
        station_id: str,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> CommandResult:
        return await self._send(
            station_id,
            "ClearChargingProfile",
            lambda link: link.clear_charging_profile(
                ProfileClearRequest(profile_id, evse_id, purpose, stack_level)
            ),
        )

    async def get_composite_schedule(
        self,
        station_id: str,
        *,
        evse_id: int,
        duration_s: int,
        unit: ChargingRateUnit | None = None,
    ) -> CompositeSchedule | None:
        link = self.link(station_id, "GetCompositeSchedule")
        result, schedule = await link.get_composite_schedule(
            evse_id=evse_id, duration_s=duration_s, unit=unit
        )
        _check(link, "GetCompositeSchedule", result)
        return schedule

    async def get_configuration(
        self, station_id: str, keys: Sequence[str] = ()
    ) -> list[VariableResult]:
        """OCPP 1.6 GetConfiguration (all keys when ``keys`` is empty)."""
        return await self.link(station_id, "GetConfiguration").get_configuration(keys)

    async def change_configuration(self, station_id: str, key: str, value: str) -> CommandResult:
        """OCPP 1.6 ChangeConfiguration."""
        return await self._send(
            station_id, "ChangeConfiguration", lambda link: link.change_configuration(key, value)
        )

    async def get_variables(
        self, station_id: str, items: Sequence[tuple[str, str]]
    ) -> list[VariableResult]:
        """OCPP 2.0.1 GetVariables of ``(component, variable)`` pairs."""
        return await self.link(station_id, "GetVariables").get_variables(items)

    async def set_variables(
        self, station_id: str, items: Sequence[tuple[str, str, str]]
    ) -> list[VariableResult]:
        """OCPP 2.0.1 SetVariables of ``(component, variable, value)``."""
        return await self.link(station_id, "SetVariables").set_variables(items)

    async def get_base_report(
        self, station_id: str, *, report_base: str = "FullInventory", request_id: int = 1
    ) -> CommandResult:
        """OCPP 2.0.1 GetBaseReport; the report arrives as NotifyReport station events."""
        return await self._send(
            station_id,
            "GetBaseReport",
            lambda link: link.get_base_report(request_id=request_id, report_base=report_base),
        )

    async def send_raw(
        self, station_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Send any action with a camelCase payload (validated against the schema);
        returns the answer's payload."""
        return await self.link(station_id, action).send_raw(action, payload)

    # -- OCPP 2.1: DER control and battery swaps ---------------------------------------------
    def _v21(self, station_id: str, action: str) -> tuple[StationLink, V21Link]:
        link = self.link(station_id, action)
        if not isinstance(link, V21Link):
            raise CommandError(station_id, action, f"not available in OCPP {link.ocpp_version}")
        return link, link

    async def set_der_control(self, station_id: str, control: DerControl) -> CommandResult:
        """SetDERControl; once the station accepts, the control is recorded in force (and
        the ones it superseded not). ``ValueError`` for a setting unfit to send; a refusal
        is :class:`CommandRejected` and records nothing."""
        check_setting(control)
        link, v21 = self._v21(station_id, "SetDERControl")
        result = _check(link, "SetDERControl", await v21.set_der_control(control))
        superseded = tuple(str(i) for i in result.payload.get("supersededIds") or ())
        await self._central.der.control_set(station_id, control, superseded)
        return result

    async def get_der_control(
        self,
        station_id: str,
        *,
        request_id: int | None = None,
        is_default: bool | None = None,
        control_type: DerControlType | None = None,
        control_id: str | None = None,
    ) -> CommandResult:
        """GetDERControl; the controls arrive as ReportDERControl messages."""
        link, v21 = self._v21(station_id, "GetDERControl")
        rid = request_id if request_id is not None else _request_id()
        answer = await v21.get_der_control(
            request_id=rid, is_default=is_default, control_type=control_type, control_id=control_id
        )
        return _check(link, "GetDERControl", answer)

    async def clear_der_control(
        self,
        station_id: str,
        *,
        is_default: bool,
        control_type: DerControlType | None = None,
        control_id: str | None = None,
    ) -> CommandResult:
        """ClearDERControl; once accepted, the matching controls are no longer in force."""
        link, v21 = self._v21(station_id, "ClearDERControl")
        answer = await v21.clear_der_control(
            is_default=is_default, control_type=control_type, control_id=control_id
        )
        result = _check(link, "ClearDERControl", answer)
        await self._central.der.controls_cleared(
            station_id, is_default=is_default, control_type=control_type, control_id=control_id
        )
        return result

    async def request_battery_swap(
        self, station_id: str, *, id_token: str, request_id: int | None = None
    ) -> tuple[CommandResult, int]:
        """RequestBatterySwap for ``id_token``; once accepted, a swap session waits for the
        station's BatterySwap events under the returned request id."""
        link, v21 = self._v21(station_id, "RequestBatterySwap")
        rid = request_id if request_id is not None else _request_id()
        answer = await v21.request_battery_swap(
            id_token=id_token,
            id_token_type=await self._token_type(link, id_token),
            request_id=rid,
        )
        result = _check(link, "RequestBatterySwap", answer)
        await self._central.swaps.requested(station_id, rid, id_token)
        return result, rid

    async def notify_allowed_energy_transfer(
        self, station_id: str, *, transaction_id: int, modes: Sequence[str]
    ) -> CommandResult:
        """OCPP 2.1 NotifyAllowedEnergyTransfer: the transfer modes the CSMS allows the
        (CSMS) transaction ``transaction_id``; the answer is recorded as a station event."""
        action = "NotifyAllowedEnergyTransfer"
        link = self.link(station_id, action)
        if not isinstance(link, V2XLink):
            raise CommandError(station_id, action, f"not available in OCPP {link.ocpp_version}")
        problems = transfer_mode_problems(tuple(modes))
        if problems:
            raise CommandError(station_id, action, "; ".join(problems))
        tx = await self._transaction(station_id, action, transaction_id)
        result = await link.notify_allowed_energy_transfer(
            station_tx_id=tx.station_tx_id, modes=tuple(modes)
        )
        await self._central.record_event(
            station_id,
            action,
            {"transaction_id": tx.id, "allowed": list(modes), "status": result.status},
        )
        return _check(link, action, result)
