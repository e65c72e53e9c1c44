"""JSON-ready values of the central system's records, for the API's event stream and the
admin WebSocket alike."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

__all__ = ["to_json"]


def to_json(value: Any) -> Any:
    """Dataclasses, enums, datetimes and containers as JSON-ready values: a dataclass as a
    dict of its fields, an enum as its value, a datetime in ISO 8601, a list, tuple or set
    as a list, a dict with its keys as strings; anything else as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value
