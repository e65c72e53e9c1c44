"""OCPP 2.1 for the simulated station.

2.1 keeps every 2.0.1 message the station sends and answers (boot, status, authorization,
TransactionEvent, meter values, EV charging needs, charging profiles, the device-model
variables) with the same required fields, so the 2.1 station is the 2.0.1 one speaking
``ocpp2.1``: the library's 2.1 message classes, and the 2.1 schemas checking every frame both
ways. What 2.1 adds (V2X, DER control, tariffs) the simulated station does not use.
"""

from __future__ import annotations

from ocpp.v21 import ChargePoint as _V21ChargePoint
from websockets.asyncio.client import ClientConnection

from simulators.ocpp201 import V201Adapter, V201ChargePoint
from simulators.runner import StationRunner

__all__ = ["V21Adapter", "V21ChargePoint"]


class V21ChargePoint(V201ChargePoint):
    """The station's side of an OCPP 2.1 connection."""

    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result
    _ocpp_version = _V21ChargePoint._ocpp_version


class V21Adapter(V201Adapter):
    subprotocol = "ocpp2.1"

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V21ChargePoint:
        return V21ChargePoint(runner, ws)
