"""Invalid payloads with exactly one, known defect, and the CALLERROR code the OCPP-J
specification prescribes for it.

A valid payload (generated from the official schema) is changed at one place: a required
field dropped, a value of the wrong JSON type, a string past its maximum length, a value
outside its enumeration or numeric range, a field the schema does not define, an array with
too few or too many items. Because there is exactly one defect, the prescribed code is known:

==========================  ==============================  ==============================
defect                      OCPP 1.6J (OCPP-J 1.6 table)    OCPP 2.0.1 / 2.1 (Part 4, 4.3)
==========================  ==============================  ==============================
required field missing      ProtocolError ("incomplete")    OccurrenceConstraintViolation
wrong JSON type             TypeConstraintViolation         TypeConstraintViolation
string past maxLength       TypeConstraintViolation         TypeConstraintViolation
value outside enumeration   PropertyConstraintViolation     PropertyConstraintViolation
number outside min/max      PropertyConstraintViolation     PropertyConstraintViolation
field not in the schema     FormationViolation              FormatViolation
array too short / too long  OccurenceConstraintViolation    OccurrenceConstraintViolation
==========================  ==============================  ==============================

(1.6 spells the occurrence code ``OccurenceConstraintViolation``; 2.0.1 corrected it.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["EXPECTED", "LENIENT_ENUMS", "Mutation", "expected_code", "mutations"]

EXPECTED: dict[str, tuple[str, str]] = {
    # defect: (1.6 code, 2.0.1 / 2.1 code)
    "missing": ("ProtocolError", "OccurrenceConstraintViolation"),
    "wrong-type": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "too-long": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "bad-enum": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    "below-minimum": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    "above-maximum": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    "extra-property": ("FormationViolation", "FormatViolation"),
    "too-few-items": ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    "too-many-items": ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
}

#: Sampled-value enumerations the central system accepts outside the schema on purpose
#: (unknown measurands and units are answered as usual and counted; decision 0506).
LENIENT_ENUMS = frozenset({"measurand", "unit"})

_WRONG_VALUE = {
    "string": 12345,
    "integer": "12",
    "number": "1.5",
    "boolean": "true",
    "object": "{}",
    "array": "[]",
}


def expected_code(version: str, defect: str) -> str:
    v16, v2 = EXPECTED[defect]
    return v16 if version == "1.6" else v2


@dataclass(frozen=True)
class Mutation:
    defect: str
    path: tuple[str | int, ...]
    payload: dict[str, Any]

    def describe(self) -> str:
        return f"{self.defect} at /{'/'.join(str(p) for p in self.path)}"


def _resolve(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        ref = str(node["$ref"])
        assert ref.startswith("#/definitions/"), ref
        node = root["definitions"][ref.rsplit("/", 1)[1]]
    assert isinstance(node, dict)
    return node


def _set(payload: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def _delete(payload: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return out


def mutations(schema: dict[str, Any], payload: dict[str, Any]) -> list[Mutation]:
    """Every single-defect variant of ``payload`` (valid against ``schema``)."""
    out: list[Mutation] = []
    _object(schema, schema, payload, (), payload, out)
    return out


def _object(
    root: dict[str, Any],
    node: dict[str, Any],
    value: dict[str, Any],
    path: tuple[str | int, ...],
    payload: dict[str, Any],
    out: list[Mutation],
) -> None:
    node = _resolve(node, root)
    props: dict[str, Any] = node.get("properties", {})
    if node.get("additionalProperties") is False:
        out.append(
            Mutation(
                "extra-property",
                (*path, "conformanceExtra"),
                _set(payload, (*path, "conformanceExtra"), 1),
            )
        )
    for name in node.get("required", []):
        if name in value:
            out.append(Mutation("missing", (*path, name), _delete(payload, (*path, name))))
    for name, sub in props.items():
        if name not in value:
            continue
        _value(root, name, _resolve(sub, root), value[name], (*path, name), payload, out)


def _value(
    root: dict[str, Any],
    name: str,
    node: dict[str, Any],
    value: Any,
    path: tuple[str | int, ...],
    payload: dict[str, Any],
    out: list[Mutation],
) -> None:
    kind = node.get("type")
    if isinstance(kind, str) and kind in _WRONG_VALUE:
        out.append(Mutation("wrong-type", path, _set(payload, path, _WRONG_VALUE[kind])))
    if "enum" in node and name not in LENIENT_ENUMS:
        out.append(Mutation("bad-enum", path, _set(payload, path, "NotAnOcppValue")))
    elif kind == "string" and "maxLength" in node:
        out.append(Mutation("too-long", path, _set(payload, path, "A" * (node["maxLength"] + 1))))
    if kind in ("integer", "number"):
        if "minimum" in node:
            out.append(Mutation("below-minimum", path, _set(payload, path, node["minimum"] - 1)))
        if "maximum" in node:
            out.append(Mutation("above-maximum", path, _set(payload, path, node["maximum"] + 1)))
    if kind == "object" and isinstance(value, dict):
        _object(root, node, value, path, payload, out)
    if kind == "array" and isinstance(value, list):
        if node.get("minItems", 0) >= 1:
            out.append(Mutation("too-few-items", path, _set(payload, path, [])))
        if "maxItems" in node and value:
            longer = [copy.deepcopy(value[0]) for _ in range(node["maxItems"] + 1)]
            out.append(Mutation("too-many-items", path, _set(payload, path, longer)))
        items = node.get("items")
        if value and isinstance(items, dict):
            item = _resolve(items, root)
            if item.get("type") == "object" and isinstance(value[0], dict):
                _object(root, item, value[0], (*path, 0), payload, out)
