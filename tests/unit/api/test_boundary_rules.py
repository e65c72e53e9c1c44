"""The boundary rules hold for every route: each API route reads JSON strictly, every event
type the stream sends is one its filter accepts."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from fastapi.routing import APIRoute

import csms.api.routers
import csms.api.stream
from csms.api.boundary import BoundaryRoute
from csms.api.stream import EVENT_TYPES, check_type_filter


def test_every_api_route_reads_json_strictly() -> None:
    seen = 0
    for info in pkgutil.iter_modules(csms.api.routers.__path__):
        module = importlib.import_module(f"csms.api.routers.{info.name}")
        router = module.router
        assert router.route_class is BoundaryRoute, info.name
        for route in router.routes:
            assert isinstance(route, BoundaryRoute), (info.name, getattr(route, "path", route))
            seen += 1
    assert seen >= 35


def test_the_app_level_routes_read_json_strictly() -> None:
    from chargegrid.clock import WallClock
    from csms.api import ApiServices, create_app
    from csms.app import Csms
    from csms.config import Settings
    from csms.store import MemoryStore

    csms = Csms(Settings(database={"url": "memory://"}), clock=WallClock(), store=MemoryStore())  # type: ignore[arg-type]
    app = create_app(ApiServices(csms))
    direct = [r for r in app.router.routes if isinstance(r, APIRoute)]
    assert direct and all(isinstance(r, BoundaryRoute) for r in direct)


def test_every_event_type_the_converter_sends_passes_the_filter_check() -> None:
    source = Path(csms.api.stream.__file__).read_text()
    sent = set(re.findall(r'(?:return |: )"([a-z_]+\.[a-z_]+)"', source))
    sent |= {f"constraint.{change}" for change in ("created", "cancelled")}
    assert sent == EVENT_TYPES
    assert all(check_type_filter(t) is None for t in EVENT_TYPES)
    assert check_type_filter("station.*") is None
    assert check_type_filter("station.bogus") is not None
    assert check_type_filter("bogus.*") is not None
