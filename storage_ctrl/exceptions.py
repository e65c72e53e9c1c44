"""The storage controller's exceptions.

::

    StorageControlError
    └── InvalidInput (also a ValueError; ``field`` names the bad input)

The control law never raises on a unit's behaviour (silent, stale, alarming units are
excluded and reported in the decision); it raises :class:`InvalidInput` only when an input
it is given is not a finite number in range, where that input is built.
"""

from __future__ import annotations

__all__ = ["InvalidInput", "StorageControlError"]


class StorageControlError(Exception):
    """Base class of every storage-controller error."""


class InvalidInput(StorageControlError, ValueError):
    """An input is invalid; ``field`` is its dotted path, e.g. ``units[b1].soc_wh``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
