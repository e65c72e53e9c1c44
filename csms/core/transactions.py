"""Transaction bookkeeping rules (sans-I/O).

* A 1.6 StartTransaction is identified by its content: a retry with the same connector, id
  tag, meter start and timestamp is the same transaction (:func:`start_key`).
* A 2.0.1 TransactionEvent carries a ``seqNo``: a repeated seqNo is a duplicate and changes
  nothing; an event older than one already applied may add meter values but never rolls the
  state back (charging state, id token); ``Ended`` is final whenever it arrives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from csms.core.meter import register_wh
from csms.domain import Transaction, TransactionEventKind, TransactionUpdate
from csms.store.base import NewTransaction

__all__ = ["Applied", "apply_update", "start_key"]


def start_key(new: NewTransaction) -> str:
    """The identity of a 1.6 StartTransaction for retries: the station, connector, id tag,
    meter start and time of the transaction it opens (the key is unique across stations:
    two stations' identical starts are two transactions)."""
    meter = "" if new.meter_start_wh is None else repr(float(new.meter_start_wh))
    when = new.started_at.isoformat()
    where = f"{new.station_id}|{new.evse_id}/{new.connector_id}"
    return f"{where}|{new.id_token or ''}|{meter}|{when}"


@dataclass(frozen=True, slots=True)
class Applied:
    """The transaction after an update, and what changed."""

    transaction: Transaction
    changed: bool
    ended_now: bool
    late: bool
    #: something beyond the seqNo changed (a seqNo advancing alone is bookkeeping)
    news: bool = True


def apply_update(tx: Transaction, update: TransactionUpdate) -> Applied:
    """Fold ``update`` into a copy of ``tx``."""
    new = dataclasses.replace(tx)
    late = (
        update.seq_no is not None and tx.last_seq_no is not None and update.seq_no < tx.last_seq_no
    )
    if update.seq_no is not None and not late:
        new.last_seq_no = update.seq_no
    if update.offline:
        new.offline = True
    if new.id_token is None and update.id_token is not None:
        new.id_token = update.id_token
    if new.remote_start_id is None and update.remote_start_id is not None:
        new.remote_start_id = update.remote_start_id
    meter = update.meter_wh if update.meter_wh is not None else register_wh(update.samples)
    if update.kind is TransactionEventKind.STARTED and new.meter_start_wh is None:
        new.meter_start_wh = meter
        if update.timestamp < new.started_at:
            new.started_at = update.timestamp
    if not late and update.charging_state is not None and new.stopped_at is None:
        new.charging_state = update.charging_state
    ended_now = False
    if update.kind is TransactionEventKind.ENDED and new.stopped_at is None:
        new.stopped_at = update.timestamp
        new.meter_stop_wh = meter
        new.stop_reason = update.stop_reason
        if update.charging_state is not None:
            new.charging_state = update.charging_state
        ended_now = True
    # One comparison for both questions: with the seqNo put back, is it the same?
    seq_no, new.last_seq_no = new.last_seq_no, tx.last_seq_no
    news = new != tx
    new.last_seq_no = seq_no
    changed = news or seq_no != tx.last_seq_no
    return Applied(new, changed=changed, ended_now=ended_now, late=late, news=news)
