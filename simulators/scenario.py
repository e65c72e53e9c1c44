"""Scenarios: who arrives where and when, as a pandas DataFrame.

One row per vehicle visit, columns :data:`COLUMNS` (times are aware UTC, fractions of
capacity for the states of charge). :func:`generate` draws a seedable depot, workplace or
public site; :func:`save_scenario` / :func:`load_scenario` write and read CSV exactly, and a
bad file fails with :class:`~simulators.exceptions.ScenarioError` naming the file, the line
and the field.

- depot: vans arrive in the evening (18:30 +- 1 h) and leave in the morning (06:30 +- 45 min);
- workplace: cars arrive in the morning (08:30 +- 45 min) and leave in the afternoon
  (17:00 +- 1 h);
- public: Poisson arrivals (0.5 per connector and hour, 07:00-22:00), short dwell
  (exponential, mean 50 min, 10 min to 3 h), DC-capable cars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulators.ev import EVSpec
from simulators.exceptions import ScenarioError

__all__ = [
    "COLUMNS",
    "SCENARIO_KINDS",
    "generate",
    "load_scenario",
    "save_scenario",
    "sessions_by_station",
    "station_ids",
    "suggested_start",
    "validate_scenario",
]

COLUMNS = (
    "ev_id",
    "station_id",
    "connector_id",
    "arrival",
    "departure",
    "capacity_wh",
    "initial_soc",
    "target_soc",
    "max_ac_power_w",
    "max_dc_power_w",
    "phases",
    "id_tag",
)
SCENARIO_KINDS = ("depot", "workplace", "public")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_OPENING = {"depot": time(17, 0), "workplace": time(7, 0), "public": time(6, 30)}


def station_ids(count: int, *, prefix: str = "SIM") -> list[str]:
    """``SIM-0001`` ... for a fleet of ``count`` stations."""
    return [f"{prefix}-{i:04d}" for i in range(1, count + 1)]


def suggested_start(kind: str, day: datetime) -> datetime:
    """When a simulation of ``kind`` is worth starting on ``day`` (just before the first cars)."""
    return datetime.combine(day.astimezone(UTC).date(), _OPENING[kind], tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Visit:
    arrival: datetime
    departure: datetime


def _clip_normal(
    rng: np.random.Generator, mean_h: float, sd_h: float, lo_h: float, hi_h: float
) -> float:
    return float(np.clip(rng.normal(mean_h, sd_h), lo_h, hi_h))


def _visits(kind: str, rng: np.random.Generator, day0: datetime, days: int) -> list[_Visit]:
    visits: list[_Visit] = []
    for d in range(days):
        day = day0 + timedelta(days=d)
        if kind == "depot":
            arrive = _clip_normal(rng, 18.5, 1.0, 16.0, 22.0)
            leave = 24 + _clip_normal(rng, 6.5, 0.75, 5.0, 9.0)
            visits.append(_Visit(day + timedelta(hours=arrive), day + timedelta(hours=leave)))
        elif kind == "workplace":
            arrive = _clip_normal(rng, 8.5, 0.75, 6.5, 11.0)
            leave = _clip_normal(rng, 17.0, 1.0, 14.0, 20.0)
            visits.append(_Visit(day + timedelta(hours=arrive), day + timedelta(hours=leave)))
        else:
            t = 7.0 + float(rng.exponential(2.0))
            while t < 22.0:
                dwell_h = float(np.clip(rng.exponential(50 / 60), 10 / 60, 3.0))
                visits.append(_Visit(day + timedelta(hours=t), day + timedelta(hours=t + dwell_h)))
                t += dwell_h + float(rng.exponential(2.0))
    return visits


def _vehicle(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    if kind == "depot":
        capacity = float(rng.choice([40_000, 60_000, 77_000, 100_000]))
        ac = float(rng.choice([11_000, 22_000]))
        return dict(
            capacity_wh=capacity,
            initial_soc=round(float(rng.uniform(0.15, 0.5)), 3),
            target_soc=float(rng.choice([0.9, 1.0])),
            max_ac_power_w=ac,
            max_dc_power_w=50_000.0,
            phases=3,
        )
    if kind == "workplace":
        capacity = float(rng.choice([40_000, 58_000, 64_000, 77_000]))
        ac = float(rng.choice([7_400, 11_000]))
        return dict(
            capacity_wh=capacity,
            initial_soc=round(float(rng.uniform(0.3, 0.7)), 3),
            target_soc=0.8,
            max_ac_power_w=ac,
            max_dc_power_w=100_000.0,
            phases=1 if ac == 7_400 else 3,
        )
    capacity = float(rng.choice([50_000, 64_000, 77_000, 90_000]))
    return dict(
        capacity_wh=capacity,
        initial_soc=round(float(rng.uniform(0.1, 0.6)), 3),
        target_soc=0.8,
        max_ac_power_w=11_000.0,
        max_dc_power_w=float(rng.choice([50_000, 100_000, 150_000])),
        phases=3,
    )


def generate(
    kind: str,
    *,
    stations: int,
    seed: int,
    start: datetime,
    connectors: int = 1,
    days: int = 1,
    prefix: str = "SIM",
) -> pd.DataFrame:
    """Draw a scenario; the same arguments give the same frame."""
    if kind not in SCENARIO_KINDS:
        raise ScenarioError(f"unknown scenario {kind!r}; choose one of {', '.join(SCENARIO_KINDS)}")
    if stations < 1 or connectors < 1 or days < 1:
        raise ScenarioError("stations, connectors and days must be at least 1")
    rng = np.random.default_rng(seed)
    start = start.astimezone(UTC).replace(microsecond=0)
    day0 = datetime.combine(start.date(), time(0), tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for station_id in station_ids(stations, prefix=prefix):
        for connector_id in range(1, connectors + 1):
            for visit in _visits(kind, rng, day0, days):
                vehicle = _vehicle(kind, rng)
                if visit.departure <= start + timedelta(minutes=5):
                    continue
                n = len(rows) + 1
                rows.append(
                    dict(
                        ev_id=f"EV-{n:05d}",
                        station_id=station_id,
                        connector_id=connector_id,
                        arrival=max(visit.arrival, start).replace(microsecond=0),
                        departure=visit.departure.replace(microsecond=0),
                        **vehicle,
                        id_tag=f"TAG{n:05d}",
                    )
                )
    rows.sort(key=lambda r: (r["arrival"], r["station_id"], r["connector_id"]))
    for n, row in enumerate(rows, start=1):
        row["ev_id"], row["id_tag"] = f"EV-{n:05d}", f"TAG{n:05d}"
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return _typed(
        frame.sort_values(["arrival", "station_id", "connector_id"], kind="stable").reset_index(
            drop=True
        )
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("arrival", "departure"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ns, UTC]")
    for col in ("capacity_wh", "initial_soc", "target_soc", "max_ac_power_w", "max_dc_power_w"):
        out[col] = out[col].astype("float64")
    for col in ("connector_id", "phases"):
        out[col] = out[col].astype("int64")
    for col in ("ev_id", "station_id", "id_tag"):
        out[col] = out[col].astype("object")
    return out


def save_scenario(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a scenario as CSV; :func:`load_scenario` gives back an equal frame."""
    out = frame[list(COLUMNS)].copy()
    for col in ("arrival", "departure"):
        out[col] = out[col].dt.strftime(_TIME_FORMAT)
    out.to_csv(path, index=False)


def _cell(row: dict[str, Any], field: str, line: int, file: str | None) -> Any:
    value = row.get(field)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise ScenarioError("is missing", file=file, row=line, field=field)
    return value


def _number(row: dict[str, Any], field: str, line: int, file: str | None) -> float:
    raw = _cell(row, field, line, file)
    try:
        value = float(raw)
    except ValueError:
        raise ScenarioError(f"not a number: {raw!r}", file=file, row=line, field=field) from None
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(
            f"must be a non-negative number, got {raw!r}", file=file, row=line, field=field
        )
    return value


def _when(row: dict[str, Any], field: str, line: int, file: str | None) -> datetime:
    raw = str(_cell(row, field, line, file))
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(
            f"not an ISO 8601 time: {raw!r}", file=file, row=line, field=field
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def validate_scenario(
    frame: pd.DataFrame, *, file: str | None = None, header_lines: int = 1
) -> pd.DataFrame:
    """Check every row and return the typed frame. ``row`` in errors is the file line."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ScenarioError(
            f"missing column(s): {', '.join(missing)}", file=file, row=1, field=missing[0]
        )
    clean: list[dict[str, Any]] = []
    for i, row in enumerate(frame[list(COLUMNS)].to_dict("records")):
        line = i + 1 + header_lines
        item: dict[str, Any] = {
            "ev_id": str(_cell(row, "ev_id", line, file)),
            "station_id": str(_cell(row, "station_id", line, file)),
            "id_tag": str(_cell(row, "id_tag", line, file)),
            "arrival": _when(row, "arrival", line, file),
            "departure": _when(row, "departure", line, file),
        }
        for field in (
            "capacity_wh",
            "initial_soc",
            "target_soc",
            "max_ac_power_w",
            "max_dc_power_w",
        ):
            item[field] = _number(row, field, line, file)
        for field in ("connector_id", "phases"):
            value = _number(row, field, line, file)
            if value != int(value) or value < 1:
                raise ScenarioError(
                    f"must be a positive integer, got {row[field]!r}",
                    file=file,
                    row=line,
                    field=field,
                )
            item[field] = int(value)
        if item["departure"] <= item["arrival"]:
            raise ScenarioError("must be after the arrival", file=file, row=line, field="departure")
        try:
            EVSpec(
                ev_id=item["ev_id"],
                capacity_wh=item["capacity_wh"],
                initial_soc=item["initial_soc"],
                target_soc=item["target_soc"],
                max_ac_power_w=item["max_ac_power_w"],
                max_dc_power_w=item["max_dc_power_w"],
                phases=item["phases"],
            )
        except ValueError as exc:
            field = next(
                (
                    f
                    for f in ("capacity_wh", "initial_soc", "target_soc", "phases")
                    if f in str(exc)
                ),
                "ev",
            )
            raise ScenarioError(str(exc), file=file, row=line, field=field) from None
        clean.append(item)
    return _typed(pd.DataFrame(clean, columns=list(COLUMNS)))


def load_scenario(path: str | Path) -> pd.DataFrame:
    """Read a scenario CSV, failing with the file, line and field of the first bad value."""
    name = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ScenarioError("no such file", file=name) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read it: {exc.strerror or exc}", file=name) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"not a readable CSV: {exc}", file=name) from None
    frame = validate_scenario(raw, file=name)
    frame.attrs["file"] = name  # later checks against the fleet name the file too
    return frame


def sessions_by_station(
    frame: pd.DataFrame, stations: Sequence[str], *, connectors: int
) -> dict[str, list[tuple[int, EVSpec]]]:
    """The planned visits of each station, as (connector, vehicle) pairs. A row that does not
    fit the fleet fails naming the file it was loaded from (``frame.attrs["file"]``), the line
    and the field."""
    file = frame.attrs.get("file")
    fleet = f"{stations[0]}..{stations[-1]}" if stations else "no stations"
    known = set(stations)
    plan: dict[str, list[tuple[int, EVSpec]]] = {s: [] for s in stations}
    records: list[dict[str, Any]] = frame.to_dict("records")
    for i, row in enumerate(records):
        if row["station_id"] not in known:
            raise ScenarioError(
                f"unknown station {row['station_id']!r} (the fleet has {fleet})",
                file=file,
                row=i + 2,
                field="station_id",
            )
        if row["connector_id"] > connectors:
            raise ScenarioError(
                f"the stations have {connectors} connector(s)",
                file=file,
                row=i + 2,
                field="connector_id",
            )
        plan[row["station_id"]].append(
            (
                int(row["connector_id"]),
                EVSpec(
                    ev_id=str(row["ev_id"]),
                    capacity_wh=float(row["capacity_wh"]),
                    initial_soc=float(row["initial_soc"]),
                    target_soc=float(row["target_soc"]),
                    max_ac_power_w=float(row["max_ac_power_w"]),
                    max_dc_power_w=float(row["max_dc_power_w"]),
                    phases=int(row["phases"]),
                    arrival=row["arrival"].to_pydatetime(),
                    departure=row["departure"].to_pydatetime(),
                    id_tag=str(row["id_tag"]),
                ),
            )
        )
    return plan
