"""A 1.6 StartTransaction is a resend only of the same station's start: two stations that
send the same connector, id tag, meter start and timestamp open two transactions, and a
resend from either gets its own one back (on every store)."""

from __future__ import annotations

from typing import Any

from csms.app import Csms
from csms.store import Store
from tests.integration.csms.conftest import PASSWORD
from tests.integration.csms.stations import raw_connect
from tests.integration.csms.test_durability import BOOT16, rpc

START = {"connectorId": 1, "idTag": "FLEET", "meterStart": 0, "timestamp": "2026-03-02T07:00:00Z"}


async def _start(ws: Any, unique_id: str) -> int:
    answer = await rpc(ws, unique_id, "StartTransaction", START)
    assert answer[0] == 3, answer
    tx_id: int = answer[2]["transactionId"]
    return tx_id


async def test_identical_starts_on_two_stations_are_two_transactions(
    csms: Csms, store: Store
) -> None:
    async with (
        raw_connect(csms.url, "CP16", password=PASSWORD) as one,
        raw_connect(csms.url, "OTHER", password=PASSWORD) as other,
    ):
        for ws in (one, other):
            assert (await rpc(ws, "b", "BootNotification", BOOT16))[0] == 3
        first = await _start(one, "s1")
        second = await _start(other, "s2")
        assert first != second
        # A resend is still a resend, each to its own station's transaction.
        assert await _start(one, "s1-again") == first
        assert await _start(other, "s2-again") == second
    txs = {tx.id: tx.station_id for tx in await store.list_transactions()}
    assert txs == {first: "CP16", second: "OTHER"}
