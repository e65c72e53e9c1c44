"""``/metrics``: the telemetry pipeline's health in Prometheus text, behind an API token."""

from __future__ import annotations

from csms.sites import Site, SiteStation
from tests.integration.api.conftest import Api
from tests.waiting import wait_until


async def test_metrics_show_the_telemetry_counters_to_any_token(api: Api) -> None:
    async with api.client("viewer") as viewer, api.client() as anonymous:
        answer = await viewer.get("/metrics")
        refused = await anonymous.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    # every metric is declared; the dropped counter has a sample per drop reason once any occur
    names = {line.split()[2] for line in answer.text.splitlines() if line.startswith("# TYPE ")}
    assert {
        "chargegrid_telemetry_outbox_depth_points",
        "chargegrid_telemetry_points_written_total",
        "chargegrid_telemetry_points_retried_total",
        "chargegrid_telemetry_points_dropped_total",
    } <= names
    assert refused.status_code == 401


async def test_metrics_show_the_storage_controllers_counters(api: Api) -> None:
    """A site with an OCPP storage unit: its controller's steps and counters, by site."""
    depot = api.csms.planning.loops["depot"].state.site
    yard = Site(
        id="yard",
        nodes=depot.nodes[:1],
        stations=(SiteStation(id="BESS", node="grid"),),
        # the depot's battery (no station there), here speaking OCPP
        storage=(depot.storage[0].model_copy(update={"station": "BESS"}),),
    )
    assert api.csms.sites is not None
    await api.csms.sites.apply(yard)
    loop = await wait_until(lambda: api.csms.planning.loops.get("yard"), 10, "the yard's loop")
    assert loop is not None and loop.storage is not None
    controller = loop.storage
    await controller.step_once()  # no reading yet: the unit is not counted on
    steps = controller.steps  # its own task may have stepped too
    assert steps >= 1
    async with api.client("viewer") as viewer:
        answer = await viewer.get("/metrics")
    assert answer.status_code == 200
    lines = answer.text.splitlines()
    assert f'chargegrid_storage_steps_total{{site="yard"}} {steps}' in lines
    no_reading = 'chargegrid_storage_exclusions_total{site="yard",reason="no_reading"}'
    assert f"{no_reading} {steps}" in lines
    assert "# TYPE chargegrid_storage_schedules_sent_total counter" in lines
    assert "# TYPE chargegrid_storage_alarms_total counter" in lines
