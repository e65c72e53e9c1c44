"""A site's recent past from telemetry, window by window: site import against the limit in
force, power per EVSE (per node of the limit tree on big sites), the plan beside what was
measured, PV, storage power and state of charge, and the price.

Everything measured comes from the telemetry query interface
(:class:`~csms.telemetry.TelemetryQuery`, InfluxDB or the embedded store); the limit and the
price in force come from the site and its grid constraints, evaluated at each window start
with the same functions the planner uses (:func:`limits_in_force`, :func:`price_in_force`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from chargegrid.measurands import Measurand
from csms.api.dashboard_models import HistoryOut, HistorySeriesOut
from csms.sites import GridConstraint, Site, limits_in_force, price_in_force
from csms.telemetry import Aggregation, QueryError, Telemetry, TelemetryQuery
from csms.telemetry.schema import Field, Measurement, Tag

__all__ = [
    "MAX_EVSE_SERIES",
    "MAX_WINDOWS",
    "PLAN_HOLD_S",
    "READING_HOLD_S",
    "choose_window_s",
    "site_history",
]

#: a reading stands for this long when no newer one is in a window (stations send meter
#: values every 10 s to 15 min; site energy management every minute or so)
READING_HOLD_S = 300.0
#: a plan step stands until the next one (the planner's step, 15 min by default)
PLAN_HOLD_S = 900.0
#: more EVSEs than this are shown per node of the limit tree
MAX_EVSE_SERIES = 16
#: the most windows one answer holds
MAX_WINDOWS = 2000
_POWER = Measurand.POWER_ACTIVE_IMPORT
_WINDOWS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def choose_window_s(span_s: float, *, points: int = 240) -> int:
    """The shortest usual window that keeps ``span_s`` within about ``points`` windows."""
    for window in _WINDOWS_S:
        if span_s / window <= points:
            return window
    return _WINDOWS_S[-1]


def _bucket(at: datetime, start_s: int, window_s: int) -> int:
    return (int(at.timestamp()) - start_s) // window_s


_Series = list[float | None]


class _Frame:
    """Values per window index."""

    def __init__(self, start: datetime, stop: datetime, window_s: int) -> None:
        first = int(start.timestamp()) // window_s * window_s
        self.start_s = first
        self.window_s = window_s
        self.n = max(1, -(-(int(stop.timestamp()) - first) // window_s))
        self.times = [
            datetime.fromtimestamp(first + i * window_s, tz=start.tzinfo) for i in range(self.n)
        ]

    def empty(self) -> list[float | None]:
        return [None] * self.n

    def fill(
        self, points: Iterable[tuple[datetime, float]], *, hold_s: float = 0.0
    ) -> list[float | None]:
        """Values per window; a value also stands for the empty windows after it up to
        ``hold_s`` later (a reading holds until the next one: meter values every minute
        in windows of 30 s, or a plan step of 15 min)."""
        out = self.empty()
        for at, value in points:
            i = _bucket(at, self.start_s, self.window_s)
            if 0 <= i < self.n:
                out[i] = value
        hold = max(0, -(-int(hold_s) // self.window_s) - 1)
        if hold:
            last: float | None = None
            age = 0
            for i, held in enumerate(out):
                if held is not None:
                    last, age = held, 0
                elif last is not None and age < hold:
                    age += 1
                    out[i] = last
        return out


def _add(a: list[float | None], b: list[float | None]) -> list[float | None]:
    return [x if y is None else (y if x is None else x + y) for x, y in zip(a, b, strict=True)]


def _sum(series: Iterable[list[float | None]], n: int) -> list[float | None]:
    total: list[float | None] = [None] * n
    for values in series:
        total = _add(total, values)
    return total


@dataclass
class _Reader:
    """Reads one field per window and group over the frame; failures become problems."""

    telemetry: Telemetry
    frame: _Frame
    problems: list[str]

    async def __call__(
        self, what: str, measurement: str, field: str, *, hold_s: float, **kw: Any
    ) -> list[tuple[dict[str, str], list[float | None]]]:
        frame = self.frame
        q = TelemetryQuery(
            measurement=measurement,
            field=field,
            start=frame.times[0],
            stop=frame.times[-1] + timedelta(seconds=frame.window_s),
            window_s=frame.window_s,
            **kw,
        )
        try:
            found = await self.telemetry.aquery(q)
        except QueryError as exc:
            self.problems.append(f"{what}: {exc}")
            return []
        return [(s.tags, frame.fill(s.points, hold_s=hold_s)) for s in found]


async def site_history(
    telemetry: Telemetry | None,
    site: Site,
    constraints: list[GridConstraint],
    *,
    start: datetime,
    stop: datetime,
    window_s: int,
) -> HistoryOut:
    """The site's series over ``[start, stop)`` in windows of ``window_s``."""
    frame = _Frame(start, stop, window_s)
    n = frame.n
    problems: list[str] = []
    evse_series: dict[tuple[str, str], list[float | None]] = {}
    planned = pv = storage_power = storage_soc = frame.empty()
    if telemetry is None or telemetry.backend == "disabled":
        problems.append("telemetry is disabled: nothing measured is kept")
    else:
        read = _Reader(telemetry, frame, problems)
        evse_series = await _evse_power(read, {s.id for s in site.stations})
        planned, pv, storage_power, storage_soc = await _site_series(read, site.id, n)
    charging = _sum(evse_series.values(), n)
    imported = _add(_add(charging, storage_power), [None if v is None else -v for v in pv])
    limit, price = _in_force(site, constraints, frame.times)
    grouped, evse_power = _per_evse_or_node(site, evse_series, n)
    return HistoryOut(
        site_id=site.id,
        timezone=site.timezone,
        currency=site.tariff.currency,
        start=frame.times[0],
        stop=frame.times[-1] + timedelta(seconds=window_s),
        window_s=window_s,
        times=frame.times,
        import_w=imported,
        limit_w=limit,
        charging_w=charging,
        planned_charging_w=planned,
        evse_power_w=evse_power,
        grouped_by=grouped,
        pv_w=pv,
        storage_power_w=storage_power,
        storage_soc_pct=storage_soc,
        price_per_kwh=price,
        problems=problems,
    )


async def _evse_power(
    read: _Reader, stations: set[str]
) -> dict[tuple[str, str], list[float | None]]:
    """Each EVSE's power of the site's stations, by (station, EVSE)."""
    evse_series: dict[tuple[str, str], list[float | None]] = {}
    for tags, values in await read(
        "EVSE power",
        Measurement.METER,
        Field.VALUE,
        hold_s=READING_HOLD_S,
        where={Tag.MEASURAND: _POWER},
        group_by=(Tag.STATION, Tag.EVSE, Tag.PHASE),
    ):
        station, evse = tags[Tag.STATION], tags[Tag.EVSE]
        if station in stations and not tags[Tag.PHASE] and evse != "0":
            evse_series[(station, evse)] = values
    return evse_series


async def _site_series(
    read: _Reader, site_id: str, n: int
) -> tuple[_Series, _Series, _Series, _Series]:
    """The site's planned charging, PV, storage power and storage state of charge."""
    on_site = {Tag.SITE: site_id}
    plan = await read(
        "plan",
        Measurement.PLAN,
        Field.POWER_W,
        hold_s=PLAN_HOLD_S,
        aggregation=Aggregation.LAST,
        where={**on_site, Tag.ASSET_KIND: "evse"},
        group_by=(Tag.ASSET,),
    )
    pv_rows = await read("PV", Measurement.SITE, Field.PV_W, hold_s=READING_HOLD_S, where=on_site)
    units, socs = [
        await read(
            what,
            Measurement.STORAGE,
            field,
            hold_s=READING_HOLD_S,
            where=on_site,
            group_by=(Tag.STORAGE,),
        )
        for what, field in (
            ("storage power", Field.POWER_W),
            ("storage state of charge", Field.SOC_PCT),
        )
    ]
    return (
        _sum((v for _, v in plan), n),
        _sum((v for _, v in pv_rows), n),
        _sum((v for _, v in units), n),
        _mean((v for _, v in socs), n),
    )


def _in_force(
    site: Site, constraints: list[GridConstraint], times: list[datetime]
) -> tuple[list[float | None], list[float | None]]:
    """The site's import limit and the import price in force at each time."""
    root = site.root
    limit: list[float | None] = []
    price: list[float | None] = []
    for at in times:
        in_force = limits_in_force(site, constraints, at)
        limit.append(
            in_force[root.id].max_import_w if root is not None and root.id in in_force else None
        )
        price.append(price_in_force(site, constraints, at))
    return limit, price


def _mean(series: Iterable[list[float | None]], n: int) -> list[float | None]:
    sums: list[float] = [0.0] * n
    counts = [0] * n
    for values in series:
        for i, v in enumerate(values):
            if v is not None:
                sums[i] += v
                counts[i] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]


def _per_evse_or_node(
    site: Site, evse_series: dict[tuple[str, str], list[float | None]], n: int
) -> tuple[Literal["evse", "node"], list[HistorySeriesOut]]:
    evses = list(site.evses())
    if len(evses) <= MAX_EVSE_SERIES:
        return "evse", [
            HistorySeriesOut(
                key=f"{station.id}/{evse.id}",
                label=f"{station.id} EVSE {evse.id}",
                values=evse_series.get((station.id, str(evse.id)), [None] * n),
            )
            for station, evse, _ in evses
        ]
    per_node: dict[str, list[float | None]] = {}
    for station, evse, node in evses:
        values = evse_series.get((station.id, str(evse.id)))
        key = node or "(no node)"
        per_node[key] = _add(per_node.get(key, [None] * n), values or [None] * n)
    return "node", [
        HistorySeriesOut(key=node, label=f"EVSEs on {node}", values=values)
        for node, values in sorted(per_node.items())
    ]
