"""Fast OCPP schema validation behind the ``ocpp`` library's error mapping.

The library validates every payload with jsonschema's Draft4Validator in a thread pool;
here each official schema (shipped with the library) is compiled once with
``fastjsonschema`` and the failure is mapped to the same OCPP error classes, spelled per
version (1.6 ``FormationViolation``, 2.0.1 and 2.1 ``FormatViolation``).

A payload is first checked by the same schema compiled with ``jsonschema_rs`` (about a
tenth of the cost); only one it does not pass goes to ``fastjsonschema``, which decides and
names the error. So the outcome is ``fastjsonschema``'s as long as ``jsonschema_rs`` passes
nothing that ``fastjsonschema`` refuses (where they differ it is the stricter: a NaN, a 1.6
integer written ``1.0``, a value it cannot convert; a test compares the two on mutated
payloads of every schema).

Like the library, ``format`` (date-time, uri) is not enforced by the schema; adapters parse
timestamps themselves. ``multipleOf`` (1.6 charging limits with one decimal) is dropped:
binary floats make it reject valid values; outgoing limits are rounded instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema_rs
import ocpp
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)

__all__ = ["CALL", "CALL_RESULT", "format_error", "has_schema", "validate"]

CALL = 2
CALL_RESULT = 3

_SCHEMA_ROOT = Path(ocpp.__file__).parent
_STRIP_IF_SCALAR = frozenset(
    {
        "format",
        "multipleOf",
        "$schema",
        "$id",
        "id",
        "comment",
        "javaType",
        "description",
        "tsEnumNames",
    }
)
_lock = threading.Lock()
#: Sampled-value properties whose enumeration is not enforced (decision 0506): a station that
#: sends an unknown or mis-cased measurand or unit gets its usual answer, its other samples
#: are kept, and telemetry normalizes the spelling or counts the sample as rejected.
_LENIENT = frozenset({"measurand", "unit"})


def _lenient(schema: Any) -> Any:
    """``schema`` without its ``enum`` (still a string; 2.0.1 refers to an enum type)."""
    if isinstance(schema, dict) and str(schema.get("$ref", "")).endswith("EnumType"):
        return {"type": "string"}
    if isinstance(schema, dict) and "enum" in schema:
        return {k: v for k, v in schema.items() if k != "enum"}
    return schema


_FOLDERS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}
#: OCPP's ``integer`` is 32-bit signed (2.0.1 Part 2, primitive datatypes); the schemas leave
#: most integers unbounded, so these bounds are added where a schema gives none.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


def _schema_path(version: str, action: str, message_type: int) -> Path:
    folder = _FOLDERS[version]
    if message_type == CALL_RESULT:
        name = f"{action}Response"
    else:
        name = action if version == "1.6" else f"{action}Request"
    return _SCHEMA_ROOT / folder / "schemas" / f"{name}.json"


def _clean(schema: Any) -> Any:
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        if schema.get("type") == "integer":
            out["minimum"] = INT_MIN
            out["maximum"] = INT_MAX
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {
                    name: _clean(_lenient(sub) if name in _LENIENT else sub)
                    for name, sub in value.items()
                }
            elif key in ("definitions", "patternProperties") and isinstance(value, dict):
                out[key] = {name: _clean(sub) for name, sub in value.items()}
            elif key in _STRIP_IF_SCALAR and not isinstance(value, dict | list):
                continue
            else:
                out[key] = _clean(value)
        return out
    if isinstance(schema, list):
        return [_clean(item) for item in schema]
    return schema


@cache
def _schema(version: str, action: str, message_type: int) -> Any:
    """The message's official schema as :func:`_clean` leaves it (None: no schema)."""
    path = _schema_path(version, action, message_type)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return _clean(raw)


@cache
def _validator(version: str, action: str, message_type: int) -> Callable[[Any], Any] | None:
    schema = _schema(version, action, message_type)
    if schema is None:
        return None
    with _lock:
        compiled: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return compiled


#: the draft each version's schemas are written in (1.6: draft 4, where ``1.0`` is not an
#: integer; 2.0.1 and 2.1: draft 6)
_DRAFTS: dict[str, Any] = {
    "1.6": jsonschema_rs.Draft4Validator,
    "2.0.1": jsonschema_rs.Draft6Validator,
    "2.1": jsonschema_rs.Draft6Validator,
}


@cache
def _quick(version: str, action: str, message_type: int) -> Callable[[Any], bool] | None:
    """``is_valid`` of the schema compiled with ``jsonschema_rs`` (None: no schema)."""
    schema = _schema(version, action, message_type)
    if schema is None:
        return None
    quick: Callable[[Any], bool] = _DRAFTS[version](schema).is_valid
    return quick


def has_schema(version: str, action: str) -> bool:
    return _validator(version, action, CALL) is not None


def format_error(version: str, cause: str) -> OCPPError:
    """The version's spelling of the 'syntactically incorrect' error."""
    cls = FormationViolationError if version == "1.6" else FormatViolationError
    return cls(description=cause, details={"cause": cause})


def validate(version: str, action: str, message_type: int, payload: Any) -> None:
    """Raise the OCPP error for ``payload``; nothing when it conforms (or has no schema)."""
    quick = _quick(version, action, message_type)
    if quick is None:
        return
    try:
        if quick(payload):
            return
    except (ValueError, TypeError, OverflowError):
        pass  # a value it cannot take (a key that is not a string): the full check decides
    check = _validator(version, action, message_type)
    if check is None:  # pragma: no cover - both read the same file
        return
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _map(version, exc) from None


def _map(version: str, exc: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    """The OCPP-J error table (1.6 section 4.2.3; 2.0.1 / 2.1 Part 4 section 4.3) applied to
    the schema rule that failed: a wrong JSON type or an over-long string violates the
    field's data type; a value outside its enumeration or range is an invalid value; a
    missing field is 1.6's "incomplete" payload and 2.0.1's occurrence violation, like an
    array with too few or too many items; anything else (a field the message does not define)
    does not conform to the message's structure."""
    cause = str(exc.message)
    details = {"cause": cause}
    rule = exc.rule
    if rule in ("type", "maxLength"):
        return TypeConstraintViolationError(description=cause, details=details)
    if rule in ("enum", "minimum", "maximum"):
        return PropertyConstraintViolationError(description=cause, details=details)
    if rule == "required":
        if version == "1.6":
            return ProtocolError(description=cause, details=details)
        return OccurrenceConstraintViolationError(description=cause, details=details)
    if rule in ("minItems", "maxItems"):
        if version == "1.6":  # 1.6 spells it with one "r"
            return OccurenceConstraintViolationError(description=cause, details=details)
        return OccurrenceConstraintViolationError(description=cause, details=details)
    return format_error(version, cause)
