"""Matching a remote start to the transaction the station then starts (sans-I/O).

2.0.1 stations echo the ``remoteStartId``; 1.6 stations do not, so a 1.6 start is matched by
station, connector and id tag, oldest request first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from csms.domain import Transaction

__all__ = ["PendingStart", "RemoteStarts"]

W = TypeVar("W")


@dataclass(eq=False)
class PendingStart(Generic[W]):
    station_id: str
    remote_start_id: int
    evse_id: int | None
    id_token: str
    waiter: W
    matched: Transaction | None = field(default=None)


class RemoteStarts(Generic[W]):
    """Outstanding remote starts; ``W`` is whatever the I/O layer waits on (a future)."""

    def __init__(self) -> None:
        self._pending: list[PendingStart[W]] = []

    def expect(
        self,
        station_id: str,
        *,
        remote_start_id: int,
        evse_id: int | None,
        id_token: str,
        waiter: W,
    ) -> PendingStart[W]:
        entry = PendingStart(station_id, remote_start_id, evse_id, id_token, waiter)
        self._pending.append(entry)
        return entry

    def discard(self, entry: PendingStart[W]) -> None:
        if entry in self._pending:
            self._pending.remove(entry)

    def match(self, tx: Transaction) -> PendingStart[W] | None:
        """The request ``tx`` fulfils (removed from the outstanding ones), if any."""
        chosen: PendingStart[W] | None = None
        for entry in self._pending:
            if entry.station_id != tx.station_id:
                continue
            if tx.remote_start_id is not None:
                if entry.remote_start_id == tx.remote_start_id:
                    chosen = entry
                    break
                continue
            if entry.id_token == tx.id_token and entry.evse_id in (None, tx.evse_id):
                chosen = entry
                break
        if chosen is not None:
            self._pending.remove(chosen)
            chosen.matched = tx
        return chosen

    def __len__(self) -> int:
        return len(self._pending)
