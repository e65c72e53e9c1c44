"""Exceptions of ``chargegrid demo``.

::

    CsmsError
     └── DemoError                  the demo cannot start as asked
          └── PortInUse             a port it needs is taken (choose another)
"""

from __future__ import annotations

from csms.exceptions import CsmsError

__all__ = ["DemoError", "PortInUse"]


class DemoError(CsmsError):
    """The demo cannot start as asked."""


class PortInUse(DemoError):
    """A port the demo needs is taken by another process."""

    def __init__(self, host: str, port: int, what: str, option: str) -> None:
        super().__init__(
            f"port {port} on {host} ({what}) is in use by another process; "
            f"stop it or choose another port with {option}"
        )
        self.host = host
        self.port = port
