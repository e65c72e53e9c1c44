from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chargegrid.clock import Clock, ManualClock
from csms.api import ApiServer, ApiServices, Role, TokenService
from csms.app import Csms
from csms.config import Settings
from csms.sites import NodeKind, PvAsset, Site, SiteEvse, SiteNode, SiteStation, StorageAsset
from csms.store import MemoryStore, Store
from csms.store.base import StationRecord

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

#: depot: grid 100 kW > feeder-a 50 kW > CP1, CP2 (two 3-phase 32 A EVSEs each); a PV
#: roof on the feeder and a battery at the grid connection
SITES = (
    Site(
        id="depot",
        nodes=(
            SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=100_000.0),
            SiteNode(id="feeder-a", kind=NodeKind.FEEDER, parent="grid", max_import_w=50_000.0),
        ),
        stations=tuple(
            SiteStation(id=sid, node="feeder-a", evses=(SiteEvse(id=1), SiteEvse(id=2)))
            for sid in ("CP1", "CP2")
        ),
        pv=(PvAsset(id="roof", node="feeder-a", peak_w=30_000.0),),
        storage=(
            StorageAsset(
                id="bess",
                node="grid",
                capacity_wh=60_000.0,
                max_charge_w=20_000.0,
                max_discharge_w=20_000.0,
            ),
        ),
    ),
    Site(
        id="other",
        nodes=(SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=40_000.0),),
        stations=(SiteStation(id="FAR", node="grid", evses=(SiteEvse(id=1),)),),
    ),
)


def make_settings(*, planning: dict[str, object] | None = None, **api: object) -> Settings:
    return Settings(
        planning=planning or {},  # type: ignore[arg-type]
        server={"host": "127.0.0.1", "port": 0, "unknown_stations": "reject"},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 2.0, "remote_start_timeout_s": 3.0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        api={  # type: ignore[arg-type]
            "host": "127.0.0.1",
            "port": 0,
            "webhook_initial_backoff_s": 0.05,
            "webhook_max_backoff_s": 0.2,
            "stream_keepalive_s": 0.5,
            **api,
        },
    )


#: one TLS context for every client (the API is plain HTTP; building one per client is slow)
_PLAIN_HTTP = ssl.create_default_context()


@dataclass
class Api:
    """A running central system with its API, tokens of every role, and a client."""

    csms: Csms
    services: ApiServices
    server: ApiServer
    tokens: dict[str, str]
    token_ids: dict[str, str]
    clock: Clock

    def client(self, role: str | None = None, *, token: str | None = None) -> httpx.AsyncClient:
        headers = {}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            base_url=self.server.url, headers=headers, timeout=10.0, verify=_PLAIN_HTTP
        )


#: the token names the fixtures create: role, with "_other" = granted only site "other"
ROLE_TOKENS = {
    "admin": (Role.ADMIN, ()),
    "grid_operator": (Role.GRID_OPERATOR, ("depot",)),
    "fleet_manager": (Role.FLEET_MANAGER, ("depot",)),
    "viewer": (Role.VIEWER, ("depot",)),
    "grid_operator_other": (Role.GRID_OPERATOR, ("other",)),
    "fleet_manager_other": (Role.FLEET_MANAGER, ("other",)),
    "viewer_other": (Role.VIEWER, ("other",)),
}


async def start_api(
    store: Store, clock: Clock, *, planning: dict[str, object] | None = None, **api: object
) -> tuple[Csms, Api]:
    settings = make_settings(planning=planning, **api)
    csms = Csms(settings, clock=clock, store=store)
    await csms.start()
    services = ApiServices(csms)
    server = ApiServer(services, host="127.0.0.1", port=0)
    await server.start()
    assert csms.sites is not None
    for site in SITES:
        await csms.sites.apply(site)
    await services.refresh_stations()
    tokens = TokenService(services.repo, now=clock.now)
    texts: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name, (role, sites) in ROLE_TOKENS.items():
        token, text = await tokens.create(
            role=role, name=name, sites=sites, expires_at=clock.now() + timedelta(days=30)
        )
        texts[name] = text
        ids[name] = token.token_id
    return csms, Api(csms, services, server, texts, ids, clock)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def store() -> MemoryStore:
    s = MemoryStore()
    await s.open()
    await s.put_station(StationRecord("CP1", site_id="depot"))
    await s.put_station(StationRecord("CP2", site_id="depot"))
    await s.put_station(StationRecord("FAR", site_id="other"))
    return s


@pytest.fixture
async def api(store: MemoryStore, clock: ManualClock) -> AsyncIterator[Api]:
    csms, running = await start_api(store, clock)
    try:
        yield running
    finally:
        await running.server.stop()
        await csms.stop()
