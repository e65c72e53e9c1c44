"""Transactions through the API: filters, one by id, and the CSV export with energy and cost
under the site's time-of-use tariff and a price signal."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta

from csms.domain import MeterSample
from csms.store.base import NewTransaction, StoredSample
from tests.integration.api.conftest import START, Api

P = "/api/v1"


async def seed(api: Api) -> list[int]:
    """Three sessions: CP1 (TAG-A, 05:30-06:30, 10 kWh), CP2 (TAG-B, 06:00, running),
    FAR (TAG-A, other site, 06:00-07:00)."""
    store = api.csms.store
    ids = []
    for station, token, start_min, stop_min, stop_wh in (
        ("CP1", "TAG-A", -30, 30, 11_000.0),
        ("CP2", "TAG-B", 0, None, None),
        ("FAR", "TAG-A", 0, 60, 5_000.0),
    ):
        tx, _ = await store.open_transaction(
            NewTransaction(
                station_id=station,
                evse_id=1,
                connector_id=1,
                started_at=START + timedelta(minutes=start_min),
                id_token=token,
                meter_start_wh=1_000.0,
                start_key=f"{station}-{token}",
            )
        )
        if stop_min is not None:
            tx = dataclasses.replace(
                tx,
                stopped_at=START + timedelta(minutes=stop_min),
                meter_stop_wh=stop_wh,
                stop_reason="Local",
            )
            await store.save_transaction(tx)
        ids.append(tx.id)
    # CP1's register halfway: 4 kWh before 06:00 at the night price, 6 kWh after.
    await store.add_samples(
        [
            StoredSample(
                "CP1",
                1,
                1,
                ids[0],
                MeterSample(START, "Energy.Active.Import.Register", 5_000.0, "Wh"),
            )
        ]
    )
    return ids


async def set_tariff(api: Api) -> None:
    async with api.client("admin") as a:
        r = await a.put(
            f"{P}/sites/depot/tariff",
            json={
                "currency": "EUR",
                "periods": [
                    {"start": "00:00:00", "import_price_per_kwh": 0.10},
                    {"start": "06:00:00", "import_price_per_kwh": 0.30},
                ],
            },
        )
        assert r.status_code == 200, r.text


async def test_filters(api: Api) -> None:
    cp1, cp2, far = await seed(api)
    async with api.client("admin") as a, api.client("fleet_manager") as f:
        every = [t["id"] for t in (await a.get(f"{P}/transactions")).json()]
        by_token = [
            t["id"] for t in (await a.get(f"{P}/transactions", params={"id_token": "TAG-A"})).json()
        ]
        by_station = [
            t["id"] for t in (await a.get(f"{P}/transactions", params={"station_id": "CP2"})).json()
        ]
        active = [
            t["id"] for t in (await a.get(f"{P}/transactions", params={"active": True})).json()
        ]
        since = [
            t["id"]
            for t in (
                await a.get(f"{P}/transactions", params={"since": "2026-03-02T06:00:00Z"})
            ).json()
        ]
        granted = [t["id"] for t in (await f.get(f"{P}/transactions")).json()]
        far_for_fleet = await f.get(f"{P}/transactions/{far}")
        naive = await a.get(f"{P}/transactions", params={"since": "2026-03-02T06:00:00"})
        backwards = await a.get(
            f"{P}/transactions",
            params={"since": "2026-03-02T07:00:00Z", "until": "2026-03-02T06:00:00Z"},
        )
        missing = await a.get(f"{P}/transactions/999")
    assert every == [cp1, cp2, far]
    assert by_token == [cp1, far]
    assert by_station == [cp2]
    assert active == [cp2]
    assert since == [cp2, far]
    assert granted == [cp1, cp2]
    assert far_for_fleet.status_code == 403
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["query", "since"]
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == [
        "query",
        "until",
    ]
    assert missing.status_code == 404


async def test_csv_export_with_energy_and_cost(api: Api) -> None:
    cp1, cp2, _far = await seed(api)
    await set_tariff(api)
    async with api.client("fleet_manager") as f:
        r = await f.get(f"{P}/transactions.csv")
        one = (await f.get(f"{P}/transactions/{cp1}")).json()
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == [str(cp1), str(cp2)]
    first = rows[0]
    assert (first["station_id"], first["site_id"], first["id_token"]) == ("CP1", "depot", "TAG-A")
    assert float(first["energy_wh"]) == 10_000.0
    # 4 kWh from 05:30 to 06:00 (midpoint 05:45, 0.10) + 6 kWh from 06:00 to 06:30 (0.30)
    assert float(first["cost"]) == 0.4 + 1.8
    assert first["currency"] == "EUR"
    assert (rows[1]["energy_wh"], rows[1]["cost"], rows[1]["stopped_at"]) == ("", "", "")
    assert one["cost"] == 2.2 and one["energy_wh"] == 10_000.0


async def test_csv_cells_are_not_formulas(api: Api) -> None:
    await api.csms.store.open_transaction(
        NewTransaction(
            station_id="CP1",
            evse_id=1,
            connector_id=1,
            started_at=START,
            id_token="=HYPERLINK(1)",
            start_key="evil",
        )
    )
    async with api.client("admin") as a:
        rows = list(csv.DictReader(io.StringIO((await a.get(f"{P}/transactions.csv")).text)))
    assert rows[0]["id_token"] == "'=HYPERLINK(1)"


async def test_a_price_signal_changes_the_cost(api: Api) -> None:
    cp1, _, _ = await seed(api)
    await set_tariff(api)
    async with api.client("grid_operator") as g, api.client("admin") as a:
        r = await g.post(
            f"{P}/sites/depot/constraints",
            json={
                "node_id": "grid",
                "kind": "price",
                "start": "2026-03-02T06:00:00Z",
                "end": "2026-03-02T08:00:00Z",
                "import_price_per_kwh": 0.5,
            },
        )
        assert r.status_code == 201, r.text
        tx = (await a.get(f"{P}/transactions/{cp1}")).json()
    assert tx["cost"] == round(0.4 + 6 * 0.5, 4)


async def test_sessions_of_an_unknown_station_are_422_but_a_removed_ones_stay(api: Api) -> None:
    cp1, _, _ = await seed(api)
    async with api.client("admin") as a, api.client("fleet_manager") as f:
        assert (await a.delete(f"{P}/stations/CP1")).status_code == 204
        removed = await a.get(f"{P}/transactions", params={"station_id": "CP1"})
        unknown = await a.get(f"{P}/transactions", params={"station_id": "CP-TYPO"})
        unknown_csv = await f.get(f"{P}/transactions.csv", params={"station_id": "CP-TYPO"})
        registered_idle = await a.get(f"{P}/transactions", params={"station_id": "CP2"})
    assert [t["id"] for t in removed.json()] == [cp1]
    for r in (unknown, unknown_csv):
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["query", "station_id"]
        assert r.json()["detail"][0]["msg"] == "unknown station 'CP-TYPO'"
    assert registered_idle.status_code == 200
