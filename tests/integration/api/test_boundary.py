"""The boundary rule through the API: a number that is not finite or not in range is a 422
naming the field, on every route, never a 500; a refused request stores nothing and is in
the audit log as refused; a stored constraint that does not validate (from an earlier
version) never takes the site down."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa

from chargegrid.clock import ManualClock
from csms.api.boundary import non_finite_numbers
from csms.sites import tables as site_tables
from csms.store import SqlStore
from tests.integration.api.conftest import START, Api, start_api

P = "/api/v1"

#: JSON numbers Python's json module reads but no quantity is
NOT_FINITE = ("NaN", "Infinity", "-Infinity", "1e400", "-1e999")


def constraint(kind: str = "cap", **values: Any) -> dict[str, Any]:
    return {
        "node_id": "grid",
        "kind": kind,
        "start": "2026-03-02T06:00:00Z",
        "end": "2026-03-02T08:00:00Z",
        **values,
    }


def with_number(body: dict[str, Any], field: str, number: str) -> str:
    """``body`` as JSON text with ``field`` (a dotted path) set to the raw ``number``."""
    marker = "__NUMBER__"
    data = json.loads(json.dumps(body))
    *parents, last = field.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = marker
    return json.dumps(data).replace(f'"{marker}"', number)


#: (method, path, body, field): every write that takes a number from the grid operator,
#: admin or site energy management
WRITES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/sites/depot/constraints", constraint(max_import_w=1.0), "max_import_w"),
    ("POST", "/sites/depot/constraints", constraint(max_export_w=1.0), "max_export_w"),
    (
        "POST",
        "/sites/depot/constraints",
        constraint(max_phase_current_a=1.0),
        "max_phase_current_a",
    ),
    ("POST", "/sites/depot/constraints", constraint("reduce", reduce_to_w=1.0), "reduce_to_w"),
    (
        "POST",
        "/sites/depot/constraints",
        constraint("reduce", reduce_by_pct=1.0),
        "reduce_by_pct",
    ),
    (
        "POST",
        "/sites/depot/constraints",
        constraint("price", import_price_per_kwh=1.0),
        "import_price_per_kwh",
    ),
    (
        "PUT",
        "/sites/depot/nodes/feeder-a",
        {"id": "feeder-a", "kind": "feeder", "parent": "grid", "max_import_w": 1.0},
        "max_import_w",
    ),
    (
        "PUT",
        "/sites/depot/nodes/feeder-a",
        {"id": "feeder-a", "kind": "feeder", "parent": "grid", "voltage_v": 230.0},
        "voltage_v",
    ),
    (
        "PUT",
        "/sites/depot/tariff",
        {"periods": [{"start": "00:00", "import_price_per_kwh": 0.2}]},
        "periods.0.import_price_per_kwh",
    ),
    ("PUT", "/sites/depot/tariff", {"demand_charge_per_kw": 1.0}, "demand_charge_per_kw"),
    (
        "POST",
        "/sites/depot/readings",
        {"pv": [{"pv_id": "roof", "power_w": 1.0}]},
        "pv.0.power_w",
    ),
    (
        "POST",
        "/sites/depot/readings",
        {"storage": [{"storage_id": "bess", "power_w": 1.0, "soc_pct": 50.0}]},
        "storage.0.soc_pct",
    ),
]


def _loc(field: str) -> list[str | int]:
    return ["body", *(int(p) if p.isdigit() else p for p in field.split("."))]


def test_the_strict_reader_finds_every_number_json_does_not_allow() -> None:
    body = '{"a": NaN, "b": [1, Infinity, {"c": -Infinity}], "d": 1e400, "e": 1.5, "f": 7}'
    assert non_finite_numbers(body) == [
        (("a",), "NaN"),
        (("b", 1), "Infinity"),
        (("b", 2, "c"), "-Infinity"),
        (("d",), "1e400"),
    ]
    assert non_finite_numbers('{"big": ' + "9" * 400 + "}") == [(("big",), "9" * 400)]
    assert non_finite_numbers('{"ok": 1e300, "n": -5}') == []
    assert non_finite_numbers("not json") == []  # FastAPI answers that one


@pytest.mark.parametrize("number", NOT_FINITE)
@pytest.mark.parametrize(("method", "path", "body", "field"), WRITES)
async def test_a_number_that_is_not_finite_is_a_422_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], field: str, number: str
) -> None:
    role = "admin" if "tariff" in path else "grid_operator"
    assert api.csms.sites is not None
    revision = await api.csms.sites.revision("depot")
    async with api.client(role) as c:
        r = await c.request(
            method,
            P + path,
            content=with_number(body, field, number),
            headers={"Content-Type": "application/json"},
        )
        listed = await c.get(f"{P}/sites/depot/constraints")
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == _loc(field)
    assert number in error["msg"]
    # nothing stored, and the site still answers
    assert listed.status_code == 200 and listed.json() == []
    assert await api.csms.sites.revision("depot") == revision


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_import_w", 1e300),
        ("max_import_w", -1.0),
        ("max_phase_current_a", 1e12),
    ],
)
async def test_a_finite_number_out_of_range_is_a_422(api: Api, field: str, value: float) -> None:
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/constraints", json=constraint(**{field: value}))
        listed = await c.get(f"{P}/sites/depot/constraints")
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["body", field]]
    assert listed.json() == []


async def test_a_nan_query_parameter_is_a_422_not_a_500(api: Api) -> None:
    async with api.client("admin") as c:
        r = await c.get(f"{P}/jobs/nope", params={"wait_s": "nan"})
        inf = await c.get(f"{P}/jobs/nope", params={"wait_s": "inf"})
    assert (r.status_code, inf.status_code) == (422, 422)
    assert r.json()["detail"][0]["loc"] == ["query", "wait_s"]


async def test_a_refused_write_is_audited_as_refused_and_stores_nothing(api: Api) -> None:
    body = with_number(constraint("price", import_price_per_kwh=1.0), "import_price_per_kwh", "NaN")
    async with api.client("grid_operator") as c:
        refused = await c.post(
            f"{P}/sites/depot/constraints",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        on_no_node = await c.post(
            f"{P}/sites/depot/constraints", json=constraint(node_id="nowhere", max_import_w=1.0)
        )
        later = await c.post(f"{P}/sites/depot/constraints", json=constraint(max_import_w=9e4))
        answers = [
            (await c.get(f"{P}/sites/depot/{what}")).status_code
            for what in ("limits", "power", "plan", "constraints")
        ]
    async with api.client("admin") as a:
        audit = (await a.get(f"{P}/audit", params={"action": "constraint.create"})).json()
    assert (refused.status_code, on_no_node.status_code, later.status_code) == (422, 422, 201)
    assert answers == [200, 200, 200, 200]
    assert sorted(e["result"] for e in audit) == ["ok", "refused", "refused"]
    by_result = {e["result"]: e for e in audit}
    assert by_result["ok"]["target"] == later.json()["constraint"]["id"]
    assert by_result["refused"]["actor"] == "grid_operator"
    assert by_result["refused"]["site_id"] == "depot"


# -- a stored row that no longer validates -----------------------------------------------
@pytest.fixture
async def sql_api(tmp_path: Any) -> Any:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/boundary.db")
    await store.open()
    csms, running = await start_api(store, ManualClock(START))
    try:
        yield running, store
    finally:
        await running.server.stop()
        await csms.stop()
        await store.close()


async def _insert_raw(store: SqlStore, **values: Any) -> None:
    row = {
        "site_id": "depot",
        "node_id": "grid",
        "kind": "cap",
        "source": "old-version",
        "priority": 0,
        "start": START,
        "end": START.replace(hour=10),
        "created_at": START,
        **values,
    }
    async with store.engine.begin() as conn:
        await conn.execute(sa.insert(site_tables.site_constraints).values(**row))


async def test_a_stored_constraint_that_does_not_validate_never_takes_the_site_down(
    sql_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api, store = sql_api
    await _insert_raw(store, id="bad-price", kind="price", import_price_per_kwh=None)
    await _insert_raw(store, id="bad-cap", max_import_w=float("inf"))
    async with api.client("grid_operator") as c:
        good = await c.post(f"{P}/sites/depot/constraints", json=constraint(max_import_w=70_000.0))
        with caplog.at_level(logging.WARNING, logger="csms.sites.repository"):
            answers = {
                what: await c.get(f"{P}/sites/depot/{what}")
                for what in ("limits", "power", "plan", "constraints")
            }
        one = await c.get(f"{P}/sites/depot/constraints/bad-price")
        deleted = await c.delete(f"{P}/sites/depot/constraints/bad-price")
        gone = await c.get(f"{P}/sites/depot/constraints/bad-price")
        after = (await c.get(f"{P}/sites/depot/constraints")).json()
    assert good.status_code == 201, good.text
    assert {w: r.status_code for w, r in answers.items()} == dict.fromkeys(answers, 200)
    limits = {n["node_id"]: n for n in answers["limits"].json()}
    assert limits["grid"]["max_import_w"] == 70_000.0  # the good one holds, the bad ones not
    listed = {c["id"]: c for c in answers["constraints"].json()}
    assert listed["bad-price"]["invalid"] is True and listed["bad-price"]["problems"]
    assert listed["bad-cap"]["invalid"] is True and listed["bad-cap"]["max_import_w"] is None
    assert listed[good.json()["constraint"]["id"]]["invalid"] is False
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "bad-price" in logged and "bad-cap" in logged
    assert one.status_code == 200 and one.json()["constraint"]["invalid"] is True
    assert deleted.status_code == 200, deleted.text
    assert gone.status_code == 404
    assert sorted(c["id"] for c in after) == sorted(["bad-cap", good.json()["constraint"]["id"]])


async def test_the_planner_skips_a_stored_constraint_that_does_not_validate(
    sql_api: Any,
) -> None:
    api, store = sql_api
    await _insert_raw(store, id="bad-price", kind="price", import_price_per_kwh=None)
    assert api.csms.sites is not None
    assert await api.csms.sites.list_constraints("depot") == []
    assert [c.id for c in await api.csms.sites.list_invalid_constraints("depot")] == ["bad-price"]
    assert await api.csms.sites.price_in_force("depot") == pytest.approx(0.25)


# -- ids -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/sites/depot/nodes/%00", {"id": "\x00", "parent": "grid"}),
        ("PUT", "/sites/depot/nodes/a%0Ab", {"id": "a\nb", "parent": "grid"}),
        ("PUT", "/sites/depot/nodes/x", {"id": "x", "parent": "grid\x00"}),
        ("POST", "/sites/depot/constraints", constraint(node_id="grid\x07", max_import_w=1.0)),
        ("GET", "/stations/CP%001", None),
        ("GET", "/stations/" + "A" * 49, None),
        ("GET", "/sites/dep%00ot", None),
    ],
)
async def test_an_id_with_a_control_character_or_too_long_is_a_422(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    assert api.csms.sites is not None
    before = await api.csms.sites.get_site("depot")
    async with api.client("admin") as c:
        r = await c.request(method, P + path, json=body)
    assert r.status_code == 422, r.text
    assert await api.csms.sites.get_site("depot") == before


async def test_a_stored_site_that_does_not_validate_is_reported_and_replaceable(
    sql_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api, store = sql_api
    spec = {"id": "old", "nodes": [{"id": "feeder a", "max_import_w": 1e300}]}
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.insert(site_tables.sites).values(
                site_id="old", name="", spec=spec, revision=3, updated_at=START
            )
        )
    assert api.csms.sites is not None
    with caplog.at_level(logging.WARNING, logger="csms.sites.repository"):
        listed = [s.id for s in await api.csms.sites.list_sites()]
    assert listed == ["depot", "other"]  # the others stay planned
    assert "'old'" in caplog.text and "nodes.0.id" in caplog.text
    async with api.client("admin") as c:
        everything = await c.get(f"{P}/sites")
        one = await c.get(f"{P}/sites/old")
        replaced = await c.put(
            f"{P}/sites/old",
            json={"id": "old", "nodes": [{"id": "feeder-a", "max_import_w": 50_000.0}]},
        )
        after = await c.get(f"{P}/sites/old")
        deleted = await c.delete(f"{P}/sites/old")
    assert everything.status_code == 200
    assert [s["id"] for s in everything.json()] == ["depot", "other"]
    assert one.status_code == 409 and "apply it again" in one.json()["detail"]
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["revision"] == 4
    assert after.json()["nodes"][0]["id"] == "feeder-a"
    assert deleted.status_code == 204


async def test_a_refused_admin_write_is_audited_without_the_values_it_carried(api: Api) -> None:
    secret = "pw-too-short"  # refused for its length: the error would carry it
    async with api.client("admin") as a:
        refused = await a.post(
            f"{P}/stations", json={"station_id": "bad id", "password": secret, "x": 1}
        )
        hook = await a.post(
            f"{P}/webhooks", json={"url": "https://example.org/hook", "secret": secret}
        )
        entries = (await a.get(f"{P}/audit")).json()
    assert (refused.status_code, hook.status_code) == (422, 422)
    refusals = {e["action"]: e for e in entries if e["result"] == "refused"}
    assert set(refusals) == {"station.register", "webhook.create"}
    assert secret not in json.dumps(entries)
    assert ["body", "station_id"] in [
        e["loc"] for e in refusals["station.register"]["detail"]["errors"]
    ]
