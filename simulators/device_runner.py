"""A site device that speaks OCPP 2.1 without running charging sessions (a storage unit, a
battery-swap station) under the stations' runner.

:class:`DeviceRunner` is the stations' runner (connect with ``ocpp2.1``, Basic auth or TLS,
boot, heartbeats, the offline queue, reconnects with backoff) with a :class:`DeviceModel` in
place of a charging station's model: it steps the device and sends what it says
(:class:`~simulators.messages.DeviceRequest`, composed in 2.1 terms) in order, kept while
offline. The charging-station model the runner also holds is a one-connector shell for the
configuration it keeps (the heartbeat interval); it is never stepped (decision 0311).

:class:`DeviceChargePoint` answers what every such device answers alike:
``SetChargingProfile`` and ``ClearChargingProfile`` (the device decides), ``TriggerMessage``
(MeterValues, StatusNotification, Heartbeat, BootNotification), ``GetVariables`` (the
heartbeat interval), ``Reset``; it refuses to start or stop transactions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import after, on
from ocpp.v21 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from chargegrid.clock import Clock
from simulators.config import StationSpec
from simulators.messages import DeviceRequest, Outgoing, StatusChanged
from simulators.ocpp21 import V21Adapter, library_keys
from simulators.ocpp201 import variable_results
from simulators.runner import OutItem, StationRunner
from simulators.station import Station
from simulators.storage_station import ProfileAnswer

__all__ = ["DeviceAdapter", "DeviceChargePoint", "DeviceModel", "DeviceRunner"]

_HEARTBEAT = ("OCPPCommCtrlr", "HeartbeatInterval")


class DeviceModel(Protocol):
    """What the runner and the handlers need of a device's sans-I/O 2.1 side."""

    @property
    def station_id(self) -> str: ...

    def step(self, now: datetime) -> list[DeviceRequest]: ...

    def next_wakeup(self) -> datetime: ...

    def statuses(self, now: datetime) -> list[DeviceRequest]: ...

    def samples(self, now: datetime) -> list[DeviceRequest]: ...

    def evse_ids(self) -> tuple[int, ...]: ...

    def set_charging_profile(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> ProfileAnswer: ...

    def clear_charging_profile(self, profile_id: int | None) -> str: ...


D = TypeVar("D", bound=DeviceModel)


class DeviceAdapter(V21Adapter):
    """OCPP 2.1 for a device: the 2.1 station's boot and heartbeats, the device's own
    requests sent as it composed them, its runner's handlers."""

    def __init__(self, device: DeviceModel) -> None:
        super().__init__()
        self.device = device

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> DeviceChargePoint:
        if not isinstance(runner, DeviceRunner) or runner.device is not self.device:
            raise TypeError(f"a {type(self.device).__name__} runs under its own DeviceRunner")
        return runner.charge_point_class(runner, ws)

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
        if isinstance(m, StatusChanged):  # the shell's: the device's own for that EVSE
            mine = [s for s in self.device.statuses(m.at) if s.payload["evseId"] == m.connector_id]
            m = mine[0] if mine else m
        if isinstance(m, DeviceRequest):
            return getattr(call, m.action)(**library_keys(m.payload))
        return None


class DeviceChargePoint(ChargePoint):
    """The device's side of an OCPP 2.1 connection."""

    def __init__(self, runner: DeviceRunner[DeviceModel], ws: ClientConnection) -> None:
        super().__init__(runner.station_id, ws, response_timeout=runner.response_timeout_s)
        self.runner = runner
        self.device = runner.device

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        await self.runner.answer_delay()
        now = self.runner.sync()
        answer = self.device.set_charging_profile(evse_id, charging_profile, now)
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
        status = self.device.clear_charging_profile(charging_profile_id)
        self.runner.poke()
        return call_result.ClearChargingProfile(status=status)

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        if evse is not None and int(evse["id"]) not in (0, *self.device.evse_ids()):
            return call_result.TriggerMessage(status="Rejected")
        now = self.runner.sync()
        if requested_message == "MeterValues":
            self.runner.submit(list(self.device.samples(now)))
        elif requested_message == "StatusNotification":
            self.runner.submit(list(self.device.statuses(now)))
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

        def value_of(component: str, variable: str) -> tuple[str, Any]:
            if (component, variable) == _HEARTBEAT:
                return "Accepted", self.runner.station.config["HeartbeatInterval"]
            return "UnknownComponent", None

        return call_result.GetVariables(
            get_variable_result=variable_results(get_variable_data, value_of)
        )

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


class DeviceRunner(StationRunner, Generic[D]):
    """Runs one device against a central system at ``{url}/{station_id}``.

    A device's runner is this class over the device's type, with its model name (in its
    BootNotification) and, where the device answers more, its own charge point class."""

    charge_point_class: ClassVar[type[DeviceChargePoint]] = DeviceChargePoint
    model_name: ClassVar[str]

    def __init__(
        self,
        device: D,
        *,
        url: str,
        clock: Clock,
        heartbeat_interval_s: float = 300.0,
        **options: Any,
    ) -> None:
        spec = StationSpec(
            station_id=device.station_id,
            ocpp_version="2.1",
            model=self.model_name,
            heartbeat_interval_s=heartbeat_interval_s,
        )
        shell = Station(spec, now=clock.now())
        super().__init__(shell, DeviceAdapter(device), url=url, clock=clock, **options)
        self.device = device

    def step_model(self, now: datetime) -> list[Outgoing]:
        return list(self.device.step(now))

    def model_wakeup(self) -> datetime:
        return self.device.next_wakeup()

    def model_statuses(self, now: datetime) -> list[Outgoing]:
        return list(self.device.statuses(now))
