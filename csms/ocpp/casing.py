"""camelCase <-> snake_case payload keys, memoized per key.

The conversions are the ``ocpp`` library's own (so handlers see exactly the keyword names
they would with the library), computed once per distinct key instead of by regex on every
key of every message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

__all__ = ["camel_key", "snake_key", "to_camel", "to_snake"]

_MAX_KEYS = 4096


@lru_cache(maxsize=_MAX_KEYS)
def snake_key(key: str) -> str:
    result: str = next(iter(camel_to_snake_case({key: None})))
    return result


@lru_cache(maxsize=_MAX_KEYS)
def camel_key(key: str) -> str:
    result: str = next(iter(snake_to_camel_case({key: None})))
    return result


#: what :func:`snake_key` has computed, read without a call (the hot path converts every
#: key of every message); bounded, since a free-form payload (DataTransfer data) can bring
#: keys without end
_SNAKE: dict[str, str] = {}
#: values that are returned as they are (what JSON decodes to besides objects and arrays)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_snake(data: Any) -> Any:
    if isinstance(data, dict):
        return _snake_dict(data)
    if isinstance(data, list):
        return _snake_list(data)
    return data


def _snake_dict(data: dict[Any, Any]) -> dict[Any, Any]:
    out = {}
    for key, value in data.items():
        name = _SNAKE.get(key)
        if name is None:
            name = snake_key(key)
            if len(_SNAKE) < _MAX_KEYS:
                _SNAKE[key] = name
        out[name] = value if type(value) in _SCALARS else to_snake(value)
    return out


def _snake_list(data: list[Any]) -> list[Any]:
    return [value if type(value) in _SCALARS else to_snake(value) for value in data]


def to_camel(data: Any) -> Any:
    """camelCase keys, ``None`` values dropped (like the library's ``remove_nones``)."""
    if isinstance(data, dict):
        return {camel_key(k): to_camel(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [to_camel(v) for v in data if v is not None]
    return data
