"""Battery swaps (OCPP 2.1): the version-neutral model of packs and swap sessions, the
rules that apply a station's BatterySwap events, and where they are stored. The core's
:class:`csms.core.swaps.SwapHandling` runs them; the 2.1 adapter translates the messages."""

from __future__ import annotations

from csms.swaps.model import (
    BatteryPack,
    BatterySwap,
    PackReading,
    SwapEvent,
    SwapEventKind,
    SwapOutcome,
    SwapRefused,
    SwapState,
    UnknownPack,
    UnknownSwap,
    apply,
)
from csms.swaps.repository import (
    MemorySwapRepository,
    SqlSwapRepository,
    SwapFilter,
    SwapRepository,
    swap_repository_for,
)

__all__ = [
    "BatteryPack",
    "BatterySwap",
    "MemorySwapRepository",
    "PackReading",
    "SqlSwapRepository",
    "SwapEvent",
    "SwapEventKind",
    "SwapFilter",
    "SwapOutcome",
    "SwapRefused",
    "SwapRepository",
    "SwapState",
    "UnknownPack",
    "UnknownSwap",
    "apply",
    "swap_repository_for",
]
