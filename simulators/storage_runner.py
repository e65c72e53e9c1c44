"""A simulated storage unit on the wire: the OCPP 2.1 station of a :class:`StorageStation`.

:class:`StorageRunner` is the stations' runner (connect with ``ocpp2.1``, Basic auth or TLS,
boot, heartbeats, the offline queue, reconnects with backoff) with the storage model in place
of a charging station's: it steps the :class:`~simulators.storage_station.StorageStation` and
sends what it says (MeterValues, NotifyEvent, StatusNotification) in order, kept while
offline. The charging-station model the runner also holds is a one-connector shell for the
configuration it keeps (the heartbeat interval); it is never stepped.

:class:`StorageChargePoint` answers the central system: ``SetChargingProfile`` (a
``CentralSetpoint`` / ``Idle`` TxDefaultProfile, decision 0310), ``ClearChargingProfile``,
``TriggerMessage`` (MeterValues, StatusNotification, Heartbeat, BootNotification),
``GetVariables`` (the heartbeat interval), ``Reset``; it refuses to start or stop
transactions, which a storage unit does not run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import after, on
from ocpp.v21 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from chargegrid.clock import Clock
from simulators.config import StationSpec
from simulators.messages import DeviceRequest, Outgoing, StatusChanged
from simulators.ocpp21 import V21Adapter
from simulators.runner import OutItem, StationRunner
from simulators.station import Station
from simulators.storage_station import EVSE_ID, StorageStation

__all__ = ["StorageAdapter", "StorageChargePoint", "StorageRunner"]

_HEARTBEAT = ("OCPPCommCtrlr", "HeartbeatInterval")
_MODEL = "SimStorage"


class StorageAdapter(V21Adapter):
    """OCPP 2.1 for a storage unit: the 2.1 station's boot and heartbeats, its own requests
    sent as it composed them, its own handlers."""

    def __init__(self, storage: StorageStation) -> None:
        super().__init__()
        self.storage = storage

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> StorageChargePoint:
        if not isinstance(runner, StorageRunner):
            raise TypeError("a storage unit runs under a StorageRunner")
        return StorageChargePoint(runner, ws)

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
        if isinstance(m, StatusChanged):  # the shell's, after a boot: the unit's own instead
            m = self.storage.status_notification(m.at)
        if isinstance(m, DeviceRequest):
            return getattr(call, m.action)(**camel_to_snake_case(m.payload))
        return None


class StorageRunner(StationRunner):
    """Runs one storage unit against a central system at ``{url}/{station_id}``."""

    def __init__(
        self,
        storage: StorageStation,
        *,
        url: str,
        clock: Clock,
        heartbeat_interval_s: float = 300.0,
        **options: Any,
    ) -> None:
        spec = StationSpec(
            station_id=storage.station_id,
            ocpp_version="2.1",
            model=_MODEL,
            heartbeat_interval_s=heartbeat_interval_s,
        )
        shell = Station(spec, now=clock.now())
        super().__init__(shell, StorageAdapter(storage), url=url, clock=clock, **options)
        self.storage = storage

    def step_model(self, now: datetime) -> list[Outgoing]:
        return list(self.storage.step(now))

    def model_wakeup(self) -> datetime:
        return self.storage.next_wakeup()

    def model_statuses(self, now: datetime) -> list[Outgoing]:
        return [self.storage.status_notification(now)]


class StorageChargePoint(ChargePoint):
    """The storage unit's side of an OCPP 2.1 connection."""

    def __init__(self, runner: StorageRunner, ws: ClientConnection) -> None:
        super().__init__(runner.station_id, ws, response_timeout=runner.response_timeout_s)
        self.runner = runner
        self.storage = runner.storage

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        await self.runner.answer_delay()
        now = self.runner.sync()
        answer = self.storage.set_charging_profile(evse_id, charging_profile, now)
        if answer.status != "Accepted":
            self.runner.profile_rejected(f"{answer.reason_code}: {answer.detail}")
        self.runner.poke()
        return call_result.SetChargingProfile(**camel_to_snake_case(answer.payload()))

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self, charging_profile_id: int | None = None, **_: Any
    ) -> call_result.ClearChargingProfile:
        await self.runner.answer_delay()
        self.runner.sync()
        status = self.storage.clear_charging_profile(charging_profile_id)
        self.runner.poke()
        return call_result.ClearChargingProfile(status=status)

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        if evse is not None and int(evse["id"]) not in (0, EVSE_ID):
            return call_result.TriggerMessage(status="Rejected")
        now = self.runner.sync()
        if requested_message == "MeterValues":
            self.runner.submit([self.storage.meter_values(now)])
        elif requested_message == "StatusNotification":
            self.runner.submit([self.storage.status_notification(now)])
        elif requested_message in ("Heartbeat", "BootNotification"):
            self.runner.send_later(requested_message)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        await self.runner.answer_delay()
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            result: dict[str, Any] = {"component": component, "variable": variable}
            if (component["name"], variable["name"]) == _HEARTBEAT:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = self.runner.station.config["HeartbeatInterval"]
            else:
                result["attribute_status"] = "UnknownComponent"
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        await self.runner.answer_delay()
        return call_result.Reset(status="Rejected" if evse_id is not None else "Accepted")

    @after("Reset")
    def after_reset(self, evse_id: int | None = None, **_: Any) -> None:
        if evse_id is None:
            self.runner.reboot()

    @on("RequestStartTransaction")
    async def on_request_start(
        self, remote_start_id: int, **_: Any
    ) -> call_result.RequestStartTransaction:
        await self.runner.answer_delay()
        return call_result.RequestStartTransaction(status="Rejected")

    @on("RequestStopTransaction")
    async def on_request_stop(
        self, transaction_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        await self.runner.answer_delay()
        return call_result.RequestStopTransaction(status="Rejected")
