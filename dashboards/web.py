"""The fleet-manager web dashboard: static files served by the API app under ``/dashboard/``.

The dashboard is a single page that signs in with an API token and reads the same ``/api/v1``
resources as any client, with the token's role and site grants. Every file it loads (HTML,
scripts, styles, the vendored uPlot charting library) ships in this package
(``dashboards/static/``); nothing comes from another host: the Content-Security-Policy only
allows this origin.

The files (about 200 kB) are read once when the app is made and answered from memory, gzip
included, with an ETag: a busy central system answers them without a disk read or a worker
thread, and a browser that has them gets ``304 Not Modified``.

A sign-in link carries the token in the URL fragment (``/dashboard/#token=cgk_...``), which
browsers never send to the server; the page moves it into ``sessionStorage`` and removes it
from the address bar.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["DASHBOARD_PATH", "SECURITY_HEADERS", "STATIC_DIR", "DashboardFiles", "mount_dashboard"]

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
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: smaller files are not worth compressing
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _load(path: Path) -> _File:
    body = path.read_bytes()
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    if media_type.startswith("text/html"):
        media_type = "text/html; charset=utf-8"
    squeezed = gzip.compress(body, mtime=0) if len(body) >= _GZIP_MIN_BYTES else None
    return _File(body, squeezed, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class DashboardFiles:
    """An ASGI app answering GET and HEAD for the files under ``directory`` (read once);
    ``/`` is ``index.html``; anything else is the package's 404 page with status 404."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files = {
            path.relative_to(directory).as_posix(): _load(path)
            for path in sorted(directory.rglob("*"))
            if path.is_file()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path = scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/") or "index.html"
        found = self.files.get(path)
        status = 200
        if scope["method"] not in ("GET", "HEAD"):
            response = Response("method not allowed", status_code=405, headers={"Allow": "GET"})
            await response(scope, receive, send)
            return
        if found is None:
            found, status = self.files["404.html"], 404
        request = Headers(scope=scope)
        headers = {**SECURITY_HEADERS, "ETag": found.etag, "Vary": "Accept-Encoding"}
        if status == 200 and request.get("if-none-match") == found.etag:
            await Response(status_code=304, headers=headers)(scope, receive, send)
            return
        body = found.body
        if found.gzipped is not None and "gzip" in request.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = found.gzipped, "gzip"
        if scope["method"] == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        response = Response(body, status_code=status, media_type=found.media_type, headers=headers)
        await response(scope, receive, send)


def mount_dashboard(app: FastAPI, *, directory: Path = STATIC_DIR) -> None:
    """Serve the dashboard at ``/dashboard/`` (``/dashboard`` and ``/`` redirect there)."""

    def to_dashboard() -> Any:
        return RedirectResponse(f"{DASHBOARD_PATH}/", status_code=307)

    app.add_api_route(DASHBOARD_PATH, to_dashboard, include_in_schema=False)
    app.add_api_route("/", to_dashboard, include_in_schema=False)
    app.mount(DASHBOARD_PATH, DashboardFiles(directory), name="dashboard")
