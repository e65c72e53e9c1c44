"""chargegrid: the shared kernel every part uses (clock, CLI entry point).

The parts of the system live in their own top-level packages: ``csms`` (the central
system), ``optimizer``, ``storage_ctrl``, ``simulators`` and ``dashboards``.
"""

from __future__ import annotations

from chargegrid.clock import Clock, ManualClock, VirtualClock, WallClock, clock_from_settings

__all__ = [
    "Clock",
    "ManualClock",
    "VirtualClock",
    "WallClock",
    "__version__",
    "clock_from_settings",
]

__version__ = "0.1.0"
