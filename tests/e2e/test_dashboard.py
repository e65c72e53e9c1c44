"""The web dashboard in headless Chromium, against a running central system with a simulated
fleet on a virtual clock (60x): what a fleet manager, a grid operator and an admin see and do.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import WallClock
from simulators import ConnectorSpec, StationSpec, build_runner
from tests.e2e.conftest import (
    PageErrors,
    Stack,
    StationThread,
    screenshot,
    sign_in,
    wait_for,
)

pytestmark = pytest.mark.slow


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.inner_text())


def test_sign_in_with_the_form_and_watch_a_station_appear(page: Any, stack: Stack) -> None:
    page.goto(stack.dashboard)
    page.wait_for_selector("h1:text-is('Sign in')")
    screenshot(page, "sign-in")
    page.get_by_label("API token").fill(stack.tokens["fleet_manager"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:text-is('Overview')")
    # a fleet manager granted the depot sees the depot and nothing else
    sites = page.locator("section.card").evaluate_all("cards => cards.map(c => c.dataset.site)")
    assert sites == ["depot"]
    online = page.locator("#depot-online")
    wait_for(lambda: online.inner_text().endswith("of 11"), timeout_s=20, what="station counts")
    screenshot(page, "overview")

    page.get_by_role("link", name="Stations", exact=True).click()
    page.wait_for_selector("h1:text-is('Stations')")
    late_row = page.locator("tbody tr", has=page.get_by_role("link", name=stack.late, exact=True))
    assert "offline" in late_row.inner_text()
    assert page.locator("tbody tr").count() == 11
    runner = build_runner(
        StationSpec(station_id=stack.late, ocpp_version="2.0.1", connectors=(ConnectorSpec(),) * 2),
        url=stack.ocpp_url,
        clock=WallClock(),
        password=None,
        response_timeout_s=10.0,
    )
    station = StationThread(runner)
    station.start()
    try:
        # the row turns online by itself: the page does not reload
        page.evaluate("window.cgNoReload = true")
        wait_for(
            lambda: "online" in late_row.inner_text(), timeout_s=30, what=f"{stack.late} online"
        )
        assert page.evaluate("window.cgNoReload") is True
        screenshot(page, "stations")
    finally:
        station.stop()
    wait_for(lambda: "offline" in late_row.inner_text(), timeout_s=30, what="offline again")


def test_site_power_changes_and_the_chart_ends_on_the_api_value(page: Any, stack: Stack) -> None:
    sign_in(page, stack, "admin", "#/sites/depot")
    page.wait_for_selector("h1:text-is('Site Depot Nord')")
    power = page.locator("#kpi-power")
    first = power.get_attribute("data-watts")
    wait_for(
        lambda: power.get_attribute("data-watts") != first,
        timeout_s=30,
        what="site power to change with the meter values",
    )
    chart = page.locator("figure[data-stop]").first
    wait_for(lambda: chart.get_attribute("data-stop"), timeout_s=20, what="the site chart")
    # the tree shows each node's load against its limit
    assert re.search(r"kW of 100\.0 kW", _text(page, "li[data-node='grid']"))

    def chart_matches_api() -> bool:
        start, stop = chart.get_attribute("data-start"), chart.get_attribute("data-stop")
        window = chart.get_attribute("data-window")
        shown = chart.get_attribute("data-last-import-w")
        with stack.api("admin") as api:
            history = api.get(
                "/sites/depot/history", params={"start": start, "stop": stop, "window_s": window}
            ).json()
        value = history["import_w"][-1]
        if value is None or not shown:
            return False
        return abs(float(shown) - value) < 1e-6

    # the chart refreshes every 10 s; a late reading may still change its last window once
    wait_for(chart_matches_api, timeout_s=40, what="the chart's last point to equal the API's")
    table_last = page.locator("figure[data-stop] details table tbody tr").first
    assert table_last.locator("th").text_content()  # the data, as a table for screen readers
    screenshot(page, "site")


def test_follow_a_session_to_its_end(page: Any, stack: Stack) -> None:
    with stack.api("fleet_manager") as api:
        active = wait_for(
            lambda: api.get(
                "/transactions", params={"station_id": stack.followed, "active": "true"}
            ).json(),
            timeout_s=60,
            what=f"a session on {stack.followed}",
        )
    tx_id = active[0]["id"]
    sign_in(page, stack, "fleet_manager", f"#/sessions/{tx_id}")
    page.wait_for_selector(f"h1:text-is('Session #{tx_id}')")
    state = page.locator("#session-state")
    if state.get_attribute("data-state") == "active":
        screenshot(page, "session")
    # the session ends in at most 12 simulated minutes (12 s at 60x)
    wait_for(lambda: state.get_attribute("data-state") == "ended", timeout_s=60, what="the end")
    with stack.api("fleet_manager") as api:
        tx = api.get(f"/transactions/{tx_id}").json()
    assert tx["active"] is False
    # the session's final figures reach the page by the stream, just after its end
    energy = f"{tx['energy_wh'] / 1000:.2f} kWh"
    wait_for(lambda: _text(page, "#session-energy") == energy, timeout_s=30, what="final energy")
    assert _text(page, "#session-cost") == f"€{tx['cost']:.2f}"
    assert page.locator("figure details table tbody tr").count() > 0
    screenshot(page, "session-ended")
    page.get_by_role("link", name="Sessions", exact=True).click()
    page.wait_for_selector(f"a:text-is('#{tx_id}')")
    screenshot(page, "sessions")


def test_send_a_command_and_see_its_result(page: Any, stack: Stack) -> None:
    sign_in(page, stack, "fleet_manager", f"#/stations/{stack.idle}")
    page.wait_for_selector(f"h1:text-is('Station {stack.idle}')")
    form = page.locator("#cmd-start")
    form.get_by_label("EVSE").select_option("1")
    form.get_by_label("Id token").fill(stack.app_token)
    form.get_by_role("button", name="Remote start").click()
    result = page.locator("#command-result .result")
    wait_for(
        lambda: result.get_attribute("data-status") in ("succeeded", "failed"),
        timeout_s=60,
        what="the job's outcome",
    )
    text = result.inner_text()
    assert result.get_attribute("data-status") == "succeeded", text
    tx_id = int(re.search(r"started session #(\d+)", text).group(1))  # type: ignore[union-attr]
    with stack.api("fleet_manager") as api:
        tx = api.get(f"/transactions/{tx_id}").json()
        job = api.get(f"/jobs/{result.get_attribute('data-job')}").json()
    assert (tx["station_id"], tx["evse_id"], tx["id_token"]) == (stack.idle, 1, stack.app_token)
    assert job["status"] == "succeeded"
    # the session appears among the active ones, and the OCPP messages show the exchange
    wait_for(
        lambda: page.locator(
            "section[aria-labelledby='h-sessions'] a", has_text=f"#{tx_id}"
        ).count(),
        timeout_s=30,
        what="the new session in the station's list",
    )
    wait_for(
        lambda: (
            page.locator(
                "table[data-table='messages'] td", has_text="RequestStartTransaction"
            ).count()
            or page.locator(
                "table[data-table='messages'] td", has_text="RemoteStartTransaction"
            ).count()
        ),
        timeout_s=30,
        what="the remote start in the OCPP messages",
    )
    screenshot(page, "station")
    stop = page.locator("#cmd-stop")
    wait_for(
        lambda: stop.get_by_label("Session").inner_text().find(f"#{tx_id}") >= 0,
        timeout_s=20,
        what="the session to stop",
    )
    stop.get_by_label("Session").select_option(str(tx_id))
    stop.get_by_role("button", name="Remote stop").click()
    wait_for(
        lambda: "Remote stop: station answered Accepted" in result.inner_text(),
        timeout_s=60,
        what="the remote stop's outcome",
    )


def test_a_fleet_manager_is_refused_a_grid_operator_action(
    page: Any, context: Any, stack: Stack
) -> None:
    sign_in(page, stack, "fleet_manager", "#/sites/depot")
    page.wait_for_selector("h1:text-is('Site Depot Nord')")
    assert page.get_by_role("link", name="Set a grid constraint").count() == 0
    page.evaluate("window.location.hash = '#/sites/depot/constraint'")
    page.wait_for_selector("h1:text-is('Not allowed')")
    refusal = page.locator("[data-refused='constraints:write']")
    assert "may not set grid constraints" in refusal.inner_text()
    assert page.locator("form#constraint-form").count() == 0
    screenshot(page, "refused")
    # the API refuses it too, whatever a page shows
    with stack.api("fleet_manager") as api:
        refused = api.post(
            "/sites/depot/constraints",
            json={
                "node_id": "grid",
                "kind": "cap",
                "start": "2026-03-02T08:00:00Z",
                "end": "2026-03-02T09:00:00Z",
                "max_import_w": 1000,
                "source": "fleet",
            },
        )
    assert refused.status_code == 403
    # a grid operator sets one through the form and sees it in force, with who set it
    operator = context.new_page()
    errors = PageErrors(operator)
    sign_in(operator, stack, "grid_operator", "#/sites/depot/constraint")
    operator.wait_for_selector("form#constraint-form")
    operator.get_by_label("Node of the limit tree").select_option("grid")
    operator.get_by_label("Import limit (kW)").fill("80")
    operator.get_by_label("Lasting (minutes from now)").fill("30")
    operator.get_by_label("Set by (your organisation or system)").fill("dso-east")
    screenshot(operator, "constraint-form")
    operator.get_by_role("button", name="Set the constraint").click()
    done = operator.locator(".result[data-status='succeeded']")
    wait_for(lambda: done.count(), timeout_s=30, what="the constraint to be set")
    operator.evaluate("window.location.hash = '#/sites/depot'")
    operator.wait_for_selector("tr[data-constraint] th:text-is('dso-east')")
    assert "import ≤ 80.0 kW" in _text(operator, "tr[data-constraint]")
    wait_for(
        lambda: "80.0 kW" in operator.locator("#kpi-limit").inner_text(),
        timeout_s=20,
        what="the limit in force",
    )
    screenshot(operator, "site-constrained")
    errors.check()
    with stack.api("grid_operator") as api:
        for c in api.get("/sites/depot/constraints").json():
            api.delete(f"/sites/depot/constraints/{c['id']}")


def test_the_overview_by_keyboard_alone(page: Any, stack: Stack) -> None:
    sign_in(page, stack, "fleet_manager")

    def focused() -> str:
        return str(
            page.evaluate(
                "() => { const a = document.activeElement;"
                " return `${a.tagName}:${a.id || (a.textContent || '').trim()}`; }"
            )
        )

    # a page opens with the focus on its heading (screen readers read it out)
    assert focused() == "H1:Overview"
    seen = []
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        seen.append(focused())
        if seen[-1] == "A:skip":
            break
    assert seen == [
        "BUTTON:signout",
        "A:Reports",
        "A:Sessions",
        "A:Stations",
        "A:Overview",
        "A:skip",
    ], seen
    # the skip link jumps past the navigation, the next Tab reaches the first site
    page.keyboard.press("Enter")
    assert focused() == "MAIN:main"
    page.keyboard.press("Tab")
    assert focused() == "A:Depot Nord"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused link shows where the focus is"
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:text-is('Site Depot Nord')")
    assert page.url.endswith("#/sites/depot")
    assert focused() == "H1:Site Depot Nord"
    # every control of the site page is reachable and labelled
    for _ in range(3):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "() => { const a = document.activeElement;"
            " return a.getAttribute('aria-label') || (a.textContent || '').trim(); }"
        )
        assert name, "a focusable element without a name"


PAGES = [
    ("overview", "#/", "Overview"),
    ("site", "#/sites/depot", "Site Depot Nord"),
    ("stations", "#/stations", "Stations"),
    ("station", "#/stations/SIM-0003", "Station SIM-0003"),
    ("sessions", "#/sessions", "Sessions"),
    ("reports", "#/reports", "Reports"),
]


@pytest.mark.parametrize(("name", "route", "heading"), PAGES, ids=[p[0] for p in PAGES])
def test_accessibility_audit(
    browser: Any, stack: Stack, name: str, route: str, heading: str
) -> None:
    """axe-core finds no serious or critical violation; at 200 % zoom (a 640 px wide CSS
    viewport) nothing needs horizontal scrolling."""
    from tests.e2e.conftest import AXE

    for zoom, viewport in ((1, {"width": 1280, "height": 900}), (2, {"width": 640, "height": 450})):
        ctx = browser.new_context(viewport=viewport, device_scale_factor=zoom, bypass_csp=True)
        try:
            page = ctx.new_page()
            errors = PageErrors(page)
            sign_in(page, stack, "admin", route)
            page.wait_for_selector(f"h1:text-is('{heading}')")
            page.wait_for_selector("#live[data-state='live'], #live[data-state='idle']")
            if zoom == 1:
                page.add_script_tag(path=str(AXE))
                result = page.evaluate(
                    "async () => { const r = await axe.run(document,"
                    " {resultTypes: ['violations']});"
                    " return r.violations.map(v => ({id: v.id, impact: v.impact,"
                    " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
                )
                bad = [v for v in result if v["impact"] in ("serious", "critical")]
                assert not bad, bad
            else:
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, f"{name} scrolls sideways at 200 % zoom by {overflow} px"
                screenshot(page, f"{name}-zoom200")
            errors.check()
        finally:
            ctx.close()


def test_bad_input_gets_a_clear_page(browser: Any, stack: Stack) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        errors = PageErrors(page)
        page.goto(f"{stack.dashboard}#token=cgk_nope_nope")
        page.wait_for_selector("h1:text-is('Sign in')")
        assert "unknown API token" in _text(page, "[role='alert']")
        page.goto(f"{stack.dashboard}#token=not-a-token")
        page.wait_for_selector("[role='alert']:has-text('malformed API token')")
        # the expiring token lives one simulated hour (a minute of wall time at 60x)
        with stack.api("expiring") as api:
            wait_for(lambda: api.get("/me").status_code == 401, timeout_s=120, what="the expiry")
        page.goto(f"{stack.dashboard}#token={stack.tokens['expiring']}")
        page.wait_for_selector("[role='alert']:has-text('API token expired')")
        screenshot(page, "token-refused")
        sign_in(page, stack, "fleet_manager_workplace", "#/sites/depot")
        page.wait_for_selector("h1:text-is('Not allowed')")
        assert "not granted site 'depot'" in _text(page, "[role='alert']")
        screenshot(page, "site-not-granted")
        page.evaluate("window.location.hash = '#/stations/NO-SUCH-STATION'")
        page.wait_for_selector("h1:text-is('Not found')")
        assert "no station 'NO-SUCH-STATION'" in _text(page, "[role='alert']")
        screenshot(page, "unknown-station")
        page.evaluate("window.location.hash = '#/sessions/999999'")
        page.wait_for_selector("[role='alert']:has-text('no transaction 999999')")
        page.evaluate("window.location.hash = '#/nowhere'")
        page.wait_for_selector("[role='alert']:has-text('There is no page')")
        missing = page.goto(f"{stack.dashboard}js/nowhere.js")
        assert missing is not None and missing.status == 404
        assert "Not found" in page.content() and "Traceback" not in page.content()
        errors.errors = [e for e in errors.errors if "404" not in e and "401" not in e]
        errors.errors = [e for e in errors.errors if "403" not in e]
        errors.check()
    finally:
        ctx.close()


def test_the_stream_survives_a_client_that_stops_reading(page: Any, stack: Stack) -> None:
    host, port = stack.url.removeprefix("http://").split(":")
    stuck = socket.create_connection((host, int(port)))
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(
            (
                "GET /api/v1/events HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                f"Authorization: Bearer {stack.tokens['admin']}\r\n\r\n"
            ).encode()
        )
        # ...and never reads. The dashboard keeps receiving events all the same.
        sign_in(page, stack, "admin", "#/sites/depot")
        page.wait_for_selector("h1:text-is('Site Depot Nord')")
        before = page.evaluate("window.cgStreamStats.received")
        wait_for(
            lambda: page.evaluate("window.cgStreamStats.received") > before + 50,
            timeout_s=60,
            what="the page's stream to keep flowing beside a stuck client",
        )
        assert page.locator("#live").get_attribute("data-state") == "live"
        with stack.api("admin") as api:
            assert api.get("/overview").status_code == 200
    finally:
        stuck.close()


def test_reports_per_vehicle_group_with_a_csv_download(page: Any, stack: Stack) -> None:
    sign_in(page, stack, "fleet_manager", "#/reports")
    page.wait_for_selector("[role='status']:has-text('per day (site time) loaded')")
    page.get_by_label("Per").select_option("vehicle_group")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("[role='status']:has-text('per vehicle group loaded')")
    keys = page.locator("table tbody tr th").all_inner_texts()
    assert "pool-cars" in keys, keys
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "key,sessions,active_sessions,energy_wh,cost,currency"
    assert any(line.startswith("pool-cars,") for line in lines[1:]), lines
    screenshot(page, "reports")
