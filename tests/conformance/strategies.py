"""Hypothesis strategies for payloads valid against an OCPP JSON schema.

The OCA schemas use a small part of JSON Schema (draft 4 for 1.6, draft 6 for 2.0.1 and 2.1):
``type``, ``properties``, ``required``, ``additionalProperties: false``, ``enum``,
``maxLength``, ``minimum``/``maximum``, ``items``/``minItems``/``maxItems``, ``$ref`` into
``definitions`` and ``format: date-time``. :func:`from_schema` covers exactly that and fails
loudly on any other keyword that constrains values, so a schema change cannot silently
produce invalid "valid" payloads. Every payload it draws is checked against the reference
validator by the suite before it is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

__all__ = ["UNSUPPORTED", "date_times", "from_schema"]

#: value-constraining keywords this generator does not implement
UNSUPPORTED = frozenset(
    {
        "pattern",
        "multipleOf",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "minLength",
        "uniqueItems",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "const",
        "patternProperties",
        "dependencies",
    }
)
_IGNORED_FORMATS = frozenset({"uri"})
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# printable text without lone surrogates (JSON text must be valid Unicode)
_TEXT = st.characters(exclude_categories=["Cs"])


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """RFC 3339 date-times in every spelling the grammar allows: ``Z`` or ``z`` or an
    offset, ``T`` or ``t``, no or 1-9 fraction digits, years 0001-9999."""
    offset_min = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    tz = timezone(timedelta(minutes=offset_min))
    # keep the instant inside datetime's range once moved to UTC
    base = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    value = base.replace(tzinfo=tz)
    text = f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S")
    if draw(st.booleans()):
        digits = draw(st.integers(1, 9))
        text += "." + f"{value.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    if offset_min == 0 and draw(st.booleans()):
        text += draw(st.sampled_from(["Z", "z"]))
    else:
        sign = "-" if offset_min < 0 else "+"
        text += f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    if draw(st.booleans()):
        text = text.replace("T", "t")
    return text


def from_schema(schema: dict[str, Any], *, any_integer: bool = True) -> st.SearchStrategy[Any]:
    """Payloads valid against ``schema``. Integers are mostly OCPP's 32-bit ones; with
    ``any_integer`` some are any JSON integer the schema allows (which the central system
    refuses as PropertyConstraintViolation, so leave it off to build single-defect payloads).
    """
    return _node(schema, schema, any_integer)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/definitions/"):
            raise ValueError(f"unsupported $ref {ref}")
        node = root["definitions"][ref.rsplit("/", 1)[1]]
    return node


def _node(node: dict[str, Any], root: dict[str, Any], wide: bool) -> st.SearchStrategy[Any]:
    node = _resolve(node, root)
    unsupported = UNSUPPORTED & node.keys()
    if unsupported:
        raise ValueError(f"schema keyword(s) not supported: {sorted(unsupported)}")
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return _object(node, root, wide)
    if kind == "array":
        item = (
            _node(node["items"], root, wide) if isinstance(node.get("items"), dict) else st.none()
        )
        return st.lists(
            item, min_size=node.get("minItems", 0), max_size=min(node.get("maxItems", 4), 4)
        )
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return date_times()
        if fmt is not None and fmt not in _IGNORED_FORMATS:
            raise ValueError(f"format {fmt} not supported")
        return st.text(_TEXT, max_size=node.get("maxLength", 64))
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        # mostly OCPP's 32-bit integers; now and then any JSON integer
        in_range = st.integers(
            INT_MIN if low is None else max(low, INT_MIN),
            INT_MAX if high is None else min(high, INT_MAX),
        )
        return st.one_of(in_range, in_range, in_range, st.integers(low, high)) if wide else in_range
    if kind == "number":
        low, high = node.get("minimum"), node.get("maximum")
        return st.integers(
            INT_MIN if low is None else int(low), INT_MAX if high is None else int(high)
        ) | st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind is None:  # any JSON value (2.0.1 DataTransfer data)
        return st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(_TEXT, max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(_TEXT, max_size=8), inner, max_size=3)
            ),
            max_leaves=6,
        )
    raise ValueError(f"type {kind!r} not supported")


def _object(
    node: dict[str, Any], root: dict[str, Any], wide: bool
) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    fields = {name: _node(sub, root, wide) for name, sub in props.items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )
