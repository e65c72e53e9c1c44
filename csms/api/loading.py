"""What a route reads before it answers about one thing (a station, a transaction, a job, a
swap, a webhook): the thing, or a 404 naming what is missing, checked against the caller in
one order everywhere: the role first (a caller whose role may never read such things learns
nothing of which exist: 403), then the thing (404), then the grant of the thing's site (403).
And the station a list's filter names (:func:`queried_station`): known, or a 422.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sized
from typing import TypeVar

from csms.api.auth import Permission, Principal
from csms.api.exceptions import InvalidField, ResourceNotFound
from csms.api.services import ApiServices
from csms.store.base import StationRecord

__all__ = ["found", "load_visible", "queried_station"]

T = TypeVar("T")


def found(value: T | None, missing: str) -> T:
    """``value``, or a 404 saying what is ``missing`` (``"no webhook 'x'"``)."""
    if value is None:
        raise ResourceNotFound(missing)
    return value


async def load_visible(
    who: Principal,
    permission: Permission,
    load: Callable[[], Awaitable[T | None]],
    *,
    missing: str,
    site_of: Callable[[T], str | Awaitable[str | None] | None],
) -> tuple[T, str | None]:
    """What ``load`` reads and its site (``site_of``), for a caller who may ``permission``
    there; the checks in the order of the module docstring."""
    who.require(permission, sited=False)
    value = found(await load(), missing)
    site = site_of(value)
    site_id = await site if inspect.isawaitable(site) else site
    who.require(permission, site_id)
    return value, site_id


async def queried_station(
    services: ApiServices,
    station_id: str,
    *,
    kept_rows: Callable[[], Awaitable[Sized]] | None = None,
    where: tuple[str | int, ...] = ("query", "station_id"),
) -> StationRecord | None:
    """The registered station a filter or a body names; ``None`` for one removed since
    whose rows the list still keeps (``kept_rows``: the first of them, say); anything
    else is an unknown station (422 at ``where``)."""
    record = await services.store.get_station(station_id)
    if record is None and (kept_rows is None or not await kept_rows()):
        raise InvalidField(where, f"unknown station {station_id!r}")
    return record
