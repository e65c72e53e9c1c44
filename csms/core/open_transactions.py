"""The open transactions of the stations connected to this node (sans-I/O).

A 2.0.1 TransactionEvent names its transaction by the station's id for it. Reading the
transaction from the store for every message cost a database round trip per message; the
node keeps instead, per connected station, the station's open transactions as last
committed:

* loaded with one read the first time a station needs them after it connected (so the
  index is rebuilt by itself after a restart, and never holds stations of another node);
* updated only after the store committed a change (a write whose outcome is unknown drops
  the station, whose next message reloads it);
* a transaction leaves the index when it ends; a station leaves it when it disconnects
  (it may reconnect to another node sharing the database).

A station's frames are handled one at a time, so no two updates of one station race.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from csms.domain import EVChargingNeeds, Transaction

__all__ = ["OpenTransactions"]


class OpenTransactions:
    """station id → {station's transaction id → open :class:`Transaction`}."""

    __slots__ = ("_by_station",)

    def __init__(self) -> None:
        self._by_station: dict[str, dict[str, Transaction]] = {}

    def loaded(self, station_id: str) -> bool:
        return station_id in self._by_station

    def load(self, station_id: str, transactions: Iterable[Transaction]) -> None:
        """Replace what is known of ``station_id`` with its open ``transactions``."""
        self._by_station[station_id] = {
            tx.station_tx_id: tx for tx in transactions if tx.station_id == station_id and tx.active
        }

    def get(self, station_id: str, station_tx_id: str) -> Transaction | None:
        txs = self._by_station.get(station_id)
        return None if txs is None else txs.get(station_tx_id)

    def put(self, tx: Transaction) -> None:
        """``tx`` as committed: kept while open, dropped once ended. A station not loaded
        stays unloaded (its next message reads all of its open transactions)."""
        txs = self._by_station.get(tx.station_id)
        if txs is None:
            return
        if tx.active:
            txs[tx.station_tx_id] = tx
        else:
            txs.pop(tx.station_tx_id, None)

    def set_needs(self, station_id: str, transaction_id: int, needs: EVChargingNeeds) -> None:
        """The EV's charging needs were stored on ``transaction_id``."""
        txs = self._by_station.get(station_id)
        if txs is None:
            return
        for key, tx in txs.items():
            if tx.id == transaction_id:
                txs[key] = dataclasses.replace(tx, needs=needs)
                return

    def forget(self, station_id: str) -> None:
        self._by_station.pop(station_id, None)

    def __len__(self) -> int:
        return sum(len(txs) for txs in self._by_station.values())
