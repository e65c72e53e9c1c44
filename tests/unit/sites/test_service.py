"""SiteService on every repository: idempotent apply with a diff, edits, constraints that
combine to the strictest, cancel, events; SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from chargegrid.clock import ManualClock
from csms.events import (
    ConstraintsChanged,
    DomainEvent,
    EventBus,
    GridConstraintSet,
    SiteChanged,
)
from csms.sites import (
    ConstraintNotFound,
    InvalidConstraint,
    InvalidSite,
    MemorySiteRepository,
    NewConstraint,
    NodeKind,
    NodeNotFound,
    SiteNode,
    SiteNotFound,
    SiteService,
    SqlSiteRepository,
    Tariff,
    TouPeriod,
    parse_site_text,
    repository_for,
)
from csms.sites.constraints import constraint_limits, constraint_warnings, current_warnings
from csms.sites.model import Site
from csms.store import MemoryStore, SqlStore
from tests.integration.store.conftest import _temporary_database
from tests.unit.sites.conftest import DEPOT

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
def depot() -> Site:
    return parse_site_text(DEPOT)[0]


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _temporary_database()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def repo(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MemorySiteRepository | SqlSiteRepository]:
    if request.param == "memory":
        yield MemorySiteRepository()
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = SqlStore(url)
    await store.open()
    try:
        yield SqlSiteRepository(store)
    finally:
        await store.close()


class Harness:
    def __init__(self, repo: MemorySiteRepository | SqlSiteRepository) -> None:
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.events: list[DomainEvent] = []
        self.bus.subscribe(self.events.append)
        self.sites = SiteService(repo, bus=self.bus, clock=self.clock)


@pytest.fixture
def h(repo: MemorySiteRepository | SqlSiteRepository) -> Harness:
    return Harness(repo)


async def test_apply_is_idempotent_and_shows_a_diff(h: Harness, depot: Site) -> None:
    first = await h.sites.apply(depot)
    assert first.revision == 1
    assert [str(c) for c in first.changes][:3] == ["+ site", "+ tariff", "+ defaults"]
    assert len(first.changes) == 3 + 3 + 3 + 4 + 2 + 1 + 1  # nodes, stations, evses, assets, ...
    assert h.events == [SiteChanged("depot", 1, T0)]
    assert await h.sites.get_site("depot") == depot

    again = await h.sites.apply(depot)
    assert again.changes == () and again.revision == 1
    assert len(h.events) == 1

    lower = depot.model_copy(
        update={
            "nodes": (
                depot.nodes[0].model_copy(update={"max_import_w": 120000.0}),
                *depot.nodes[1:],
            )
        }
    )
    third = await h.sites.apply(lower)
    assert [str(c) for c in third.changes] == ["~ node grid: max_import_w: 150000.0 -> 120000.0"]
    assert third.revision == 2
    assert await h.sites.revision("depot") == 2
    assert [s.id for s in await h.sites.list_sites()] == ["depot"]


async def test_invalid_site_applies_nothing(h: Harness, depot: Site) -> None:
    broken = depot.model_copy(
        update={
            "nodes": (
                *depot.nodes,
                SiteNode(id="loop", parent="loop2"),
                SiteNode(id="loop2", parent="loop"),
            )
        }
    )
    with pytest.raises(InvalidSite, match="cycle: loop -> loop2 -> loop"):
        await h.sites.apply(broken)
    with pytest.raises(SiteNotFound):
        await h.sites.get_site("depot")
    assert h.events == []


async def test_edit_nodes_and_tariff(h: Harness, depot: Site) -> None:
    await h.sites.apply(depot)
    result = await h.sites.put_node(
        "depot",
        SiteNode(id="feeder-b", kind=NodeKind.FEEDER, parent="grid", max_import_w=200_000.0),
    )
    assert [str(c) for c in result.changes] == ["+ node feeder-b"]
    assert result.warnings == (
        (
            "nodes[3].max_import_w",
            "200 kW on 'feeder-b' is above its parent 'grid' (150 kW); allowed, the parent's "
            "limit binds",
        ),
    )
    with pytest.raises(InvalidSite, match="no node 'feeder-a'"):
        await h.sites.delete_node("depot", "feeder-a")  # CP1 hangs on it
    await h.sites.delete_node("depot", "feeder-b")
    with pytest.raises(NodeNotFound):
        await h.sites.delete_node("depot", "feeder-b")
    tariff = Tariff(periods=(TouPeriod(start=time(0), import_price_per_kwh=0.2),))
    await h.sites.set_tariff("depot", tariff)
    assert (await h.sites.get_site("depot")).tariff == tariff
    assert await h.sites.revision("depot") == 4
    await h.sites.delete_site("depot")
    assert await h.sites.list_sites() == []
    with pytest.raises(SiteNotFound):
        await h.sites.delete_site("depot")


def _cap(node: str, kw: float, start_h: float, end_h: float, **kw_args: object) -> NewConstraint:
    return NewConstraint(
        node_id=node,
        start=T0 + timedelta(hours=start_h),
        end=T0 + timedelta(hours=end_h),
        max_import_w=kw * 1000,
        **kw_args,  # type: ignore[arg-type]
    )


async def test_constraints_combine_to_the_strictest(h: Harness, depot: Site) -> None:
    await h.sites.apply(depot)
    a, warnings = await h.sites.create_constraint("depot", _cap("grid", 100, 0, 4, source="dso"))
    assert warnings == []
    b, _ = await h.sites.create_constraint(
        "depot", _cap("grid", 80, 1, 2, source="tso", priority=9)
    )
    dr, _ = await h.sites.create_constraint(
        "depot",
        NewConstraint(
            node_id="feeder-a",
            kind="reduce",
            reduce_by_pct=50,
            start=T0,
            end=T0 + timedelta(hours=1),
        ),
    )
    limits = await h.sites.limits_in_force("depot", T0 + timedelta(minutes=30))
    assert (limits["grid"].max_import_w, limits["grid"].binding) == (100_000.0, (a.id,))
    assert (limits["feeder-a"].max_import_w, limits["feeder-a"].binding) == (30_000.0, (dr.id,))
    limits = await h.sites.limits_in_force("depot", T0 + timedelta(hours=1, minutes=30))
    assert (limits["grid"].max_import_w, limits["grid"].binding) == (80_000.0, (b.id,))
    assert limits["feeder-a"].max_import_w == 60_000.0
    limits = await h.sites.limits_in_force("depot", T0 + timedelta(hours=5))
    assert (limits["grid"].max_import_w, limits["grid"].binding) == (150_000.0, ())
    # The end is exclusive.
    limits = await h.sites.limits_in_force("depot", T0 + timedelta(hours=2))
    assert limits["grid"].max_import_w == 100_000.0

    listed = await h.sites.list_constraints("depot", active_at=T0 + timedelta(hours=1.5))
    assert [c.id for c in listed] == [a.id, b.id]
    cancelled = await h.sites.cancel_constraint(b.id)
    assert cancelled.cancelled_at == T0
    assert (await h.sites.cancel_constraint(b.id)).cancelled_at == T0  # idempotent
    limits = await h.sites.limits_in_force("depot", T0 + timedelta(hours=1.5))
    assert limits["grid"].max_import_w == 100_000.0
    assert [c.id for c in await h.sites.list_constraints("depot")] == [a.id, dr.id]
    everything = await h.sites.list_constraints("depot", include_cancelled=True)
    assert [c.id for c in everything] == [a.id, b.id, dr.id]
    assert (await h.sites.get_constraint(b.id)).cancelled_at == T0
    assert [e for e in h.events if isinstance(e, ConstraintsChanged)] == [
        ConstraintsChanged("depot", a.id, "created", T0),
        ConstraintsChanged("depot", b.id, "created", T0),
        ConstraintsChanged("depot", dr.id, "created", T0),
        ConstraintsChanged("depot", b.id, "cancelled", T0),
    ]
    # with the limits they set, for telemetry (a reduce by 50 % of feeder-a's 60 kW: 30 kW)
    assert [
        (e.constraint_id, e.node_id, e.source, e.change, e.limits, e.start, e.end)
        for e in h.events
        if isinstance(e, GridConstraintSet)
    ] == [
        (
            a.id,
            "grid",
            "dso",
            "created",
            (("import_max", 100_000.0, "W"),),
            T0,
            T0 + timedelta(hours=4),
        ),
        (b.id, "grid", "tso", "created", (("import_max", 80_000.0, "W"),), b.start, b.end),
        (
            dr.id,
            "feeder-a",
            "operator",
            "created",
            (("import_max", 30_000.0, "W"),),
            dr.start,
            dr.end,
        ),
        (b.id, "grid", "tso", "cancelled", (("import_max", 80_000.0, "W"),), b.start, b.end),
    ]


async def test_price_signals_and_tariff(h: Harness, depot: Site) -> None:
    await h.sites.apply(depot)
    assert await h.sites.price_in_force("depot", T0) == 0.30  # 08:00 UTC: day period
    assert await h.sites.price_in_force("depot", T0 - timedelta(hours=3)) == 0.15
    for price, priority in ((0.9, 1), (0.5, 5)):
        await h.sites.create_constraint(
            "depot",
            NewConstraint(
                node_id="grid",
                kind="price",
                import_price_per_kwh=price,
                priority=priority,
                start=T0,
                end=T0 + timedelta(hours=1),
            ),
        )
    assert await h.sites.price_in_force("depot", T0) == 0.5


async def test_constraint_warnings_and_errors(h: Harness, depot: Site) -> None:
    await h.sites.apply(depot)
    _, warnings = await h.sites.create_constraint("depot", _cap("feeder-a", 3, 0, 1))
    assert warnings == [
        "the import limit 3 kW is below the minimum charging power of every EVSE under "
        "'feeder-a' (4.14 kW): none of them can charge"
    ]
    _, warnings = await h.sites.create_constraint("depot", _cap("feeder-a", 5, 0, 1))
    assert warnings == [
        "the import limit 5 kW is below the sum of the minimum charging powers of the 2 EVSEs "
        "under 'feeder-a' (8.28 kW): not all of them can charge at once"
    ]
    with pytest.raises(InvalidConstraint) as info:
        await h.sites.create_constraint("depot", _cap("nowhere", 5, 0, 1))
    assert info.value.field == "node_id"
    # A percentage of nothing: panel-1ph has no import limit to reduce.
    by_pct = NewConstraint(
        node_id="panel-1ph", kind="reduce", reduce_by_pct=20, start=T0, end=T0 + timedelta(hours=1)
    )
    with pytest.raises(InvalidConstraint) as info:
        await h.sites.create_constraint("depot", by_pct)
    assert info.value.field == "reduce_by_pct"
    assert "'panel-1ph' has no import limit" in str(info.value)
    _, warnings = await h.sites.create_constraint(
        "depot", by_pct.model_copy(update={"node_id": "feeder-a"})
    )
    assert warnings == []  # 48 kW left on feeder-a
    with pytest.raises(SiteNotFound):
        await h.sites.create_constraint("other", _cap("grid", 5, 0, 1))
    with pytest.raises(ConstraintNotFound):
        await h.sites.cancel_constraint("nope")


def _error_locs(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[object, ...], str]]:
    return [(e["loc"], e["msg"]) for e in exc.value.errors()]


def test_new_constraint_validation() -> None:
    # Each error names its field where there is one.
    with pytest.raises(ValidationError) as info:
        _cap("grid", 10, 2, 1)
    assert _error_locs(info) == [(("end",), "Value error, end must be after start")]
    with pytest.raises(ValidationError, match="needs reduce_to_w or reduce_by_pct"):
        NewConstraint(node_id="grid", kind="reduce", start=T0, end=T0 + timedelta(hours=1))
    with pytest.raises(ValidationError) as info:
        NewConstraint(
            node_id="grid",
            max_import_w=1.0,
            reduce_to_w=2.0,
            start=T0,
            end=T0 + timedelta(hours=1),
        )
    assert _error_locs(info) == [
        (("reduce_to_w",), "Value error, a cap constraint takes no reduce_to_w")
    ]
    with pytest.raises(ValidationError) as info:
        NewConstraint(
            node_id="grid",
            kind="reduce",
            reduce_to_w=2.0,
            reduce_by_pct=10,
            start=T0,
            end=T0 + timedelta(hours=1),
        )
    assert _error_locs(info) == [
        (("reduce_by_pct",), "Value error, give reduce_to_w or reduce_by_pct, not both")
    ]
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        _cap("grid", -1, 0, 1)
    with pytest.raises(ValidationError, match="timezone"):
        NewConstraint(node_id="grid", max_import_w=1.0, start=datetime(2026, 1, 1), end=T0)


async def test_repository_for_store(tmp_path: Path) -> None:
    assert isinstance(repository_for(MemoryStore()), MemorySiteRepository)
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert isinstance(repository_for(store), SqlSiteRepository)
    await store.close()


def test_phase_current_limits_below_the_evse_minimum_are_warned_about(depot: Site) -> None:
    # feeder-a: CP1's two 3-phase EVSEs, raised to 7 A by their station model's quirks;
    # grid: those, CP2's 3-phase EVSE (6 A) and CP3's on L1 (6 A) -> L1 needs 26 A.
    assert current_warnings(depot, "feeder-a", 6.5) == [
        "the phase current limit 6.5 A is below the minimum charging current of every EVSE "
        "under 'feeder-a' (7 A): none of them can charge"
    ]
    assert current_warnings(depot, "grid", 25) == [
        "the phase current limit 25 A is below the sum of the minimum charging currents on L1 "
        "of the EVSEs under 'grid' (26 A): not all of them can charge at once"
    ]
    assert current_warnings(depot, "grid", 26) == []
    assert current_warnings(depot, "grid", 25, all_at_once=False) == []
    cap = NewConstraint(
        node_id="feeder-a", max_phase_current_a=5, start=T0, end=T0 + timedelta(hours=1)
    )
    assert constraint_warnings(depot, cap) == current_warnings(depot, "feeder-a", 5)
    both = cap.model_copy(update={"max_import_w": 3000.0})
    assert [w.split(" is below")[0] for w in constraint_warnings(depot, both)] == [
        "the import limit 3 kW",
        "the phase current limit 5 A",
    ]


async def test_a_tree_limit_below_every_evse_minimum_is_a_warning(h: Harness, depot: Site) -> None:
    await h.sites.apply(depot)
    # Below the sum of the minimums (not all at once) is what load management is for.
    grid = depot.node("grid")
    assert grid is not None
    result = await h.sites.put_node("depot", grid.model_copy(update={"max_phase_current_a": 25.0}))
    assert [str(c) for c in result.changes] == ["~ node grid: max_phase_current_a: 250.0 -> 25.0"]
    assert result.warnings == ()
    result = await h.sites.put_node(
        "depot",
        SiteNode(id="panel-1ph", parent="grid", phases=("L1",), max_phase_current_a=5.0),
    )
    assert result.warnings == (
        (
            "nodes[2].max_phase_current_a",
            "the phase current limit 5 A is below the minimum charging current of every EVSE "
            "under 'panel-1ph' (6 A): none of them can charge",
        ),
    )
    result = await h.sites.put_node(
        "depot",
        SiteNode(id="panel-1ph", parent="grid", phases=("L1",), max_import_w=1000.0),
    )
    assert result.warnings == (
        (
            "nodes[2].max_import_w",
            "the import limit 1 kW is below the minimum charging power of every EVSE under "
            "'panel-1ph' (1.38 kW): none of them can charge",
        ),
    )


async def test_an_evse_node_holds_one_evse_and_no_nodes(h: Harness, depot: Site) -> None:
    own = SiteNode(id="CP2-1", kind=NodeKind.EVSE, parent="grid", max_import_w=7_000.0)
    stations = tuple(
        s.model_copy(
            update={"evses": tuple(e.model_copy(update={"node": "CP2-1"}) for e in s.evses)}
        )
        if s.id == "CP2"
        else s
        for s in depot.stations
    )
    site = depot.model_copy(update={"nodes": (*depot.nodes, own), "stations": stations})
    result = await h.sites.apply(site)
    assert result.warnings == ()
    assert [evse.id for _, evse in site.evses_under("CP2-1")] == [1]
    # A second EVSE on it, or a node below it, is an error.
    two = site.model_copy(
        update={
            "stations": tuple(
                s.model_copy(
                    update={"evses": tuple(e.model_copy(update={"node": "CP2-1"}) for e in s.evses)}
                )
                if s.id == "CP1"
                else s
                for s in stations
            )
        }
    )
    with pytest.raises(
        InvalidSite, match=r"evse node 'CP2-1' holds 3 EVSEs \(CP1/1, CP1/2, CP2/1\)"
    ):
        await h.sites.apply(two)
    below = site.model_copy(update={"nodes": (*site.nodes, SiteNode(id="sub", parent="CP2-1"))})
    with pytest.raises(InvalidSite, match="evse node 'CP2-1' has nodes below it: 'sub'"):
        await h.sites.apply(below)


def test_constraint_limits_name_every_limit_with_its_unit(depot: Site) -> None:
    def limits(**kw: object) -> tuple[tuple[str, float, str], ...]:
        new = NewConstraint(start=T0, end=T0 + timedelta(hours=1), **kw)  # type: ignore[arg-type]
        return constraint_limits(new, depot)

    assert limits(node_id="grid", max_import_w=1.0, max_export_w=2.0, max_phase_current_a=3.0) == (
        ("import_max", 1.0, "W"),
        ("export_max", 2.0, "W"),
        ("phase_current_max", 3.0, "A"),
    )
    assert limits(node_id="grid", kind="reduce", reduce_to_w=5000.0) == (
        ("import_max", 5000.0, "W"),
    )
    assert limits(node_id="grid", kind="price", import_price_per_kwh=0.4) == (
        ("import_price", 0.4, "EUR/kWh"),
    )
    no_base = NewConstraint(
        node_id="x", kind="reduce", reduce_by_pct=20, start=T0, end=T0 + timedelta(hours=1)
    )
    assert constraint_limits(no_base, None) == (("import_reduce_pct", 20.0, "Percent"),)
