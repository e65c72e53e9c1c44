"""What applying a site changes: added, removed and changed items (nodes, stations, EVSEs,
assets, tariff, defaults), each changed field with its old and new value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from csms.sites.model import Site

__all__ = ["Change", "diff_sites", "format_diff"]


@dataclass(frozen=True, slots=True)
class Change:
    op: Literal["add", "remove", "change"]
    item: str  # e.g. "node feeder-a", "evse CP001/1", "tariff"
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, old, new) for "change"

    def __str__(self) -> str:
        sign = {"add": "+", "remove": "-", "change": "~"}[self.op]
        if self.op != "change":
            return f"{sign} {self.item}"
        parts = ", ".join(f"{name}: {old!r} -> {new!r}" for name, old, new in self.fields)
        return f"{sign} {self.item}: {parts}"


def _items(site: Site | None) -> dict[str, dict[str, Any]]:
    if site is None:
        return {}
    data = site.model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {
        "site": {"name": data["name"], "timezone": data["timezone"]},
        "tariff": data["tariff"],
        "defaults": data["defaults"],
    }
    for node in data["nodes"]:
        out[f"node {node['id']}"] = node
    for station in data["stations"]:
        evses = station.pop("evses")
        out[f"station {station['id']}"] = station
        for evse in evses:
            out[f"evse {station['id']}/{evse['id']}"] = evse
    for kind in ("pv", "storage", "swap", "fleets"):
        for asset in data[kind]:
            out[f"{kind} {asset['id']}"] = asset
    if data.get("meter") is not None:
        out["meter"] = data["meter"]
    for quirks in data["quirks"]:
        out[f"quirks {quirks['model']}"] = quirks
    return out


def diff_sites(old: Site | None, new: Site) -> list[Change]:
    """The changes that turn ``old`` (``None``: nothing stored yet) into ``new``; empty when
    they are equal."""
    before, after = _items(old), _items(new)
    changes: list[Change] = []
    for item, fields in after.items():
        if item not in before:
            changes.append(Change("add", item))
            continue
        differing = tuple(
            (name, before[item].get(name), value)
            for name, value in fields.items()
            if before[item].get(name) != value
        )
        if differing:
            changes.append(Change("change", item, differing))
    changes.extend(Change("remove", item) for item in before if item not in after)
    return changes


def format_diff(changes: list[Change]) -> str:
    return "\n".join(str(c) for c in changes) if changes else "no changes"
