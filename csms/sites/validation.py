"""Rules that need the whole site. Problems are ``(location, message)`` pairs; locations are
paths into the site (``nodes[2].parent``, ``stations[0].evses[1].phase``) that the site-file
loader turns into line numbers."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csms.sites.constraints import current_warnings, power_warnings
from csms.sites.exceptions import InvalidSite
from csms.sites.model import GridMeter, NodeKind, PvAsset, Site, StorageAsset

__all__ = ["check_site"]

Problem = tuple[str, str]


def _kw(value_w: float) -> str:
    return f"{value_w / 1000:g} kW"


def _tree(site: Site, errors: list[Problem], warnings: list[Problem]) -> None:
    by_id: dict[str, int] = {}
    for i, node in enumerate(site.nodes):
        if node.id in by_id:
            errors.append((f"nodes[{i}].id", f"node {node.id!r} is defined twice"))
        by_id.setdefault(node.id, i)
    roots = [i for i, n in enumerate(site.nodes) if n.parent is None]
    if not site.nodes:
        errors.append(("nodes", "the site has no limit tree (at least the grid connection)"))
    elif not roots:
        errors.append(("nodes", "no root node (the grid connection has no parent)"))
    elif len(roots) > 1:
        names = ", ".join(repr(site.nodes[i].id) for i in roots)
        errors.append((f"nodes[{roots[1]}].parent", f"more than one root node: {names}"))
    for i, node in enumerate(site.nodes):
        if node.parent is not None and node.parent not in by_id:
            errors.append((f"nodes[{i}].parent", f"no node {node.parent!r}"))
    # Cycles: walk up from each node; a node seen twice on one walk closes a loop.
    reported: set[str] = set()
    for i, node in enumerate(site.nodes):
        path = [node.id]
        current = node.parent
        while current is not None and current in by_id:
            if current in path:
                loop = [*path[path.index(current) :], current]
                if not reported & set(loop):
                    errors.append((f"nodes[{i}].parent", "cycle: " + " -> ".join(loop)))
                    reported.update(loop)
                break
            path.append(current)
            current = site.nodes[by_id[current]].parent
    for i, node in enumerate(site.nodes):
        parent = site.nodes[by_id[node.parent]] if node.parent in by_id else None
        if parent is None:
            continue
        for field, unit in (
            ("max_import_w", "W"),
            ("max_export_w", "W"),
            ("max_phase_current_a", "A"),
        ):
            mine, theirs = getattr(node, field), getattr(parent, field)
            if mine is not None and theirs is not None and mine > theirs:
                shown = (
                    (_kw(mine), _kw(theirs)) if unit == "W" else (f"{mine:g} A", f"{theirs:g} A")
                )
                warnings.append(
                    (
                        f"nodes[{i}].{field}",
                        f"{shown[0]} on {node.id!r} is above its parent {parent.id!r} "
                        f"({shown[1]}); allowed, the parent's limit binds",
                    )
                )
        missing = [p for p in node.phases if p not in parent.phases]
        if missing:
            errors.append(
                (
                    f"nodes[{i}].phases",
                    f"phase {missing[0]} does not exist at parent {parent.id!r} "
                    f"(it has {', '.join(parent.phases)})",
                )
            )


def _stations(site: Site, errors: list[Problem]) -> None:
    nodes = {n.id: n for n in site.nodes}
    seen: set[str] = set()
    for s, station in enumerate(site.stations):
        where = f"stations[{s}]"
        if station.id in seen:
            errors.append((f"{where}.id", f"station {station.id!r} is defined twice"))
        seen.add(station.id)
        if station.node is not None and station.node not in nodes:
            errors.append((f"{where}.node", f"no node {station.node!r}"))
        evse_ids: set[int] = set()
        for e, evse in enumerate(station.evses):
            at = f"{where}.evses[{e}]"
            if evse.id in evse_ids:
                errors.append((f"{at}.id", f"EVSE {evse.id} of {station.id!r} is defined twice"))
            evse_ids.add(evse.id)
            node_id = evse.node or station.node
            if node_id is None:
                errors.append(
                    (
                        at,
                        f"EVSE {evse.id} of station {station.id!r} is on no node "
                        "(give the station or the EVSE a node)",
                    )
                )
                continue
            if evse.node is not None and evse.node not in nodes:
                errors.append((f"{at}.node", f"no node {evse.node!r}"))
                continue
            if node_id not in nodes:
                continue  # reported on the station
            wanted = ["L1", "L2", "L3"] if evse.phase == "L1L2L3" else [evse.phase]
            for ancestor in site.ancestors(node_id):
                present = nodes[ancestor].phases
                missing = [p for p in wanted if p not in present]
                if missing:
                    errors.append(
                        (
                            f"{at}.phase",
                            f"phase {missing[0]} does not exist at node {ancestor!r} "
                            f"(it has {', '.join(present)})",
                        )
                    )
                    break
            if evse.min_current_a > evse.max_current_a:
                errors.append(
                    (
                        f"{at}.min_current_a",
                        f"{evse.min_current_a:g} A is above max_current_a {evse.max_current_a:g} A",
                    )
                )


def _evse_nodes(site: Site, errors: list[Problem]) -> None:
    """An ``evse`` node carries one EVSE's limits: no nodes below it, one EVSE at most."""
    for i, node in enumerate(site.nodes):
        if node.kind is not NodeKind.EVSE:
            continue
        children = [n.id for n in site.nodes if n.parent == node.id]
        if children:
            errors.append(
                (f"nodes[{i}].kind", f"evse node {node.id!r} has nodes below it: {children[0]!r}")
            )
        hanging = [f"{st.id}/{evse.id}" for st, evse, at in site.evses() if at == node.id]
        if len(hanging) > 1:
            errors.append(
                (
                    f"nodes[{i}].kind",
                    f"evse node {node.id!r} holds {len(hanging)} EVSEs "
                    f"({', '.join(hanging)}); it takes one",
                )
            )


def _assets(site: Site, errors: list[Problem]) -> None:
    nodes = {n.id for n in site.nodes}
    assets_by_kind: tuple[tuple[str, tuple[PvAsset | StorageAsset, ...]], ...] = (
        ("pv", site.pv),
        ("storage", site.storage),
    )
    for kind, assets in assets_by_kind:
        ids: set[str] = set()
        for i, asset in enumerate(assets):
            if asset.node not in nodes:
                errors.append((f"{kind}[{i}].node", f"no node {asset.node!r}"))
            if asset.id in ids:
                errors.append((f"{kind}[{i}].id", f"{kind} {asset.id!r} is defined twice"))
            ids.add(asset.id)
    _swap_stations(site, nodes, errors)
    _storage_stations(site, errors)
    _meter(site, errors)
    if not site.tariff.periods:
        errors.append(("tariff.periods", "needs at least one period"))
    starts = [p.start for p in site.tariff.periods]
    if len(set(starts)) != len(starts):
        errors.append(("tariff.periods", "two periods start at the same time"))
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(("timezone", f"unknown time zone {site.timezone!r}"))
    models: set[str] = set()
    for i, quirks in enumerate(site.quirks):
        if quirks.model in models:
            errors.append((f"quirks[{i}].model", f"quirks for {quirks.model!r} given twice"))
        models.add(quirks.model)


def _swap_stations(site: Site, nodes: set[str], errors: list[Problem]) -> None:
    ids: set[str] = set()
    stations = {s.id for s in site.stations}
    for i, swap in enumerate(site.swap):
        if swap.node not in nodes:
            errors.append((f"swap[{i}].node", f"no node {swap.node!r}"))
        if swap.id in ids:
            errors.append((f"swap[{i}].id", f"swap station {swap.id!r} is defined twice"))
        ids.add(swap.id)
        if swap.station in stations:
            errors.append((f"swap[{i}].station", f"station {swap.station!r} is also under "
                           "[[stations]]: its rack is planned as one load"))  # fmt: skip
        if swap.max_pack_power_w > swap.max_rack_power_w:
            errors.append((f"swap[{i}].max_pack_power_w", "is above max_rack_power_w"))


def _storage_stations(site: Site, errors: list[Problem]) -> None:
    """A storage unit that speaks OCPP is a station of the site with one EVSE of its own,
    not one of the station's charging EVSEs, and no other unit on it."""
    taken: dict[tuple[str, int], str] = {}
    for i, unit in enumerate(site.storage):
        if unit.station is None:
            continue
        station = site.station(unit.station)
        if station is None:
            errors.append((f"storage[{i}].station", f"no station {unit.station!r} in the site"))
            continue
        if any(evse.id == unit.evse for evse in station.evses):
            errors.append(
                (
                    f"storage[{i}].evse",
                    f"EVSE {unit.evse} of {unit.station!r} is listed as a charging EVSE "
                    "(a storage unit's EVSE is not listed under the station's evses)",
                )
            )
        key = (unit.station, unit.evse)
        if key in taken:
            errors.append(
                (
                    f"storage[{i}].evse",
                    f"{unit.station}/{unit.evse} is already storage unit {taken[key]!r}",
                )
            )
        taken[key] = unit.id


def _meter(site: Site, errors: list[Problem]) -> None:
    """A grid meter or PV plant that speaks OCPP reports on an EVSE of one of the site's
    stations that is neither a charging EVSE nor a storage unit's, nor another meter's."""
    meters: list[tuple[str, GridMeter | PvAsset]] = [("meter", site.meter)] if site.meter else []
    meters += [(f"pv[{i}]", plant) for i, plant in enumerate(site.pv)]
    taken: dict[tuple[str, int], str] = {}
    for where, meter in meters:
        if meter is None or meter.station is None:
            continue
        station = site.station(meter.station)
        if station is None:
            errors.append((f"{where}.station", f"no station {meter.station!r} in the site"))
            continue
        key = (meter.station, meter.evse)
        if any(evse.id == meter.evse for evse in station.evses):
            errors.append((
                f"{where}.evse",
                f"EVSE {meter.evse} of {meter.station!r} is a charging EVSE (a meter reports "
                "on EVSE 0, the station's main meter, or an EVSE of its own)",
            ))  # fmt: skip
        for i, unit in enumerate(site.storage):
            if (unit.station, unit.evse) == key:
                errors.append((f"{where}.evse", f"{key[0]}/{key[1]} is storage[{i}]'s EVSE"))
        if key in taken:
            errors.append((f"{where}.evse", f"{key[0]}/{key[1]} is already {taken[key]}'s"))
        taken.setdefault(key, where)


def _below_minimum(site: Site, warnings: list[Problem]) -> None:
    """A node limit below the minimum of every EVSE under it: allowed (the EVSEs pause), but
    worth saying. (Below the sum of their minimums is what load management is for.)"""
    for i, node in enumerate(site.nodes):
        if node.max_import_w is not None:
            for message in power_warnings(site, node.id, node.max_import_w, all_at_once=False):
                warnings.append((f"nodes[{i}].max_import_w", message))
        if node.max_phase_current_a is not None:
            for message in current_warnings(
                site, node.id, node.max_phase_current_a, all_at_once=False
            ):
                warnings.append((f"nodes[{i}].max_phase_current_a", message))


def check_site(site: Site) -> list[Problem]:
    """Raise :class:`InvalidSite` listing every error; return the warnings (e.g. a child
    limit above its parent's, or a limit below the minimum of every EVSE under it, which
    are allowed)."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    _tree(site, errors, warnings)
    _stations(site, errors)
    _evse_nodes(site, errors)
    _assets(site, errors)
    if errors:
        raise InvalidSite(errors)
    _below_minimum(site, warnings)
    return warnings
