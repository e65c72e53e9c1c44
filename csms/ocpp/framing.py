"""The CALLERRORs of OCPP-J's framing: a message that is no RPC frame, an action the
version does not know or the central system does not take, a message type not supported."""

from __future__ import annotations

from typing import NoReturn

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError, ProtocolError
from ocpp.v16.enums import Action as V16Action
from ocpp.v21.enums import Action as V21Action
from ocpp.v201.enums import Action as V201Action

__all__ = [
    "ACTIONS",
    "V21_UNANSWERED",
    "MessageTypeNotSupported",
    "RpcFrameworkError",
    "frame_error",
    "no_handler",
]


def no_handler(action: str, version: str) -> NoReturn:
    """OCPP-J's table (1.6 section 4.2.3, 2.0.1 / 2.1 Part 4 section 4.3): ``NotImplemented``
    for an action the station's version does not know, ``NotSupported`` for one it defines
    that the central system does not take from a station. (The library swaps the two.)"""
    if action in ACTIONS[version]:
        raise NotSupportedError(
            description=f"{action} is not supported by this central system",
            details={"cause": f"{action} is not supported"},
        )
    raise OcppNotImplemented(
        description=f"{action} is not an OCPP {version} action",
        details={"cause": f"{action} is not an OCPP {version} action"},
    )


ACTIONS = {
    "1.6": frozenset(a.value for a in V16Action),
    "2.0.1": frozenset(a.value for a in V201Action),
    "2.1": frozenset(a.value for a in V21Action),
}


V21_UNANSWERED = (5, 6)


def frame_error(version: str, cause: str) -> OCPPError:
    """A message that is not an OCPP-J RPC frame: 2.0.1 / 2.1 ``RpcFrameworkError``; 1.6
    has no code for it and answers ``ProtocolError``."""
    if version == "1.6":
        return ProtocolError(description=cause, details={"cause": cause})
    return RpcFrameworkError(description=cause, details={"cause": cause})


class RpcFrameworkError(OCPPError):  # type: ignore[misc]
    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC request"


class MessageTypeNotSupported(OCPPError):  # type: ignore[misc]
    code = "MessageTypeNotSupported"
    default_description = "A message with a MessageTypeId the receiver does not support"
