"""What a route reads before it answers about one thing (a station, a transaction, a job, a
swap, a webhook): the thing, or a 404 naming what is missing, checked against the caller in
one order everywhere: the role first (a caller whose role may never read such things learns
nothing of which exist: 403), then the thing (404), then the grant of the thing's site (403).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from csms.api.auth import Permission, Principal
from csms.api.exceptions import ResourceNotFound

__all__ = ["found", "load_visible"]

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
