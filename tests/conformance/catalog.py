"""What the central system handles, per OCPP version, and the official schemas of each message.

The list of handled messages is read from the adapters themselves (their ``@on`` handlers), so
a message added to an adapter is fuzzed without touching the suite. Schemas are the ones the
``ocpp`` package ships (the Open Charge Alliance's JSON schemas).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
from ocpp.v16.enums import Action as V16Action
from ocpp.v21.enums import Action as V21Action
from ocpp.v201.enums import Action as V201Action

from csms.ocpp.base import OcppConnection
from csms.ocpp.v16 import V16Connection
from csms.ocpp.v21 import V21Connection
from csms.ocpp.v201 import V201Connection

__all__ = [
    "ADAPTERS",
    "VERSIONS",
    "actions_of_version",
    "handled_actions",
    "request_schema",
    "response_errors",
    "response_schema",
    "unhandled_actions",
]

VERSIONS = ("1.6", "2.0.1", "2.1")
ADAPTERS: dict[str, type[OcppConnection]] = {
    "1.6": V16Connection,
    "2.0.1": V201Connection,
    "2.1": V21Connection,
}
_FOLDERS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}
_ACTIONS = {"1.6": V16Action, "2.0.1": V201Action, "2.1": V21Action}
_ROOT = Path(ocpp.__file__).parent
# RFC 3339 section 5.6 date-time (the format OCPP prescribes for every timestamp)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@cache
def handled_actions(version: str) -> tuple[str, ...]:
    """Every CALL the central system answers for a station of ``version``."""
    names: set[str] = set()
    for klass in ADAPTERS[version].__mro__:
        for attr in vars(klass).values():
            action = getattr(attr, "_on_action", None)
            if isinstance(action, str):
                names.add(action)
    return tuple(sorted(names))


def actions_of_version(version: str) -> tuple[str, ...]:
    return tuple(sorted(a.value for a in _ACTIONS[version]))


@cache
def unhandled_actions(version: str) -> tuple[str, ...]:
    """Messages ``version`` defines that the central system does not accept from a station
    (the ones it sends, or does not support)."""
    handled = set(handled_actions(version))
    return tuple(a for a in actions_of_version(version) if a not in handled)


def _path(version: str, action: str, response: bool) -> Path:
    suffix = "Response" if response else ("" if version == "1.6" else "Request")
    name = f"{action}{suffix}"
    return _ROOT / _FOLDERS[version] / "schemas" / f"{name}.json"


@cache
def _load(version: str, action: str, response: bool) -> str:
    return _path(version, action, response).read_text(encoding="utf-8-sig")


def request_schema(version: str, action: str) -> dict[str, Any]:
    """The official request schema (a fresh copy)."""
    schema: dict[str, Any] = json.loads(_load(version, action, False))
    return schema


def response_schema(version: str, action: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_load(version, action, True))
    return schema


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _RFC3339.match(value) is None:
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def _response_validator(version: str, action: str) -> Any:
    schema = response_schema(version, action)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, format_checker=_FORMATS)


def response_errors(version: str, action: str, payload: Any) -> list[str]:
    """Why ``payload`` is not a valid answer to ``action`` (empty when it is), checked with
    the reference validator, including RFC 3339 timestamps and ``multipleOf``."""
    validator = _response_validator(version, action)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(payload)
    ]
