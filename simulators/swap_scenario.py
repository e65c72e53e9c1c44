"""Swap arrivals for a swap station: generated (seeded) or read from a CSV, and written back.

A CSV has one row per vehicle, the header
``vehicle_id,arrival,pack_serial,pack_capacity_wh,pack_soc,id_token``: the arrival in UTC
ISO 8601 (``2026-06-01T08:15:00Z``), the depleted pack it brings (serial, capacity in Wh,
state of charge as a fraction 0..1) and the driver's id token (may be empty). Reading stops
at the first bad value with the file, the row (the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from simulators.exceptions import InvalidParameter, ScenarioError
from simulators.quantities import aware, fraction, integer, non_negative, positive
from simulators.swap import PackSpec, SwapArrival

__all__ = ["COLUMNS", "generate_swap_arrivals", "load_swap_arrivals", "save_swap_arrivals"]

COLUMNS = ("vehicle_id", "arrival", "pack_serial", "pack_capacity_wh", "pack_soc", "id_token")


def generate_swap_arrivals(
    station_id: str,
    *,
    start: datetime,
    hours: float = 24.0,
    per_hour: float = 4.0,
    seed: int = 0,
    pack_capacity_wh: float = 70_000.0,
    min_soc: float = 0.05,
    max_soc: float = 0.35,
) -> list[SwapArrival]:
    """Poisson arrivals at ``per_hour`` for ``hours`` from ``start``, each with a depleted
    pack of uniform SoC in ``min_soc .. max_soc``; the same arguments give the same list."""
    aware("start", start)
    positive("hours", hours)
    non_negative("per_hour", per_hour)
    integer("seed", seed)
    positive("pack_capacity_wh", pack_capacity_wh)
    fraction("min_soc", min_soc)
    fraction("max_soc", max_soc)
    if min_soc > max_soc:
        raise InvalidParameter("min_soc", "is above max_soc")
    rng = random.Random(f"swap:{seed}:{station_id}")
    arrivals: list[SwapArrival] = []
    elapsed_h = 0.0
    while per_hour > 0.0:
        elapsed_h += rng.expovariate(per_hour)
        if elapsed_h >= hours:
            break
        n = len(arrivals) + 1
        at = start + timedelta(seconds=round(elapsed_h * 3600.0))
        soc = round(rng.uniform(min_soc, max_soc), 3)
        pack = PackSpec(f"{station_id}-X{n:04d}", pack_capacity_wh, soc)
        arrivals.append(SwapArrival(f"{station_id}-V{n:04d}", at, pack, f"SWAP{n:04d}"))
    return arrivals


def save_swap_arrivals(arrivals: Iterable[SwapArrival], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for a in arrivals:
            writer.writerow(
                [
                    a.vehicle_id,
                    a.at.isoformat().replace("+00:00", "Z"),
                    a.pack.serial,
                    repr(a.pack.capacity_wh),
                    repr(a.pack.soc),
                    a.id_token or "",
                ]
            )


def load_swap_arrivals(path: str | Path) -> list[SwapArrival]:
    file = str(path)
    arrivals: list[SwapArrival] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ScenarioError(f"missing columns: {', '.join(missing)}", file=file, row=1)
            for line, row in enumerate(reader, start=2):
                arrivals.append(_arrival(row, file, line))
    except OSError as error:
        raise ScenarioError(f"cannot read: {error.strerror}", file=file) from error
    return arrivals


def _arrival(row: dict[str, str | None], file: str, line: int) -> SwapArrival:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    def number(column: str) -> float:
        try:
            value = float(text(column))
        except ValueError:
            raise ScenarioError(
                f"not a number: {text(column)!r}", file=file, row=line, field=column
            ) from None
        if not math.isfinite(value):
            raise ScenarioError("must be finite", file=file, row=line, field=column)
        return value

    try:
        at = datetime.fromisoformat(text("arrival").replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(
            f"not an ISO 8601 time: {text('arrival')!r}", file=file, row=line, field="arrival"
        ) from None
    capacity, soc = number("pack_capacity_wh"), number("pack_soc")
    try:
        pack = PackSpec(text("pack_serial"), capacity, soc)
        return SwapArrival(text("vehicle_id"), at, pack, text("id_token") or None)
    except InvalidParameter as error:
        column = {
            "capacity_wh": "pack_capacity_wh",
            "soc": "pack_soc",
            "serial": "pack_serial",
            "at": "arrival",
        }.get(error.field.rpartition(".")[2], "vehicle_id")
        raise ScenarioError(error.message, file=file, row=line, field=column) from None
