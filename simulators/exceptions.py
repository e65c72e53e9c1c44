"""Exceptions of the simulators.

::

    SimulatorError
    ├── ScenarioError        a scenario file or frame is bad (file, row, field)
    ├── StationError         a station cannot do what was asked (unknown connector, ...)
    │   └── ProfileRefused   a charging profile the station answers Rejected (``reason_code``)
    ├── InvalidParameter     a device model's number is not finite or out of range (``field``);
    │                        also a ValueError
    └── CsmsError            the central system answered badly
        ├── CallErrorReceived   a CALLERROR came back (``code``, ``description``)
        ├── ResponseTimeout     no answer in time
        └── BootRejected        the boot was rejected and retries ran out
"""

from __future__ import annotations

__all__ = [
    "BootRejected",
    "CallErrorReceived",
    "CsmsError",
    "InvalidParameter",
    "ProfileRefused",
    "ResponseTimeout",
    "ScenarioError",
    "SimulatorError",
    "StationError",
]


class SimulatorError(Exception):
    """Base of every simulator error."""


class ScenarioError(SimulatorError):
    """A bad scenario: names the file (if any), the row (1-based data row) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        where = [part for part in (file, None if row is None else f"row {row}", field) if part]
        super().__init__(f"{': '.join(where)}: {message}" if where else message)
        self.file = file
        self.row = row
        self.field = field
        self.message = message


class StationError(SimulatorError):
    """A station was asked something it cannot do."""


class ProfileRefused(StationError):
    """A charging profile the station answers Rejected: ``reason_code`` is the OCPP
    ``statusInfo.reasonCode``, ``detail`` says why."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail


class InvalidParameter(SimulatorError, ValueError):
    """A device model was given a number that is not finite or not in range; ``field`` names it
    (``storage[B1].capacity_wh``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CsmsError(SimulatorError):
    """The central system answered badly."""


class CallErrorReceived(CsmsError):
    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: CALLERROR {code}: {description}")
        self.action = action
        self.code = code
        self.description = description


class ResponseTimeout(CsmsError):
    def __init__(self, action: str, timeout_s: float) -> None:
        super().__init__(f"{action}: no answer within {timeout_s:g} s")
        self.action = action
        self.timeout_s = timeout_s


class BootRejected(CsmsError):
    """The central system kept rejecting the boot notification."""
