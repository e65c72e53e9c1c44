"""camelCase <-> snake_case payload keys, memoized per key.

The conversions are the ``ocpp`` library's own (so handlers see exactly the keyword names
they would with the library), computed once per distinct key instead of by regex on every
key of every message.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

__all__ = ["camel_key", "snake_key", "to_camel", "to_snake"]


@cache
def snake_key(key: str) -> str:
    result: str = next(iter(camel_to_snake_case({key: None})))
    return result


@cache
def camel_key(key: str) -> str:
    result: str = next(iter(snake_to_camel_case({key: None})))
    return result


def to_snake(data: Any) -> Any:
    if isinstance(data, dict):
        return {snake_key(k): to_snake(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_snake(v) for v in data]
    return data


def to_camel(data: Any) -> Any:
    """camelCase keys, ``None`` values dropped (like the library's ``remove_nones``)."""
    if isinstance(data, dict):
        return {camel_key(k): to_camel(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [to_camel(v) for v in data if v is not None]
    return data
