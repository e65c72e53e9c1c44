"""OCPP 2.1 for the simulated station.

2.1 keeps every 2.0.1 message the station sends and answers (boot, status, authorization,
TransactionEvent, meter values, EV charging needs, charging profiles, the device-model
variables) with the same required fields, so the 2.1 station is the 2.0.1 one speaking
``ocpp2.1``: the library's 2.1 message classes, and the 2.1 schemas checking every frame both
ways. What 2.1 adds for V2X is in the EV's needs: a V2G vehicle's NotifyEVChargingNeeds
carries its ``v2xChargingParameters`` and the energy transfer modes it offers (decision 0313);
the station model reads 2.1's operation modes in charging profiles. DER control and tariffs
the simulated station does not use.
"""

from __future__ import annotations

import re
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.v21 import ChargePoint as _V21ChargePoint
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection

from simulators.messages import ChargingNeeds
from simulators.ocpp201 import V201Adapter, V201ChargePoint
from simulators.runner import OutItem, StationRunner
from simulators.station import Station

__all__ = ["V21Adapter", "V21ChargePoint", "library_keys"]


def library_keys(data: Any) -> Any:
    """A camelCase payload with the snake_case keys the library turns back into exactly
    these (its own mapping reads ``soc`` as ``SoC``: 2.1's ``soC`` has to be ``so_c``)."""
    if isinstance(data, list):
        return [library_keys(value) for value in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        snake = camel_to_snake_case({key: None}).popitem()[0]
        if snake_to_camel_case({snake: None}).popitem()[0] != key:
            snake = re.sub("([A-Z])", lambda c: "_" + c.group(1).lower(), key)
        out[snake] = library_keys(value)
    return out


class V21ChargePoint(V201ChargePoint):
    """The station's side of an OCPP 2.1 connection."""

    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result
    _ocpp_version = _V21ChargePoint._ocpp_version


class V21Adapter(V201Adapter):
    subprotocol = "ocpp2.1"

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V21ChargePoint:
        return V21ChargePoint(runner, ws)

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        encoded = super().encode_message(item, station)
        m = item.message
        if isinstance(m, ChargingNeeds) and m.v2x is not None:
            assert isinstance(encoded, call.NotifyEVChargingNeeds)
            needs = dict(encoded.charging_needs) | library_keys(m.v2x)
            return call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=m.connector_id)
        return encoded
