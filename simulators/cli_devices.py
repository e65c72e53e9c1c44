"""``chargegrid sim``'s site devices: storage units and battery-swap stations beside the
charging stations, each an OCPP 2.1 station (``STOR-0001``, ``SWAP-0001``, ...), and the
share of V2G vehicles."""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = ["add_device_options", "add_numbers", "device_config", "positive_option"]


def positive_option(kind: type[float] | type[int]) -> Any:
    """An argparse type: a finite number of ``kind`` above zero (else exit 2 naming the option)."""
    wanted = "integer" if kind is int else "number"

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be a positive {wanted}: {text!r}")
        return value

    return parse


def _fraction(text: str) -> float:
    """An argparse type: a number in 0..1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1: {text!r}")
    return value


def _rate(text: str) -> float:
    """An argparse type: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0: {text!r}")
    return value


def add_numbers(parser: Any, *rows: tuple[str, Any, float, str]) -> None:
    """Options of one number each, ``(flag, argparse type, default, help)``: the help ends
    with the default, written once."""
    for flag, kind, default, text in rows:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default {default:g})")


_POSITIVE = positive_option(float)
_COUNT = positive_option(int)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """Storage units (STOR-0001, ...) and swap stations (SWAP-0001, ...) beside the stations."""
    group = parser.add_argument_group("storage units, swap stations, V2G vehicles (OCPP 2.1)")
    group.add_argument(
        "--storage",
        type=int,
        default=0,
        metavar="N",
        help="also run N storage units as OCPP 2.1 stations STOR-0001, ... (default 0)",
    )
    add_numbers(
        group,
        ("--storage-capacity-wh", _POSITIVE, 200_000.0, "each storage unit's capacity"),
        (
            "--storage-power-w",
            _POSITIVE,
            100_000.0,
            "each storage unit's charge and discharge rating",
        ),
    )
    group.add_argument(
        "--v2g-share",
        type=_fraction,
        default=0.0,
        help="share of the vehicles that are V2G, 0..1 (seeded; they discharge on a negative "
        "CentralSetpoint at OCPP 2.1 stations and only charge at 1.6/2.0.1 ones; default 0)",
    )
    add_numbers(
        group,
        ("--v2g-max-discharge-w", _POSITIVE, 11_000.0, "a V2G vehicle's maximum discharge power"),
    )
    group.add_argument(
        "--swap",
        type=int,
        default=0,
        metavar="N",
        help="also run N battery-swap stations as OCPP 2.1 stations SWAP-0001, ... (default 0)",
    )
    add_numbers(
        group,
        (
            "--swap-slots",
            _COUNT,
            8,
            "slots in each swap station's rack, all holding a pack at the start",
        ),
        (
            "--swap-pack-wh",
            _POSITIVE,
            70_000.0,
            "each pack's capacity, the rack's and the vehicles'",
        ),
        (
            "--swap-pack-soc",
            _fraction,
            0.95,
            "the rack's packs' state of charge at the start, 0..1",
        ),
        ("--swap-rack-power-w", _POSITIVE, 150_000.0, "the rack's charging rating"),
        ("--swap-pack-power-w", _POSITIVE, 60_000.0, "one slot's charging rating"),
        ("--swap-time-s", _rate, 300.0, "how long the robot takes for one swap"),
        (
            "--swap-per-hour",
            _rate,
            4.0,
            "vehicles coming to each swap station per hour, seeded Poisson",
        ),
    )


def device_config(args: argparse.Namespace) -> dict[str, Any]:
    """The ``FleetConfig`` fields of the devices the command line asks for; ``ValueError``
    naming the option when it cannot."""
    from simulators.storage import StorageSpec
    from simulators.swap import PackSpec, SwapStationSpec
    from simulators.v2g import V2XSpec

    if args.storage < 0:
        raise ValueError("--storage must not be negative")
    if args.swap < 0:
        raise ValueError("--swap must not be negative")
    storage = tuple(
        StorageSpec(
            unit_id=f"STOR-{i:04d}",
            capacity_wh=args.storage_capacity_wh,
            max_charge_w=args.storage_power_w,
            max_discharge_w=args.storage_power_w,
        )
        for i in range(1, args.storage + 1)
    )
    swaps = tuple(
        SwapStationSpec(
            station_id=f"SWAP-{i:04d}",
            slots=args.swap_slots,
            packs=tuple(
                PackSpec(f"SWAP-{i:04d}-P{n:03d}", args.swap_pack_wh, args.swap_pack_soc)
                for n in range(1, args.swap_slots + 1)
            ),
            max_rack_power_w=args.swap_rack_power_w,
            max_pack_power_w=args.swap_pack_power_w,
            swap_time_s=args.swap_time_s,
        )
        for i in range(1, args.swap + 1)
    )
    return {
        "storage": storage,
        "swaps": swaps,
        "swap_arrivals_per_hour": args.swap_per_hour,
        "v2g_share": args.v2g_share,
        "v2x": V2XSpec(max_discharge_w=args.v2g_max_discharge_w),
    }
