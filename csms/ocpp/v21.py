"""OCPP 2.1 adapter.

2.1 keeps 2.0.1's messages for everything the central system does today (boot, status,
authorization, TransactionEvent, meter values, EV charging needs, charging profiles, device
model) and adds fields and messages around them (V2X, DER control, tariffs). So a 2.1 station
is served by the 2.0.1 handlers, with the 2.1 schemas validating every frame both ways and the
library's 2.1 message classes; fields that 2.1 adds are accepted and left unused.
"""

from __future__ import annotations

from ocpp.v21 import ChargePoint as _V21ChargePoint

from csms.ocpp.v201 import V201Connection

__all__ = ["V21Connection"]


class V21Connection(V201Connection):
    """A station speaking OCPP 2.1."""

    ocpp_version = "2.1"
    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result
