"""Exceptions of the central system.

::

    CsmsError
     ├── ConfigError                 bad configuration file or environment
     ├── StoreError
     │    ├── StoreUnavailable       the database cannot be reached now; retry later
     │    └── NotFound               no such station, id token or transaction
     └── CommandError                a command to a station did not succeed
          ├── StationOffline         the station is not connected
          ├── CommandTimeout         the station did not answer in time
          ├── CommandRejected        the station answered Rejected / NotSupported / ...
          └── CommandFailed          the station answered with a CALLERROR
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandFailed",
    "CommandRejected",
    "CommandTimeout",
    "ConfigError",
    "CsmsError",
    "NotFound",
    "StationOffline",
    "StoreError",
    "StoreUnavailable",
]


class CsmsError(Exception):
    """Base class of every error the central system raises on purpose."""


class ConfigError(CsmsError):
    """The configuration file or an environment variable is invalid."""


class StoreError(CsmsError):
    """A persistence failure."""


class StoreUnavailable(StoreError):
    """The database is unreachable or failed transiently; the operation may be retried."""


class NotFound(StoreError):
    """The station, id token or transaction does not exist."""


class CommandError(CsmsError):
    """A command to a station did not succeed."""

    def __init__(self, station_id: str, action: str, message: str) -> None:
        super().__init__(f"{action} to {station_id}: {message}")
        self.station_id = station_id
        self.action = action


class StationOffline(CommandError):
    """The station is not connected, so the command was not sent."""

    def __init__(self, station_id: str, action: str) -> None:
        super().__init__(station_id, action, "station is offline")


class CommandTimeout(CommandError):
    """The station did not answer within the call timeout."""

    def __init__(self, station_id: str, action: str, timeout_s: float) -> None:
        super().__init__(station_id, action, f"no answer within {timeout_s:g} s")
        self.timeout_s = timeout_s


class CommandRejected(CommandError):
    """The station answered, but not with Accepted."""

    def __init__(
        self, station_id: str, action: str, status: str, reason: str | None = None
    ) -> None:
        because = f" ({reason})" if reason else ""
        super().__init__(station_id, action, f"station answered {status}{because}")
        self.status = status
        #: the station's reason, when it gave one (2.x ``statusInfo``)
        self.reason = reason


class CommandFailed(CommandError):
    """The station answered with a CALLERROR."""

    def __init__(self, station_id: str, action: str, code: str, description: str) -> None:
        super().__init__(station_id, action, f"CALLERROR {code}: {description}")
        self.code = code
        self.description = description
