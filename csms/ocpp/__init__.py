"""The OCPP edge: the WebSocket server and the 1.6J / 2.0.1 adapters."""

from __future__ import annotations

from csms.ocpp.base import OcppConnection
from csms.ocpp.registry import ConnectionRegistry
from csms.ocpp.server import SUBPROTOCOLS, OcppServer
from csms.ocpp.v16 import V16Connection
from csms.ocpp.v201 import V201Connection

__all__ = [
    "SUBPROTOCOLS",
    "ConnectionRegistry",
    "OcppConnection",
    "OcppServer",
    "V16Connection",
    "V201Connection",
]
