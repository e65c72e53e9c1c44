"""Scenario files: a :class:`~optimizer.problem.Problem` as JSON.

Top-level keys: ``grid`` (``start``, ``step_s``, ``n_steps``, optional ``tail_step_s``,
``tail_n_steps``), ``tariff`` and the lists ``nodes``, ``evses``, ``sessions``, ``pv``,
``storage``, ``flexible_loads``, ``node_caps``, ``dimmings``, ``setpoints``, each entry with
the fields of its input class. Datetimes are ISO 8601 with an offset. Every error names the
file and the field (``sessions[2].departure``); a field in other units than the core's
(``max_import_kw``) is rejected with the name it should have.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from optimizer.exceptions import InvalidProblem
from optimizer.inputs import Phase, Tariff
from optimizer.problem import Problem, TimeGrid

__all__ = ["load_scenario", "problem_from_dict"]


def _sections() -> dict[str, type]:
    """The scenario's lists: every tuple field of :class:`Problem` and its item class."""
    hints = typing.get_type_hints(Problem)
    return {f.name: typing.get_args(hints[f.name])[0] for f in dataclasses.fields(Problem)
            if typing.get_origin(hints[f.name]) is tuple}  # fmt: skip


_SECTIONS = _sections()

_UNIT_HINTS = {"_kw": "_w", "_kwh": "_wh", "_mw": "_w", "_mwh": "_wh", "_ka": "_a", "_kv": "_v",
               "_min": "_s", "_h": "_s", "_ms": "_s"}  # fmt: skip


def _unknown(where: str, key: str, known: set[str]) -> InvalidProblem:
    for suffix, core in _UNIT_HINTS.items():
        if key.endswith(suffix) and key[: -len(suffix)] + core in known:
            return InvalidProblem(
                where,
                f"unknown field; units inside chargegrid are W, Wh, A, V and s: "
                f"use {key[: -len(suffix)] + core!r}",
            )
    return InvalidProblem(where, f"unknown field; expected one of {sorted(known)}")


def _convert(where: str, hint: Any, value: Any) -> Any:
    if value is None:
        return None
    text = str(hint)
    if text.startswith("tuple[datetime"):
        if not isinstance(value, list):
            raise InvalidProblem(where, "must be a list")
        return tuple(_convert(f"{where}[{i}]", datetime, v) for i, v in enumerate(value))
    if "datetime" in text:
        if not isinstance(value, str):
            raise InvalidProblem(where, "must be an ISO 8601 date-time string")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidProblem(where, f"not an ISO 8601 date-time: {value!r}") from exc
        if moment.tzinfo is None:
            raise InvalidProblem(where, "needs a UTC offset, e.g. 2026-01-01T00:00:00+00:00")
        return moment
    if "Phase" in text:
        try:
            return Phase(value)
        except ValueError as exc:
            raise InvalidProblem(where, f"must be one of {[p.value for p in Phase]}") from exc
    if "tuple" in text:
        if not isinstance(value, list):
            raise InvalidProblem(where, "must be a list")
        if "tuple[tuple" in text:
            return tuple(tuple(item) if isinstance(item, list) else item for item in value)
        return tuple(value)
    return value


def _build(where: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise InvalidProblem(where, "must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise _unknown(f"{where}.{key}", key, set(fields))
        kwargs[key] = _convert(f"{where}.{key}", hints[key], value)
    missing = [name for name, f in fields.items() if name not in kwargs
               and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]  # fmt: skip
    if missing:
        raise InvalidProblem(f"{where}.{missing[0]}", "is required")
    try:
        return cls(**kwargs)
    except InvalidProblem as exc:
        raise InvalidProblem(f"{where}.{exc.field}", exc.message) from exc


def problem_from_dict(data: dict[str, Any]) -> Problem:
    known = {"grid", "tariff", "unmet_penalty_per_kwh", *_SECTIONS}
    for key in data:
        if key not in known:
            raise _unknown(key, key, known)
    grid_raw = data.get("grid")
    if not isinstance(grid_raw, dict):
        raise InvalidProblem("grid", "is required: {start, step_s, n_steps}")
    for key in grid_raw:
        if key not in {"start", "step_s", "n_steps", "tail_step_s", "tail_n_steps"}:
            raise _unknown(f"grid.{key}", key, {"start", "step_s", "n_steps", "tail_step_s"})
    for key in ("start", "step_s", "n_steps"):
        if key not in grid_raw:
            raise InvalidProblem(f"grid.{key}", "is required")
    grid = TimeGrid.uniform(
        start=_convert("grid.start", datetime, grid_raw["start"]),
        step_s=grid_raw["step_s"],
        n_steps=grid_raw["n_steps"],
        tail_step_s=grid_raw.get("tail_step_s"),
        tail_n_steps=grid_raw.get("tail_n_steps", 0),
    )
    if "tariff" not in data:
        raise InvalidProblem("tariff", "is required")
    tariff = _build("tariff", Tariff, data["tariff"])
    parts: dict[str, tuple[Any, ...]] = {}
    for section, cls in _SECTIONS.items():
        raw = data.get(section, [])
        if not isinstance(raw, list):
            raise InvalidProblem(section, "must be a list")
        parts[section] = tuple(_build(f"{section}[{i}]", cls, item) for i, item in enumerate(raw))
    return Problem(
        grid=grid,
        tariff=tariff,
        unmet_penalty_per_kwh=data.get("unmet_penalty_per_kwh"),
        **parts,
    )


def load_scenario(path: str | Path) -> Problem:
    """Read and validate a scenario file; errors name the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidProblem(f"{path}:{exc.lineno}", f"not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InvalidProblem(str(path), "must hold a JSON object")
    try:
        return problem_from_dict(data)
    except InvalidProblem as exc:
        raise InvalidProblem(f"{path}: {exc.field}", exc.message) from exc
