"""``chargegrid sim``'s site devices: storage units, battery-swap stations and PV plants beside
the charging stations, each an OCPP 2.1 station (``STOR-0001``, ``SWAP-0001``, ``PV-0001``,
...), the share of V2G vehicles, and the site's grid meter (``GRIDMETER``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from chargegrid.cli import number_option

__all__ = ["add_device_options", "add_numbers", "device_config", "positive_option"]


def positive_option(kind: type[float] | type[int]) -> Any:
    """An argparse type: a finite number of ``kind`` above zero (else exit 2 naming the option)."""
    wanted = "integer" if kind is int else "number"
    return number_option(
        kind, lambda value: value > 0 and math.isfinite(value), f"must be a positive {wanted}"
    )


#: An argparse type: a number in 0..1.
_fraction = number_option(
    float, lambda value: 0.0 <= value <= 1.0, "must be a fraction between 0 and 1"
)
#: An argparse type: a finite number of at least 0.
_rate = number_option(
    float,
    lambda value: value >= 0.0 and math.isfinite(value),
    "must be a finite number of at least 0",
)


def add_numbers(parser: Any, *rows: tuple[str, Any, float, str]) -> None:
    """Options of one number each, ``(flag, argparse type, default, help)``: the help ends
    with the default, written once."""
    for flag, kind, default, text in rows:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default {default:g})")


_POSITIVE = positive_option(float)
_COUNT = positive_option(int)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """Storage units (STOR-0001, ...), swap stations (SWAP-0001, ...) and PV plants
    (PV-0001, ...) beside the stations."""
    group = parser.add_argument_group(
        "storage units, swap stations, PV plants, V2G vehicles (OCPP 2.1)"
    )
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
    _add_v2g_options(group)
    _add_swap_options(group)
    _add_pv_options(group)
    group.add_argument(
        "--site-meter",
        action="store_true",
        help="also run the site's grid meter as OCPP 2.1 station GRIDMETER, reporting on EVSE 0 "
        "what every device draws less the PV plants plus --site-base-load-w (a [meter] with "
        'station = "GRIDMETER" reads it)',
    )
    add_numbers(
        group,
        (
            "--site-base-load-w",
            _rate,
            0.0,
            "the site's load no station meters, seen only by the grid meter",
        ),
    )
    group.add_argument(
        "--site-meter-interval-s",
        type=_POSITIVE,
        default=None,
        help="how often the grid meter reports (s; default: --meter-interval-s); a grid "
        "meter over the import limit steps the storage controller at once",
    )


def _add_v2g_options(group: Any) -> None:
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


def _add_swap_options(group: Any) -> None:
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
    group.add_argument(
        "--swap-timeout-s",
        type=positive_option(float),
        default=None,
        help="the longest a swap may take from the vehicle's turn; one not done by then (no "
        "ready pack in time, a jammed robot) is reported as timed out (default: none, a "
        "vehicle with no ready pack is turned away at once)",
    )
    add_numbers(
        group,
        (
            "--swap-jam-share",
            _fraction,
            0.0,
            "share of the swaps in which the robot jams, seeded, 0..1",
        ),
        ("--swap-jam-s", _POSITIVE, 1800.0, "how long a jammed robot stays stuck"),
    )


def _add_pv_options(group: Any) -> None:
    group.add_argument(
        "--pv",
        type=int,
        default=0,
        metavar="N",
        help="also run N PV plants as OCPP 2.1 stations PV-0001, ..., metering what they "
        "produce (default 0; 1 with --pv-csv)",
    )
    add_numbers(
        group,
        (
            "--pv-peak-w",
            _POSITIVE,
            50_000.0,
            "each PV plant's clear-sky peak at solar noon, 06:00-18:00 UTC",
        ),
        (
            "--pv-cloud-fraction",
            _fraction,
            0.3,
            "share of 5-minute slots that are cloudy, seeded, 0..1",
        ),
    )
    group.add_argument(
        "--pv-csv",
        metavar="CSV",
        default=None,
        help="the PV plants follow this profile instead of the clear sky: rows time,power_w "
        "(UTC ISO 8601, increasing; W, finite, at least 0), linear in between, 0 W outside",
    )


def device_config(args: argparse.Namespace) -> dict[str, Any]:
    """The ``FleetConfig`` fields of the devices the command line asks for; ``ValueError``
    naming the option when it cannot."""
    from simulators.meter_station import SiteMeterSpec
    from simulators.storage import StorageSpec
    from simulators.swap import PackSpec, SwapStationSpec
    from simulators.v2g import V2XSpec

    for option in ("storage", "swap", "pv"):
        if getattr(args, option) < 0:
            raise ValueError(f"--{option} must not be negative")
    if args.swap_timeout_s is not None and args.swap_timeout_s < args.swap_time_s:
        raise ValueError("--swap-timeout-s must be at least --swap-time-s")
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
            swap_timeout_s=args.swap_timeout_s,
            jam_share=args.swap_jam_share,
            jam_s=args.swap_jam_s,
        )
        for i in range(1, args.swap + 1)
    )
    return {
        "storage": storage,
        "swaps": swaps,
        "swap_arrivals_per_hour": args.swap_per_hour,
        "pv": _pv_plants(args),
        "v2g_share": args.v2g_share,
        "v2x": V2XSpec(max_discharge_w=args.v2g_max_discharge_w),
        "site_meter": SiteMeterSpec(
            base_load_w=args.site_base_load_w,
            seed=args.seed,
            interval_s=args.site_meter_interval_s,
        )
        if args.site_meter
        else None,
    }


def _pv_plants(args: argparse.Namespace) -> tuple[Any, ...]:
    """The PV plants: the clear sky with seeded clouds, or every one on the CSV profile
    (``ValueError`` naming the file, row and column of a bad row)."""
    from simulators.exceptions import ScenarioError
    from simulators.pv import ClearSkyPV, CsvPV, load_pv_csv
    from simulators.pv_station import PvSpec

    count = args.pv or (1 if args.pv_csv else 0)
    profile: CsvPV | None = None
    if args.pv_csv:
        try:
            profile = load_pv_csv(args.pv_csv)
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None
    plants = []
    for i in range(1, count + 1):
        pv_id = f"PV-{i:04d}"
        source = profile or ClearSkyPV(
            pv_id, args.pv_peak_w, cloud_fraction=args.pv_cloud_fraction, seed=args.seed
        )
        plants.append(PvSpec(pv_id, source))
    return tuple(plants)
