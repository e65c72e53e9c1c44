"""Battery swaps, version-neutral: the packs a swap station holds and the swap sessions its
BatterySwap events make (OCPP 2.1's battery-swap use case).

A driver's depleted pack goes *in* to the station (``BatteryIn``), a charged one comes *out*
(``BatteryOut``); both events carry the station's ``requestId`` of the swap, the driver's id
token and each pack's serial number, slot, state of charge and health. The swap is a session:
energy in (what the driver brought back), energy out (what the driver took), the billable
energy the difference. A station the central system asked for a swap (RequestBatterySwap)
uses the request id it was given.

:func:`apply` is the whole rule set, pure: the latest session of the request id, the event
and the registered packs in; the session and the packs' new whereabouts out, or
:class:`SwapRefused` naming the field (nothing is then stored).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "BatteryPack",
    "BatterySwap",
    "PackReading",
    "SwapEvent",
    "SwapEventKind",
    "SwapOutcome",
    "SwapRefused",
    "SwapState",
    "UnknownPack",
    "UnknownSwap",
    "apply",
    "requested",
]


class SwapEventKind(enum.StrEnum):
    BATTERY_IN = "BatteryIn"
    BATTERY_OUT = "BatteryOut"
    BATTERY_OUT_TIMEOUT = "BatteryOutTimeout"


class SwapState(enum.StrEnum):
    REQUESTED = "requested"  # asked of the station (RequestBatterySwap), nothing in yet
    OPEN = "open"  # the driver's packs are in
    COMPLETED = "completed"  # the driver took charged packs out
    TIMED_OUT = "timed_out"  # the charged packs were offered and not taken


class SwapRefused(ValueError):
    """An event the central system cannot keep; ``field`` names the place (camelCase, as
    the station sent it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownPack(SwapRefused):
    """A pack serial number no registered pack has."""


class UnknownSwap(SwapRefused):
    """A BatteryOut (or timeout) for a request id with no swap whose packs are in."""


@dataclass(frozen=True, slots=True)
class PackReading:
    serial_number: str
    slot: int  # the station's slot (OCPP: the battery's evseId)
    soc_pct: float
    soh_pct: float


@dataclass(frozen=True, slots=True)
class BatteryPack:
    """A registered pack and where it was last seen (``station_id`` None: in a vehicle)."""

    serial_number: str
    capacity_wh: float
    station_id: str | None = None
    slot: int | None = None
    soc_pct: float | None = None
    soh_pct: float | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SwapEvent:
    station_id: str
    kind: SwapEventKind
    request_id: int
    id_token: str
    packs: tuple[PackReading, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class BatterySwap:
    """One swap session. ``id`` is the central system's (None until stored)."""

    id: int | None
    station_id: str
    request_id: int
    id_token: str
    state: SwapState
    #: the id token's authorization status when the packs went in (``Accepted``, ...)
    auth_status: str | None
    requested: bool
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    packs_in: tuple[PackReading, ...] = ()
    packs_out: tuple[PackReading, ...] = ()
    energy_in_wh: float | None = None
    energy_out_wh: float | None = None

    @property
    def energy_wh(self) -> float | None:
        """The billable energy: what the driver took out less what they brought in."""
        if self.state is not SwapState.COMPLETED:
            return None
        if self.energy_in_wh is None or self.energy_out_wh is None:
            return None
        return self.energy_out_wh - self.energy_in_wh


@dataclass(frozen=True, slots=True)
class SwapOutcome:
    """What :func:`apply` decided: the session to store (None: a redelivery, nothing to
    store) and the packs whose whereabouts changed."""

    swap: BatterySwap | None
    packs: tuple[BatteryPack, ...] = ()


def requested(station_id: str, request_id: int, id_token: str, at: datetime) -> BatterySwap:
    """The session of a swap the station accepted to do for ``id_token``."""
    return BatterySwap(
        id=None,
        station_id=station_id,
        request_id=request_id,
        id_token=id_token,
        state=SwapState.REQUESTED,
        auth_status=None,
        requested=True,
        created_at=at,
    )


def _check_readings(readings: tuple[PackReading, ...], packs: Mapping[str, BatteryPack]) -> float:
    """The energy the packs hold (Wh); :class:`SwapRefused` for a reading outside 0..100 %
    or not finite, :class:`UnknownPack` for a pack not registered."""
    seen: set[str] = set()
    energy = 0.0
    for i, r in enumerate(readings):
        where = f"batteryData[{i}]"
        for name, value in (("soC", r.soc_pct), ("soH", r.soh_pct)):
            if not math.isfinite(value) or not 0 <= value <= 100:
                raise SwapRefused(
                    f"{where}.{name}", f"must be a finite number in 0..100, not {value!r}"
                )
        if r.serial_number in seen:
            raise SwapRefused(f"{where}.serialNumber", f"pack {r.serial_number!r} listed twice")
        seen.add(r.serial_number)
        pack = packs.get(r.serial_number)
        if pack is None:
            raise UnknownPack(f"{where}.serialNumber", f"unknown pack {r.serial_number!r}")
        energy += pack.capacity_wh * r.soc_pct / 100.0
    return energy


def _moved(
    readings: tuple[PackReading, ...],
    packs: Mapping[str, BatteryPack],
    station_id: str | None,
    at: datetime,
) -> tuple[BatteryPack, ...]:
    return tuple(
        dataclasses.replace(
            packs[r.serial_number],
            station_id=station_id,
            slot=r.slot if station_id is not None else None,
            soc_pct=r.soc_pct,
            soh_pct=r.soh_pct,
            updated_at=at,
        )
        for r in readings
    )


def apply(
    latest: BatterySwap | None,
    event: SwapEvent,
    packs: Mapping[str, BatteryPack],
    *,
    authorization: str | None,
) -> SwapOutcome:
    """The session after ``event``, given the ``latest`` session of its request id at its
    station (None: none yet), the registered ``packs`` it names and the driver's id token's
    ``authorization`` status."""
    energy = _check_readings(event.packs, packs)
    state = latest.state if latest is not None else None
    if event.kind is SwapEventKind.BATTERY_IN:
        if latest is not None and state is SwapState.OPEN:
            if latest.packs_in == event.packs:
                return SwapOutcome(None)  # redelivered
            raise SwapRefused("requestId", f"swap {event.request_id} already has its packs in")
        base = latest if latest is not None and state is SwapState.REQUESTED else None
        swap = BatterySwap(
            id=base.id if base is not None else None,
            station_id=event.station_id,
            request_id=event.request_id,
            id_token=event.id_token,
            state=SwapState.OPEN,
            auth_status=authorization,
            requested=base is not None,
            created_at=base.created_at if base is not None else event.at,
            started_at=event.at,
            packs_in=event.packs,
            energy_in_wh=energy,
        )
        return SwapOutcome(swap, _moved(event.packs, packs, event.station_id, event.at))
    done = SwapState.COMPLETED if event.kind is SwapEventKind.BATTERY_OUT else SwapState.TIMED_OUT
    if latest is not None and state is done and latest.packs_out == event.packs:
        return SwapOutcome(None)  # redelivered
    if latest is None or state is not SwapState.OPEN:
        raise UnknownSwap(
            "requestId", f"no swap {event.request_id} with its packs in at {event.station_id}"
        )
    if done is SwapState.TIMED_OUT:
        # the offered packs stay in the station
        swap = dataclasses.replace(latest, state=done, ended_at=event.at, packs_out=event.packs)
        return SwapOutcome(swap, _moved(event.packs, packs, event.station_id, event.at))
    swap = dataclasses.replace(
        latest, state=done, ended_at=event.at, packs_out=event.packs, energy_out_wh=energy
    )
    return SwapOutcome(swap, _moved(event.packs, packs, None, event.at))
