"""``OPTIONS`` on every route, and a complete ``Allow`` header on every 405.

Starlette answers a method a path does not take with a 405 whose ``Allow`` lists the methods
of the first route that matched the path only (``/sites/{id}/constraints`` has a GET and a
POST route: the 405 said ``POST``), and answers ``OPTIONS`` the same way. This middleware
answers ``OPTIONS`` with ``204`` and ``Allow`` listing every method any route of the path
takes (and ``OPTIONS``), and completes ``Allow`` on every 405.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AllowMethods", "allowed_methods"]


#: the methods probed (HEAD only where a route declares it)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str] | None:
    """The methods the routes take at ``scope``'s path (with ``OPTIONS``); None when no route
    has the path or only a mounted app serves it (it answers for itself)."""
    methods: set[str] = set()
    for method in _METHODS:
        probe = {**scope, "method": method}
        for route in routes:
            if isinstance(route, Mount):
                continue
            if route.matches(probe)[0] is Match.FULL:
                methods.add(method)
                break
    return sorted(methods | {"OPTIONS"}) if methods else None


class AllowMethods:
    def __init__(self, app: ASGIApp, *, routes: Any) -> None:
        self.app = app
        self._routes = routes  # a callable giving the app's routes (they change as it is built)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allowed = allowed_methods(self._routes(), scope)
            if allowed is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", ", ".join(allowed).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        original = dict(scope)  # routing adds to the scope as it goes

        async def send_with_allow(message: Message) -> None:
            # Only a 405 pays for the lookup.
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = allowed_methods(self._routes(), original)
                if allowed is not None:
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"
                    ]
                    allow = ", ".join(allowed).encode()
                    message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
