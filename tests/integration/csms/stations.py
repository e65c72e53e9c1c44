"""Test stations built with the ``ocpp`` library (the way a real station would be)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v21 import ChargePoint as V21ChargePoint
from ocpp.v21 import call_result as call_result21
from ocpp.v201 import ChargePoint as V201ChargePoint
from websockets.asyncio.client import ClientConnection, connect

__all__ = [
    "Station16",
    "Station21",
    "Station201",
    "StationScript",
    "connect_station",
    "raw_connect",
    "unknown_variables",
]


@dataclass
class StationScript:
    """How a test station answers the CSMS's commands and what it received."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_remote_start: Any = None

    def answer(self, action: str, default: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        self.received.append((action, kwargs))
        return self.answers.get(action, default)


class Station16(V16ChargePoint):  # type: ignore[misc]
    script: StationScript
    start_accepted = False  # the last remote start it answered Accepted

    @on("RemoteStartTransaction")
    def remote_start(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        result = self.script.answer("RemoteStartTransaction", {"status": "Accepted"}, kw)
        self.start_accepted = result["status"] == "Accepted"
        return call_result.RemoteStartTransaction(**result)

    @after("RemoteStartTransaction")
    def after_remote_start(self, **kw: Any) -> None:
        """Once the answer is out, as a real station starts the session it accepted."""
        if self.script.on_remote_start is not None and self.start_accepted:
            self.script.on_remote_start(kw)

    @on("RemoteStopTransaction")
    def remote_stop(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.RemoteStopTransaction(
            **self.script.answer("RemoteStopTransaction", {"status": "Accepted"}, kw)
        )

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.Reset(**self.script.answer("Reset", {"status": "Accepted"}, kw))

    @on("ChangeAvailability")
    def change_availability(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.ChangeAvailability(
            **self.script.answer("ChangeAvailability", {"status": "Accepted"}, kw)
        )

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.UnlockConnector(
            **self.script.answer("UnlockConnector", {"status": "Unlocked"}, kw)
        )

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.TriggerMessage(
            **self.script.answer("TriggerMessage", {"status": "Accepted"}, kw)
        )

    @on("ClearCache")
    def clear_cache(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.ClearCache(
            **self.script.answer("ClearCache", {"status": "Accepted"}, kw)
        )

    @on("SetChargingProfile")
    def set_profile(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.SetChargingProfile(
            **self.script.answer("SetChargingProfile", {"status": "Accepted"}, kw)
        )

    @on("ClearChargingProfile")
    def clear_profile(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.ClearChargingProfile(
            **self.script.answer("ClearChargingProfile", {"status": "Accepted"}, kw)
        )

    @on("GetCompositeSchedule")
    def composite(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.GetCompositeSchedule(
            **self.script.answer("GetCompositeSchedule", {"status": "Rejected"}, kw)
        )

    @on("GetConfiguration")
    def get_configuration(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.GetConfiguration(
            **self.script.answer(
                "GetConfiguration",
                {
                    "configuration_key": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
                    ],
                    "unknown_key": [k for k in kw.get("key", []) if k != "HeartbeatInterval"]
                    or None,
                },
                kw,
            )
        )

    @on("ChangeConfiguration")
    def change_configuration(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        return call_result.ChangeConfiguration(
            **self.script.answer("ChangeConfiguration", {"status": "Accepted"}, kw)
        )


class _Station2x:
    """The station side of 2.0.1 and 2.1 (the same messages for what the CSMS sends)."""

    script: StationScript
    start_accepted = False  # the last remote start it answered Accepted
    _call_result: Any  # the version's call_result module (from the library's ChargePoint)

    def _simple(self, action: str, default: dict[str, Any], kw: dict[str, Any]) -> Any:
        return getattr(self._call_result, action)(**self.script.answer(action, default, kw))

    @on("RequestStartTransaction")
    def request_start(self, **kw: Any) -> Any:
        result = self._simple("RequestStartTransaction", {"status": "Accepted"}, kw)
        self.start_accepted = result.status == "Accepted"
        return result

    @after("RequestStartTransaction")
    def after_request_start(self, **kw: Any) -> None:
        """Once the answer is out, as a real station starts the session it accepted."""
        if self.script.on_remote_start is not None and self.start_accepted:
            self.script.on_remote_start(kw)

    @on("RequestStopTransaction")
    def request_stop(self, **kw: Any) -> Any:
        return self._simple("RequestStopTransaction", {"status": "Accepted"}, kw)

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        return self._simple("Reset", {"status": "Accepted"}, kw)

    @on("ChangeAvailability")
    def change_availability(self, **kw: Any) -> Any:
        return self._simple("ChangeAvailability", {"status": "Accepted"}, kw)

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> Any:
        return self._simple("UnlockConnector", {"status": "Unlocked"}, kw)

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> Any:
        return self._simple("TriggerMessage", {"status": "Accepted"}, kw)

    @on("ClearCache")
    def clear_cache(self, **kw: Any) -> Any:
        return self._simple("ClearCache", {"status": "Accepted"}, kw)

    @on("SetChargingProfile")
    def set_profile(self, **kw: Any) -> Any:
        return self._simple("SetChargingProfile", {"status": "Accepted"}, kw)

    @on("ClearChargingProfile")
    def clear_profile(self, **kw: Any) -> Any:
        return self._simple("ClearChargingProfile", {"status": "Accepted"}, kw)

    @on("GetCompositeSchedule")
    def composite(self, **kw: Any) -> Any:
        return self._simple("GetCompositeSchedule", {"status": "Rejected"}, kw)

    @on("GetVariables")
    def get_variables(self, **kw: Any) -> Any:
        return self._simple(
            "GetVariables",
            {
                "get_variable_result": [
                    {
                        "attribute_status": "Accepted",
                        "attribute_value": "300",
                        "component": item["component"],
                        "variable": item["variable"],
                    }
                    for item in kw["get_variable_data"]
                ]
            },
            kw,
        )

    @on("SetVariables")
    def set_variables(self, **kw: Any) -> Any:
        return self._simple(
            "SetVariables",
            {
                "set_variable_result": [
                    {
                        "attribute_status": "Accepted",
                        "component": item["component"],
                        "variable": item["variable"],
                    }
                    for item in kw["set_variable_data"]
                ]
            },
            kw,
        )

    @on("GetBaseReport")
    def base_report(self, **kw: Any) -> Any:
        return self._simple("GetBaseReport", {"status": "Accepted"}, kw)


class Station201(_Station2x, V201ChargePoint):  # type: ignore[misc]
    pass


class Station21(_Station2x, V21ChargePoint):  # type: ignore[misc]
    """A 2.1 station: the 2.0.1 answers, DER control and battery-swap requests, and the
    energy transfer modes the CSMS allows."""

    @on("SetDERControl")
    def set_der(self, **kw: Any) -> Any:
        return self._simple("SetDERControl", {"status": "Accepted"}, kw)

    @on("GetDERControl")
    def get_der(self, **kw: Any) -> Any:
        return self._simple("GetDERControl", {"status": "Accepted"}, kw)

    @on("ClearDERControl")
    def clear_der(self, **kw: Any) -> Any:
        return self._simple("ClearDERControl", {"status": "Accepted"}, kw)

    @on("RequestBatterySwap")
    def request_swap(self, **kw: Any) -> Any:
        return self._simple("RequestBatterySwap", {"status": "Accepted"}, kw)

    @on("NotifyAllowedEnergyTransfer")
    def allowed_energy_transfer(self, **kw: Any) -> Any:
        return self._simple("NotifyAllowedEnergyTransfer", {"status": "Accepted"}, kw)


def unknown_variables(get_variable_data: list[dict[str, Any]]) -> Any:
    """A 2.1 station's answer to GetVariables knowing none of them. A 2.1 test station needs
    one: the library leaves an action without a handler unanswered in 2.1, and the central
    system then waits out its timeout (the planner's quirk detection at boot) with every
    other call to the station queued behind it."""
    return call_result21.GetVariables(
        get_variable_result=[
            {"attribute_status": "UnknownVariable", "component": d["component"],
             "variable": d["variable"]}
            for d in get_variable_data
        ]
    )  # fmt: skip


def _auth(station_id: str, password: str | None) -> dict[str, str]:
    if password is None:
        return {}
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def raw_connect(
    base_url: str,
    station_id: str,
    *,
    version: str = "1.6",
    password: str | None = None,
    max_size: int | None = 2**22,
) -> AsyncIterator[ClientConnection]:
    async with connect(
        base_url + station_id,
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers=_auth(station_id, password),
        max_size=max_size,
        # longer than the server's own handshake limit (security.handshake_timeout_s = 10 s),
        # as a real station waits: the server, not the test's client, decides that a
        # handshake took too long (the first one after a start verifies the slow hash)
        open_timeout=20,
    ) as ws:
        yield ws


@contextlib.asynccontextmanager
async def connect_station(
    base_url: str,
    station_id: str,
    *,
    version: str = "1.6",
    password: str | None = None,
    script: StationScript | None = None,
) -> AsyncIterator[Any]:
    """A library ChargePoint connected and serving, closed on exit."""
    async with raw_connect(base_url, station_id, version=version, password=password) as ws:
        cls = {"1.6": Station16, "2.0.1": Station201, "2.1": Station21}[version]
        cp = cls(station_id, ws, response_timeout=5)
        cp.script = script or StationScript()
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
