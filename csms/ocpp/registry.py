"""Which connection serves which station now."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["ConnectionRegistry"]

C = TypeVar("C")


class ConnectionRegistry(Generic[C]):
    """One live connection per station id; a new one replaces (and returns) the old one."""

    def __init__(self) -> None:
        self._by_id: dict[str, C] = {}

    def replace(self, station_id: str, connection: C) -> C | None:
        old = self._by_id.get(station_id)
        self._by_id[station_id] = connection
        return old

    def remove(self, station_id: str, connection: C) -> bool:
        """Forget ``connection``; False if another connection has replaced it meanwhile."""
        if self._by_id.get(station_id) is connection:
            del self._by_id[station_id]
            return True
        return False

    def get(self, station_id: str) -> C | None:
        return self._by_id.get(station_id)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)
