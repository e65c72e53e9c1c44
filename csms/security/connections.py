"""The OCPP server's security hooks in one object: :class:`ConnectionSecurity`.

The server calls it at three points and nowhere else: ``serve(**security.serve_options())``
(TLS and the checks before the WebSocket handshake), :meth:`ConnectionSecurity.link` and
:meth:`ConnectionSecurity.refusal` in ``process_request`` (the station's profile and
certificate), and :meth:`start` / :meth:`stop` with the server.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from csms.security.gate import Link, link_of, profile_refusal
from csms.security.guard import ConnectionGuard
from csms.security.settings import SecuritySettings
from csms.security.tls import ServerTls

__all__ = ["ConnectionSecurity"]

logger = logging.getLogger(__name__)


class ConnectionSecurity:
    """TLS, client certificates and security profiles for the OCPP server."""

    def __init__(self, settings: SecuritySettings | None = None) -> None:
        self.settings = settings or SecuritySettings()
        self.tls = ServerTls(self.settings) if self.settings.tls else None
        self.guard = ConnectionGuard(
            self.tls, handshake_timeout_s=self.settings.handshake_timeout_s
        )
        #: stations refused after the TLS handshake, by reason
        self.refused: Counter[str] = Counter()

    @property
    def scheme(self) -> str:
        return "wss" if self.tls is not None else "ws"

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for websockets' ``serve``."""
        return {"create_connection": self.guard.connection_class}

    def start(self) -> None:
        if self.tls is not None:
            self.tls.start()

    async def stop(self) -> None:
        self.guard.abort_pending()
        if self.tls is not None:
            await self.tls.stop()

    def link(self, transport: Any, station_id: str) -> Link:
        """How the connection on ``transport`` is secured, for ``station_id``."""
        link = link_of(transport, station_id, organization=self.settings.certificate_organization)
        if link.refusal is not None:
            self.refused["certificate-identity"] += 1
        return link

    def refusal(self, link: Link, *, registered: int | None) -> str | None:
        """Why the station (registered for profile ``registered``) may not use ``link``."""
        reason = profile_refusal(link, registered=registered, minimum=self.settings.minimum_profile)
        if reason is not None:
            self.refused["profile-too-low"] += 1
        return reason

    def metrics_text(self, prefix: str = "chargegrid_ocpp_") -> str:
        """The counters in the Prometheus text format."""
        refused = self.refused + self.guard.refused
        lines = [
            f"# HELP {prefix}connections_refused_total OCPP connections refused by the "
            "security checks, by reason.",
            f"# TYPE {prefix}connections_refused_total counter",
        ]
        lines += [
            f'{prefix}connections_refused_total{{reason="{reason}"}} {count}'
            for reason, count in sorted(refused.items())
        ]
        lines += [
            f"# HELP {prefix}tls_handshakes_total TLS handshakes completed.",
            f"# TYPE {prefix}tls_handshakes_total counter",
            f"{prefix}tls_handshakes_total {self.guard.handshakes}",
        ]
        if self.tls is not None:
            c = self.tls.counters
            lines += [
                f"# HELP {prefix}tls_reloads_total TLS certificate reloads, by outcome.",
                f"# TYPE {prefix}tls_reloads_total counter",
                f'{prefix}tls_reloads_total{{outcome="ok"}} {c.reloads}',
                f'{prefix}tls_reloads_total{{outcome="failed"}} {c.reload_failures}',
            ]
        return "\n".join(lines) + "\n"

    def counters(self) -> dict[str, int]:
        """Every refusal and reload counter, flat (for metrics)."""
        out: dict[str, int] = {f"refused_{k}": v for k, v in self.refused.items()}
        out.update({f"refused_{k}": v for k, v in self.guard.refused.items()})
        out["tls_handshakes"] = self.guard.handshakes
        if self.tls is not None:
            out["tls_reloads"] = self.tls.counters.reloads
            out["tls_reload_failures"] = self.tls.counters.reload_failures
        return out
