"""The OCPP server's security hooks in one object: :class:`ConnectionSecurity`.

The server calls it at three points and nowhere else: ``serve(**security.serve_options())``
(TLS and the checks before the WebSocket handshake), :meth:`ConnectionSecurity.link` and
:meth:`ConnectionSecurity.refusal` in ``process_request`` (the station's profile and
certificate), and :meth:`start` / :meth:`stop` with the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections import Counter
from datetime import datetime
from typing import Any

from csms.security.gate import Link, link_of, profile_refusal
from csms.security.guard import ConnectionGuard
from csms.security.limits import AddressLimits, AuthBackoff
from csms.security.revocation import OwnCaRevocations
from csms.security.settings import SecuritySettings
from csms.security.tls import ServerTls

__all__ = ["ConnectionSecurity"]

logger = logging.getLogger(__name__)


class ConnectionSecurity:
    """TLS, client certificates and security profiles for the OCPP server."""

    def __init__(self, settings: SecuritySettings | None = None) -> None:
        self.settings = settings or SecuritySettings()
        s = self.settings
        self.tls = ServerTls(s) if s.tls else None
        limits = None
        if s.max_connections_per_address is not None or s.max_attempts_per_address_per_s:
            limits = AddressLimits(
                max_open=s.max_connections_per_address,
                attempts_per_s=s.max_attempts_per_address_per_s,
                burst=s.attempts_burst,
                exempt=frozenset(s.limits_exempt),
            )
        self.guard = ConnectionGuard(
            self.tls,
            handshake_timeout_s=s.handshake_timeout_s,
            limits=limits,
            accept_plain=s.plain_on_tls_port,
        )
        self.backoff = AuthBackoff(
            free_failures=s.auth_free_failures,
            initial_s=s.auth_backoff_initial_s,
            max_s=s.auth_backoff_max_s,
        )
        #: stations refused after the TLS handshake, by reason
        self.refused: Counter[str] = Counter()
        #: station id -> the end of the certificate it last connected with (renewal)
        self.expiries: dict[str, datetime] = {}
        #: station id -> the security profile of its latest admitted connection
        self.profiles: dict[str, int] = {}
        #: station id -> the pending profile upgrade its admitted connection reached (taken
        #: by csms.security.credentials when the station is connected)
        self.reached: dict[str, int] = {}
        #: station id -> serial number of the certificate it last connected with
        self.serial_numbers: dict[str, int] = {}
        #: revocations of chargegrid's own CA, checked on every profile-3 connection
        self.revocations = (
            OwnCaRevocations(s.ca_folder) if s.ca_folder is not None and not s.ca_command else None
        )

    @property
    def scheme(self) -> str:
        return "wss" if self.tls is not None else "ws"

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for websockets' ``serve``."""
        return {
            "create_connection": self.guard.connection_class,
            "open_timeout": self.settings.handshake_timeout_s,
        }

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
        if link.certificate is None:
            return link
        if self.revocations is not None:
            sslobj = transport.get_extra_info("ssl_object")
            revoked = self.revocations.refusal(sslobj.getpeercert(binary_form=True) or b"")
            if revoked is not None:
                self.refused["certificate-revoked"] += 1
                return dataclasses.replace(link, refusal=revoked)
        if link.certificate.not_after is not None:
            self.expiries[station_id] = link.certificate.not_after
        with contextlib.suppress(ValueError):
            self.serial_numbers[station_id] = int(link.certificate.serial_number, 16)
        return link

    def refusal(self, link: Link, *, registered: int | None) -> str | None:
        """Why the station (registered for profile ``registered``) may not use ``link``."""
        reason = profile_refusal(link, registered=registered, minimum=self.settings.minimum_profile)
        if reason is not None:
            self.refused["profile-too-low"] += 1
        return reason

    # -- failed-authentication backoff --------------------------------------------------------
    def auth_retry_after(self, station_id: str, peer: Any) -> float | None:
        """Seconds ``station_id`` must wait after failed authentications (None: it may
        try now); a refusal is counted and logged (at most once per reason per 10 s)."""
        wait = self.backoff.retry_after(station_id, time.monotonic())
        if wait is not None:
            self.guard.refuse(
                "auth-backoff",
                str(peer),
                f"station {station_id}: {wait:.0f} s to wait after failed authentications",
            )
        return wait

    def auth_failed(self, station_id: str) -> None:
        wait = self.backoff.failed(station_id, time.monotonic())
        if wait > 0:
            logger.warning(
                "station %s: authentication failed again; next attempt in %.0f s",
                station_id,
                wait,
            )

    def admitted(self, station_id: str, link: Link, *, pending_profile: int | None = None) -> None:
        """The station passed every check on ``link``: forget its failures, remember the
        profile it connected with, and note when that reaches the profile it was asked to
        move to (``pending_profile``, from its record in the store)."""
        self.backoff.succeeded(station_id)
        self.profiles[station_id] = link.profile
        if pending_profile is not None and link.profile >= pending_profile:
            self.reached[station_id] = pending_profile

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
            f"# HELP {prefix}plain_on_tls_port_total plain ws:// connections taken on the "
            "TLS port (security.plain_on_tls_port).",
            f"# TYPE {prefix}plain_on_tls_port_total counter",
            f"{prefix}plain_on_tls_port_total {self.guard.plain}",
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
        out["plain_on_tls_port"] = self.guard.plain
        if self.tls is not None:
            out["tls_reloads"] = self.tls.counters.reloads
            out["tls_reload_failures"] = self.tls.counters.reload_failures
        return out
