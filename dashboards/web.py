"""The fleet-manager web dashboard: static files served by the API app under ``/dashboard/``.

The dashboard is a single page that signs in with an API token and reads the same ``/api/v1``
resources as any client, with the token's role and site grants. Every file it loads (HTML,
scripts, styles, the vendored uPlot charting library) ships in this package
(``dashboards/static/``); nothing comes from another host: the Content-Security-Policy only
allows this origin.

A sign-in link carries the token in the URL fragment (``/dashboard/#token=cgk_...``), which
browsers never send to the server; the page moves it into ``sessionStorage`` and removes it
from the address bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["DASHBOARD_PATH", "SECURITY_HEADERS", "STATIC_DIR", "mount_dashboard"]

DASHBOARD_PATH = "/dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # revalidate every time (ETag): a new version of the package is seen at once
    "Cache-Control": "no-cache",
}


class _DashboardFiles(StaticFiles):
    """Static files with the security headers; unknown paths get the package's 404 page."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_dashboard(app: FastAPI, *, directory: Path = STATIC_DIR) -> None:
    """Serve the dashboard at ``/dashboard/`` (``/dashboard`` and ``/`` redirect there)."""

    def to_dashboard() -> Any:
        return RedirectResponse(f"{DASHBOARD_PATH}/", status_code=307)

    app.add_api_route(DASHBOARD_PATH, to_dashboard, include_in_schema=False)
    app.add_api_route("/", to_dashboard, include_in_schema=False)
    app.mount(DASHBOARD_PATH, _DashboardFiles(directory=directory, html=True), name="dashboard")
