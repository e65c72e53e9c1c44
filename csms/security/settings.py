"""The ``[security]`` section: TLS (security profiles 2 and 3) and connection hardening.

With ``tls_cert_file`` and ``tls_key_file`` set, the OCPP server speaks ``wss://``
(profiles 2 and 3 on the same port); with ``tls_ca_files`` set as well, stations may
present a client certificate issued by one of those CAs (profile 3). Every option has an
environment variable ``CHARGEGRID_SECURITY__<OPTION>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from csms.quantities import SettingsSection

__all__ = ["CRITICAL_EVENTS", "OCPP_CIPHERS", "SecuritySettings"]

#: TLS 1.2 cipher suites of the OCPP 2.0.1 security part (and the 1.6 security whitepaper):
#: the two ECDHE-ECDSA suites every station supports, the two RSA suites a central system
#: must also accept, and their ECDHE-RSA forms (forward secrecy with an RSA server key).
#: TLS 1.3 suites are OpenSSL's (all AEAD) and not limited by this string.
OCPP_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    )
)


#: the security events the OCPP 2.0.1 security part (and the 1.6 security whitepaper) mark
#: critical: pushed to the central system at once, here raising an alert
CRITICAL_EVENTS = (
    "FirmwareUpdated",
    "SettingSystemTime",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SecurityLogWasCleared",
    "MemoryExhaustion",
    "TamperDetectionActivated",
    "MaintenanceLoginAccepted",
    "MaintenanceLoginFailed",
)


class SecuritySettings(SettingsSection):
    """TLS for the OCPP endpoint, station certificates, and limits on who may connect how
    often."""

    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM server certificate (chain); with tls_key_file the OCPP server "
        "speaks wss:// (profiles 2 and 3); reloaded when the file changes",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of tls_cert_file (reloaded with it)"
    )
    tls_ca_files: tuple[Path, ...] = Field(
        default=(),
        description="PEM CA certificates station (client) certificates must chain to; "
        "empty = no client certificates asked for (no profile 3)",
    )
    tls_crl_files: tuple[Path, ...] = Field(
        default=(),
        description="PEM certificate revocation lists; when set, every station certificate "
        "is checked against its CA's CRL (each CA then needs one)",
    )
    plain_on_tls_port: bool = Field(
        default=False,
        description="with TLS on, the same port also takes plain ws:// connections "
        "(security profile 1) from stations not yet moved to TLS; each station's own "
        "profile is still enforced (a station registered for 2 or 3 is refused on ws://)",
    )
    tls_min_version: Literal["1.2", "1.3"] = Field(
        default="1.2", description="oldest TLS version accepted"
    )
    tls_ciphers: str = Field(
        default=OCPP_CIPHERS,
        description="OpenSSL cipher list for TLS 1.2 (default: the OCPP 2.0.1 suites)",
    )
    tls_reload_interval_s: float | None = Field(
        default=10.0,
        gt=0,
        description="how often the certificate, key, CA and CRL files are checked for "
        "changes (null = never reload)",
    )
    certificate_organization: str | None = Field(
        default=None,
        description="when set, a station certificate's organization (O) must equal it "
        "(the operator's name); its common name (CN) must always equal the station id",
    )
    handshake_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a TLS handshake, and then the WebSocket opening handshake, not finished "
        "in this long each is dropped (slow clients cannot hold connections open)",
    )
    max_connections_per_address: int | None = Field(
        default=256,
        ge=1,
        description="open connections (stations and handshakes) from one source address; "
        "more are dropped before TLS or HTTP is read (null = no limit)",
    )
    max_attempts_per_address_per_s: float | None = Field(
        default=20.0,
        gt=0,
        description="new connections per second from one source address, in the long run "
        "(null = no limit)",
    )
    attempts_burst: int = Field(
        default=100,
        ge=1,
        description="new connections one source address may open at once before the "
        "per-second rate applies",
    )
    limits_exempt: tuple[str, ...] = Field(
        default=("127.0.0.1", "::1"),
        description="source addresses the per-address limits do not apply to (local "
        "simulators and tools; behind a reverse proxy, limit at the proxy)",
    )
    auth_free_failures: int = Field(
        default=3,
        ge=1,
        description="failed authentications of one station id before it must wait",
    )
    auth_backoff_initial_s: float = Field(
        default=2.0,
        gt=0,
        description="the first wait after the free failures (doubles with each further one)",
    )
    auth_backoff_max_s: float = Field(
        default=600.0, gt=0, description="the longest wait imposed after failed authentications"
    )
    minimum_profile: int = Field(
        default=1,
        ge=1,
        le=3,
        description="lowest security profile any station may connect with; a station's "
        "own registered profile can only raise it",
    )

    ca_folder: Path | None = Field(
        default=None,
        description="chargegrid's own CA for station certificates (made by `chargegrid ca "
        "init`): signs the CSRs of SignCertificate",
    )
    ca_command: str | None = Field(
        default=None,
        description="external CA instead: a command given the CSR on standard input (and "
        "CHARGEGRID_STATION_ID) that prints the PEM chain; wins over ca_folder",
    )
    ca_command_timeout_s: float = Field(
        default=30.0, gt=0, description="longest the external CA command may take"
    )
    station_certificate_days: int = Field(
        default=365, ge=1, le=3650, description="validity of station certificates chargegrid signs"
    )
    renew_before_days: float = Field(
        default=30.0,
        gt=0,
        description="ask a connected station for a new CSR this long before its certificate ends",
    )
    renew_check_interval_s: float | None = Field(
        default=3600.0,
        gt=0,
        description="how often connected stations' certificates are checked for renewal "
        "(null = never)",
    )

    critical_events: tuple[str, ...] = Field(
        default=CRITICAL_EVENTS,
        description="SecurityEventNotification types that raise an alert (default: the ones "
        "the OCPP security part marks critical)",
    )

    @model_validator(mode="after")
    def _pairs(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_ca_files and self.tls_cert_file is None:
            raise ValueError("tls_ca_files needs tls_cert_file and tls_key_file")
        if self.tls_crl_files and not self.tls_ca_files:
            raise ValueError("tls_crl_files needs tls_ca_files")
        if self.plain_on_tls_port and self.tls_cert_file is None:
            raise ValueError("plain_on_tls_port needs TLS (tls_cert_file and tls_key_file)")
        if self.plain_on_tls_port and self.minimum_profile > 1:
            raise ValueError(
                "plain_on_tls_port takes profile 1, which minimum_profile "
                f"{self.minimum_profile} refuses: set one or the other"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None
