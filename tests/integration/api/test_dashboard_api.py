"""The resources the web dashboard reads: the overview, a site's history, energy reports, a
station's recent OCPP messages and a session's meter curve; their roles, validation and
numbers; and the dashboard's files served beside them."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import timedelta
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.domain import ConnectorStatus, MeterSample, PvReading, StatusReport, StorageReading
from csms.events import (
    DepartureMissed,
    MeterValuesReceived,
    SiteReadingsReceived,
    StatusChanged,
)
from csms.store.base import NewTransaction, StoredSample
from dashboards.web import SECURITY_HEADERS, STATIC_DIR
from tests.integration.api.conftest import START, Api
from tests.waiting import wait_until

P = "/api/v1"


async def _session(
    api: Api,
    station: str,
    token: str,
    *,
    start_min: float,
    stop_min: float | None,
    start_wh: float = 1_000.0,
    stop_wh: float | None = None,
    registers: tuple[tuple[float, float], ...] = (),
) -> int:
    store = api.csms.store
    tx, _ = await store.open_transaction(
        NewTransaction(
            station_id=station,
            evse_id=1,
            connector_id=1,
            started_at=START + timedelta(minutes=start_min),
            id_token=token,
            meter_start_wh=start_wh,
            start_key=f"{station}-{token}-{start_min}",
        )
    )
    await store.add_samples(
        [
            StoredSample(
                station,
                1,
                1,
                tx.id,
                MeterSample(
                    START + timedelta(minutes=m), "Energy.Active.Import.Register", wh, "Wh"
                ),
            )
            for m, wh in registers
        ]
    )
    if stop_min is not None:
        tx = dataclasses.replace(
            tx,
            stopped_at=START + timedelta(minutes=stop_min),
            meter_stop_wh=stop_wh,
            stop_reason="Local",
        )
        await store.save_transaction(tx)
    return tx.id


# -- overview ------------------------------------------------------------------------------
async def test_overview_shows_each_role_its_sites_and_what_it_may_read(api: Api) -> None:
    async with api.client("admin") as a:
        admin = (await a.get(f"{P}/overview")).json()
    async with api.client("fleet_manager") as f:
        fleet = (await f.get(f"{P}/overview")).json()
    async with api.client("grid_operator") as g:
        grid = (await g.get(f"{P}/overview")).json()
    async with api.client() as anonymous:
        refused = await anonymous.get(f"{P}/overview")
    assert [s["site_id"] for s in admin["sites"]] == ["depot", "other"]
    assert [s["site_id"] for s in fleet["sites"]] == ["depot"]
    depot = fleet["sites"][0]
    assert depot["stations"] == {"total": 2, "online": 0, "offline": 2, "faulted": 0}
    assert (depot["evses"], depot["limit_w"], depot["power_w"]) == (4, 100_000.0, 0.0)
    assert depot["active_sessions"] == 0 and depot["energy_today_wh"] == 0.0
    # grid operators see power and limits, no station or session figures
    (operated,) = grid["sites"]
    assert operated["stations"] is None and operated["active_sessions"] is None
    assert operated["energy_today_wh"] is None and operated["cost_today"] is None
    assert refused.status_code == 401


async def test_overview_energy_and_cost_of_todays_sessions(api: Api) -> None:
    # 06:00 UTC is the site's (UTC) day; a session from yesterday does not count
    await _session(api, "CP1", "TAG-A", start_min=10, stop_min=70, stop_wh=11_000.0)
    await _session(api, "CP2", "TAG-B", start_min=20, stop_min=None, registers=((40, 3_500.0),))
    await _session(api, "CP1", "TAG-C", start_min=-8 * 60, stop_min=-7 * 60, stop_wh=9_000.0)
    async with api.client("fleet_manager") as f:
        (depot,) = (await f.get(f"{P}/overview")).json()["sites"]
    # 10 kWh ended + 2.5 kWh so far, at the default tariff of 0.25 per kWh
    assert depot["energy_today_wh"] == pytest.approx(12_500.0)
    assert depot["cost_today"] == pytest.approx(3.12, abs=0.01)
    assert depot["active_sessions"] == 1


async def test_overview_alerts(api: Api) -> None:
    store = api.csms.store
    fault = StatusReport("CP1", 2, 1, ConnectorStatus.FAULTED, START, error_code="GroundFailure")
    await store.record_status(fault)  # as the central system does: store, then tell the bus
    api.csms.bus.publish(StatusChanged(fault))
    async with api.client("grid_operator") as g:
        created = await g.post(
            f"{P}/sites/depot/constraints",
            json={
                "node_id": "grid",
                "kind": "cap",
                "start": START.isoformat(),
                "end": (START + timedelta(hours=2)).isoformat(),
                "max_import_w": 60_000,
                "source": "dso-east",
            },
        )
        assert created.status_code == 201, created.text
    api.csms.bus.publish(DepartureMissed("depot", "CP2", 1, 7, 4_200.0, START))
    async with api.client("fleet_manager") as f:
        (depot,) = (await f.get(f"{P}/overview")).json()["sites"]
    async with api.client("grid_operator") as g:
        (operated,) = (await g.get(f"{P}/overview")).json()["sites"]
    kinds = {a["kind"]: a for a in depot["alerts"]}
    assert set(kinds) == {
        "station_faulted",
        "constraint_in_force",
        "departure_missed",
    }
    assert depot["alerts"][0]["kind"] == "station_faulted"  # critical first
    assert "GroundFailure" in kinds["station_faulted"]["message"]
    assert "dso-east" in kinds["constraint_in_force"]["message"]
    assert "4.2 kWh short" in kinds["departure_missed"]["message"]
    assert depot["limit_w"] == 60_000.0 and depot["constraints_in_force"] == 1
    assert depot["stations"]["faulted"] == 1
    # no station or driver alerts for a grid operator
    assert {a["kind"] for a in operated["alerts"]} == {"constraint_in_force"}


# -- history -------------------------------------------------------------------------------
async def _history(api: Api, role: str = "viewer", **params: Any) -> Any:
    async with api.client(role) as c:
        return await c.get(f"{P}/sites/depot/history", params=params)


async def test_history_windows_add_up_from_telemetry(api: Api, clock: ManualClock) -> None:
    bus = api.csms.bus
    t0 = START
    for minute, (p1, p2, pv, bess) in enumerate(
        [(10_000.0, 5_000.0, 2_000.0, 1_000.0), (11_000.0, 6_000.0, 3_000.0, -500.0)]
    ):
        at = t0 + timedelta(minutes=minute)
        for station, watts in (("CP1", p1), ("CP2", p2)):
            bus.publish(
                MeterValuesReceived(
                    station, 1, 1, None, (MeterSample(at, "Power.Active.Import", watts, "W"),)
                )
            )
        bus.publish(
            SiteReadingsReceived(
                "depot",
                (PvReading("roof", at, pv),),
                (StorageReading("bess", at, 50.0 + minute, bess),),
                at,
            )
        )
    clock.advance(180)
    params = {
        "start": t0.isoformat(),
        "stop": (t0 + timedelta(minutes=2)).isoformat(),
        "window_s": "60",
    }

    async def filled() -> Any:
        body = (await _history(api, **params)).json()
        if body["import_w"][-1] is not None and body["storage_soc_pct"][-1] is not None:
            return body
        return None

    # the telemetry pipeline writes in the background
    body = await wait_until(filled, 30.0, "the history's last window")
    assert body["window_s"] == 60 and len(body["times"]) == 2
    assert body["charging_w"] == [15_000.0, 17_000.0]
    assert body["pv_w"] == [2_000.0, 3_000.0]
    assert body["storage_power_w"] == [1_000.0, -500.0]
    assert body["import_w"] == [14_000.0, 13_500.0]  # EVSEs + storage - PV
    assert body["storage_soc_pct"] == [50.0, 51.0]
    assert body["limit_w"] == [100_000.0, 100_000.0]
    assert body["price_per_kwh"] == [0.25, 0.25]
    assert body["grouped_by"] == "evse"
    per_evse = {s["key"]: s["values"] for s in body["evse_power_w"]}
    assert per_evse["CP1/1"] == [10_000.0, 11_000.0] and per_evse["CP2/2"] == [None, None]
    assert body["problems"] == []


async def test_history_limit_follows_a_constraint_cancelled_later(api: Api) -> None:
    async with api.client("grid_operator") as g:
        created = (
            await g.post(
                f"{P}/sites/depot/constraints",
                json={
                    "node_id": "grid",
                    "kind": "cap",
                    "start": (START + timedelta(minutes=10)).isoformat(),
                    "end": (START + timedelta(hours=2)).isoformat(),
                    "max_import_w": 70_000,
                    "source": "dso-east",
                },
            )
        ).json()
        api.clock.advance(30 * 60)  # type: ignore[attr-defined]
        await g.delete(f"{P}/sites/depot/constraints/{created['constraint']['id']}")
    body = (
        await _history(
            api,
            start=START.isoformat(),
            stop=(START + timedelta(minutes=40)).isoformat(),
            window_s="600",
        )
    ).json()
    # in force from 06:10 until it was cancelled at 06:30
    assert body["limit_w"] == [100_000.0, 70_000.0, 70_000.0, 100_000.0]


async def test_history_defaults_to_complete_windows(api: Api, clock: ManualClock) -> None:
    clock.advance(45)  # 06:00:45
    body = (await _history(api)).json()
    assert body["stop"] == "2026-03-02T06:00:30Z" and body["window_s"] == 30
    assert len(body["times"]) == 240


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start": "2026-03-02T06:00:00"}, ["query", "start"]),
        ({"start": "2026-03-02T07:00:00Z", "stop": "2026-03-02T06:00:00Z"}, ["query", "stop"]),
        ({"start": "2026-01-01T00:00:00Z", "stop": "2026-03-02T06:00:00Z"}, ["query", "start"]),
        (
            {"start": "2026-03-01T00:00:00Z", "stop": "2026-03-02T06:00:00Z", "window_s": "10"},
            ["query", "window_s"],
        ),
        ({"window_s": "5"}, ["query", "window_s"]),
        ({"start": "9999-12-31T00:00:00Z", "stop": "9999-12-31T23:59:59Z"}, ["query", "start"]),
        ({"stop": "0001-01-01T00:00:00Z"}, ["query", "stop"]),
        ({"site": "depot"}, ["query", "site"]),
    ],
)
async def test_history_refuses_bad_ranges(api: Api, params: dict[str, str], loc: list[str]) -> None:
    response = await _history(api, **params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


async def test_history_needs_the_site_granted(api: Api) -> None:
    assert (await _history(api, "viewer_other")).status_code == 403
    async with api.client("admin") as a:
        assert (await a.get(f"{P}/sites/nowhere/history")).status_code == 404


# -- reports -------------------------------------------------------------------------------
async def test_energy_report_per_day_token_and_vehicle_group(api: Api) -> None:
    assert api.csms.sites is not None
    site = await api.csms.sites.get_site("depot")
    from csms.sites import FleetDefaults

    await api.csms.sites.apply(
        site.model_copy(update={"fleets": (FleetDefaults(id="vans", token_prefix="VAN"),)})
    )
    await _session(api, "CP1", "VAN-1", start_min=-60, stop_min=-30, stop_wh=5_000.0)
    await _session(api, "CP2", "VAN-2", start_min=-24 * 60, stop_min=-23 * 60, stop_wh=3_000.0)
    await _session(api, "CP1", "CARD-9", start_min=-10, stop_min=20, stop_wh=2_000.0)
    await _session(api, "FAR", "VAN-3", start_min=-10, stop_min=20, stop_wh=9_000.0)
    since = (START - timedelta(days=2)).isoformat()
    async with api.client("fleet_manager") as f:
        by_day = (await f.get(f"{P}/reports/energy", params={"since": since})).json()
        by_group = (
            await f.get(f"{P}/reports/energy", params={"since": since, "group_by": "vehicle_group"})
        ).json()
        by_token = (
            await f.get(f"{P}/reports/energy", params={"since": since, "group_by": "id_token"})
        ).json()
        as_csv = await f.get(
            f"{P}/reports/energy.csv", params={"since": since, "group_by": "vehicle_group"}
        )
    rows = {r["key"]: (r["sessions"], r["energy_wh"]) for r in by_day["rows"]}
    assert rows == {"2026-03-01": (1, 2_000.0), "2026-03-02": (2, 5_000.0)}
    groups = {r["key"]: (r["sessions"], r["energy_wh"]) for r in by_group["rows"]}
    assert groups == {"(no vehicle group)": (1, 1_000.0), "vans": (2, 6_000.0)}
    tokens = {r["key"]: r["energy_wh"] for r in by_token["rows"]}
    assert tokens == {"CARD-9": 1_000.0, "VAN-1": 4_000.0, "VAN-2": 2_000.0}  # not FAR's
    assert by_day["total_sessions"] == 3 and by_day["total_energy_wh"] == 7_000.0
    assert (
        by_day["rows"][0]["cost"] == pytest.approx(0.5) and by_day["rows"][0]["currency"] == "EUR"
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["key"], r["energy_wh"]) for r in parsed] == [
        ("(no vehicle group)", "1000.0"),
        ("vans", "6000.0"),
    ]


async def test_energy_report_roles_and_validation(api: Api) -> None:
    async with api.client("grid_operator") as g:
        assert (await g.get(f"{P}/reports/energy")).status_code == 403
    async with api.client("fleet_manager") as f:
        other = await f.get(f"{P}/reports/energy", params={"site_id": "other"})
        backwards = await f.get(
            f"{P}/reports/energy",
            params={"since": "2026-03-02T06:00:00Z", "until": "2026-03-01T06:00:00Z"},
        )
        naive = await f.get(f"{P}/reports/energy", params={"since": "2026-03-01T06:00:00"})
        unknown = await f.get(f"{P}/reports/energy", params={"group_by": "colour"})
        ancient = await f.get(f"{P}/reports/energy", params={"until": "0001-01-01T00:00:00Z"})
    assert other.status_code == 403
    assert backwards.json()["detail"][0]["loc"] == ["query", "until"]
    assert naive.json()["detail"][0]["loc"] == ["query", "since"]
    assert unknown.status_code == 422
    assert ancient.json()["detail"][0]["loc"] == ["query", "until"]


# -- station messages and session curve ----------------------------------------------------
async def test_station_messages_newest_first_redacted(api: Api) -> None:
    log = api.csms.server.message_log
    log.record("CP1", "in", '[2,"a1","Authorize",{"idTag":"TAG-A"}]')
    log.record("CP1", "out", '[3,"a1",{"idTagInfo":{"status":"Accepted"}}]')
    log.record(
        "CP1", "out", '[2,"c1","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3cr3t"}]'
    )
    log.record("CP1", "in", '[3,"c1",{"status":"Accepted"}]')
    log.record("CP1", "in", '[2,"h1","Heartbeat",{}]')
    log.record("CP1", "out", '[4,"x","FormationViolation","bad",{}]')
    log.record("CP1", "in", "not json")
    async with api.client("fleet_manager") as f:
        messages = (await f.get(f"{P}/stations/CP1/messages")).json()
        last_two = (await f.get(f"{P}/stations/CP1/messages", params={"limit": 2})).json()
    text = str(messages)
    assert "s3cr3t" not in text and "TAG-A" not in text
    kinds = [(m["direction"], m["kind"], m["action"]) for m in messages]
    assert kinds == [
        ("in", "invalid", None),
        ("out", "CALLERROR", None),
        ("in", "CALL", "Heartbeat"),
        ("in", "CALLRESULT", "ChangeConfiguration"),
        ("out", "CALL", "ChangeConfiguration"),
        ("out", "CALLRESULT", "Authorize"),
        ("in", "CALL", "Authorize"),
    ]
    assert messages[1]["error_code"] == "FormationViolation"
    assert len(last_two) == 2


async def test_station_messages_roles(api: Api) -> None:
    async with api.client("fleet_manager_other") as f:
        assert (await f.get(f"{P}/stations/CP1/messages")).status_code == 403
    async with api.client("grid_operator") as g:
        assert (await g.get(f"{P}/stations/CP1/messages")).status_code == 403
    async with api.client("admin") as a:
        assert (await a.get(f"{P}/stations/NOPE/messages")).status_code == 404
        bad = await a.get(f"{P}/stations/CP1/messages", params={"limit": 0})
        assert bad.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_session_meter_curve(api: Api) -> None:
    tx_id = await _session(
        api,
        "CP1",
        "TAG-A",
        start_min=0,
        stop_min=None,
        registers=((20, 3_000.0), (10, 2_000.0)),
    )
    await api.csms.store.add_samples(
        [
            StoredSample("CP1", 1, 1, tx_id, MeterSample(START, "Voltage", 230.0, "V")),
            StoredSample(
                "CP1",
                1,
                1,
                tx_id,
                MeterSample(START, "Power.Active.Import", 7_000.0, "W", phase="L1"),
            ),
        ]
    )
    async with api.client("viewer") as v:
        curve = (await v.get(f"{P}/transactions/{tx_id}/meter")).json()
        missing = await v.get(f"{P}/transactions/99999/meter")
    async with api.client("viewer_other") as o:
        refused = await o.get(f"{P}/transactions/{tx_id}/meter")
    assert [(c["measurand"], c["value"]) for c in curve] == [
        ("Energy.Active.Import.Register", 2_000.0),
        ("Energy.Active.Import.Register", 3_000.0),
    ]
    assert missing.status_code == 404 and refused.status_code == 403


async def test_me_says_what_the_role_may_do_and_the_server_time(api: Api) -> None:
    async with api.client("fleet_manager") as f:
        me = (await f.get(f"{P}/me")).json()
    assert "commands:write" in me["permissions"]
    assert "constraints:write" not in me["permissions"]
    assert me["now"] == "2026-03-02T06:00:00Z"


# -- the dashboard's files -----------------------------------------------------------------
async def test_the_dashboard_is_served_with_its_files_and_headers(api: Api) -> None:
    async with api.client() as c:
        root = await c.get("/dashboard")
        index = await c.get("/dashboard/")
        script = await c.get("/dashboard/js/main.js")
        chart = await c.get("/dashboard/vendor/uplot/uPlot.iife.min.js")
        missing = await c.get("/dashboard/js/nowhere.js")
        top = await c.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/dashboard/"
    assert top.status_code == 307
    assert index.status_code == 200 and "<title>chargegrid dashboard</title>" in index.text
    for header, value in SECURITY_HEADERS.items():
        assert index.headers[header] == value
    assert script.headers["content-type"].startswith("text/javascript")
    assert chart.status_code == 200 and len(chart.content) > 10_000
    assert missing.status_code == 404 and "Not found" in missing.text
    assert "Traceback" not in missing.text


async def test_the_dashboards_files_are_revalidated_and_compressed(api: Api) -> None:
    async with api.client() as c:
        first = await c.get("/dashboard/js/main.js", headers={"Accept-Encoding": "gzip"})
        again = await c.get(
            "/dashboard/js/main.js", headers={"If-None-Match": first.headers["etag"]}
        )
        head = await c.head("/dashboard/app.css")
        posted = await c.post("/dashboard/index.html")
        sneaky = await c.get("/dashboard/..%2Fweb.py")
    assert first.headers["content-encoding"] == "gzip"
    assert first.text == (STATIC_DIR / "js" / "main.js").read_text(encoding="utf-8")
    assert again.status_code == 304 and again.content == b""
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert posted.status_code == 405
    assert sneaky.status_code == 404


def test_the_dashboard_loads_nothing_from_other_hosts() -> None:
    """Every script, style and font comes from the package: no URL to another host."""
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert "//cdn" not in text and "fonts.googleapis" not in text, path
            for attr in ("src=", "href="):
                for chunk in text.split(attr)[1:]:
                    target = chunk[1:].split(chunk[0], 1)[0] if chunk[:1] in "\"'" else ""
                    assert not target.startswith(("http:", "https:", "//")), (path, target)


def test_every_module_is_preloaded() -> None:
    """index.html names every module, so the browser fetches them at once (load time)."""
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    modules = {p.relative_to(STATIC_DIR).as_posix() for p in (STATIC_DIR / "js").rglob("*.js")}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', index))
    assert preloaded | {"js/main.js"} == modules
