"""Times named in a query string: with a time zone offset, within the years a query may
name, and in order; each refusal a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

from csms.api.exceptions import InvalidField

__all__ = ["EARLIEST", "LATEST", "require_aware", "require_order", "require_times"]

#: the times a request may name (telemetry holds nothing outside; no arithmetic overflows)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def require_aware(name: str, value: datetime | None) -> None:
    """Refuse a query time without a time zone offset, naming the parameter."""
    if value is not None and value.tzinfo is None:
        raise InvalidField(("query", name), "must include a time zone offset")


def require_times(*named: tuple[str, datetime | None], bounded: bool = False) -> None:
    """Refuse, in the order given, a ``(name, time)`` without a time zone offset and, when
    ``bounded``, one outside :data:`EARLIEST` .. :data:`LATEST`."""
    for name, value in named:
        require_aware(name, value)
        if bounded and value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidField(("query", name), f"must be between {EARLIEST:%Y} and {LATEST:%Y}")


def require_order(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("since", "until")
) -> None:
    """Refuse an end that is not after the start (when both are given), naming the end."""
    if since is not None and until is not None and until <= since:
        raise InvalidField(("query", names[1]), f"{names[1]} must be after {names[0]}")
