"""The quick check (``jsonschema_rs``) never passes a payload the full check
(``fastjsonschema``) refuses: for every schema of every version, a payload with every
optional field is built, then each of its values is replaced by values of other types and
edges, removed, or joined by a field the schema does not define."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastjsonschema
import pytest

from csms.ocpp import validation

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    1.0,
    -1,
    1.5,
    validation.INT_MAX + 1,
    validation.INT_MIN - 1,
    2**64,
    float("nan"),
    float("inf"),
    "",
    "x" * 2000,
    "\U0001f600" * 40,
    "\ud800",
    [],
    [1],
    {},
    {"unknownField": 1},
]


def _schemas() -> Iterator[tuple[str, str, int]]:
    for version, folder in validation._FOLDERS.items():
        for path in sorted((validation._SCHEMA_ROOT / folder / "schemas").glob("*.json")):
            name = path.stem
            if name.endswith("Response"):
                yield version, name.removesuffix("Response"), validation.CALL_RESULT
                continue
            action = name if version == "1.6" else name.removesuffix("Request")
            if validation._schema_path(version, action, validation.CALL) == path:
                yield version, action, validation.CALL


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["definitions"][name]
    return schema


def _example(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A payload with every field the schema defines (arrays at their minimum length)."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        return {name: _example(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}), root)] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        value = 1 if kind == "integer" else 1.5
        return min(max(value, schema.get("minimum", value)), schema.get("maximum", value))
    if kind == "boolean":
        return True
    return "a" * max(1, schema.get("minLength", 1))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _paths(sub, (*path, index))


def _mutants(payload: Any) -> Iterator[Any]:
    """The payload with one change at a time (made in place, undone after each yield)."""
    for odd in _ODD_VALUES:
        yield odd
    for path in list(_paths(payload)):
        target = payload
        for step in path:
            target = target[step]
        if isinstance(target, dict):
            target["unknownField"] = "x"
            yield payload
            del target["unknownField"]
        if not path:
            continue
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        kept = parent[last]
        for odd in _ODD_VALUES:
            parent[last] = odd
            yield payload
        if isinstance(last, str):
            del parent[last]
            yield payload
        parent[last] = kept


@pytest.mark.parametrize(("version", "action", "kind"), list(_schemas()))
def test_the_quick_check_is_never_more_lenient(version: str, action: str, kind: int) -> None:
    quick = validation._quick(version, action, kind)
    full = validation._validator(version, action, kind)
    assert quick is not None and full is not None
    path = validation._schema_path(version, action, kind)
    root = validation._clean(json.loads(path.read_text(encoding="utf-8-sig")))
    example = _example(root, root)
    full(example)  # the example itself conforms
    assert quick(example)
    checked = 0
    for mutant in _mutants(example):
        try:
            passed = quick(mutant)
        except (ValueError, TypeError, OverflowError):
            passed = False
        if passed:
            try:
                full(mutant)
            except fastjsonschema.JsonSchemaValueException as exc:
                pytest.fail(f"{version} {action}: quick check passed {mutant!r} ({exc})")
        checked += 1
    assert checked > len(_ODD_VALUES)


def test_a_refused_payload_keeps_its_error() -> None:
    payload = {"connectorId": 1.5, "meterValue": []}
    with pytest.raises(Exception) as refused:
        validation.validate("1.6", "MeterValues", validation.CALL, payload)
    assert refused.value.__class__.__name__ == "TypeConstraintViolationError"
