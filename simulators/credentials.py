"""A simulated station's credentials: its Basic-auth password, TLS files and security
profile, certificates and network connection profiles.

:class:`StationCredentials` is part of :class:`~simulators.runner.StationRunner`: the rules
by which the station takes a new password, a higher security profile, a signed certificate
or a network profile (plain decisions, no I/O), and what the handshake presents (its Basic
auth header, its TLS context). The runner connects with what they hold and
reconnects when they ask it to (:meth:`StationCredentials.reboot`).
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

from websockets.headers import build_authorization_basic

from simulators.certificates import StationCertificates
from simulators.tls import StationTls

__all__ = ["StationCredentials"]


class StationCredentials:
    """The credentials part of a station runner (its ``url`` names the central system)."""

    url: str

    def init_credentials(self, password: str | None, tls: StationTls | None) -> None:
        self.password = password
        #: TLS files (profile 2: the CA; profile 3: also the station's certificate)
        self.tls = tls
        #: the station's key, certificate and trust store (SignCertificate, InstallCertificate)
        self.certificates: StationCertificates | None = None
        self._new_certificate = False
        #: False: the station refuses a new Basic-auth password (a fault to test against)
        self.accept_password_change = True
        self._new_password: str | None = None
        self._new_profile: int | None = None
        #: 2.0.1 network connection profiles by configuration slot (SetNetworkProfile)
        self.network_profiles: dict[int, dict[str, Any]] = {}
        self._next_network: int | None = None

    @property
    def station_id(self) -> str:
        raise NotImplementedError

    def reboot(self) -> None:
        """Reconnect and boot again (the runner's)."""
        raise NotImplementedError

    def report(self, text: str) -> None:
        """An error for the station's statistics (the runner's)."""
        raise NotImplementedError

    def certificate_signed(self, chain: str) -> str:
        """CertificateSigned: keep the certificate and its key. On profile 3 the station
        presents the new one from now on (it reconnects once its answer is out); on profile
        2 it keeps it for a move to profile 3. Accepted or Rejected."""
        if self.certificates is None or self.tls is None:
            return "Rejected"
        reason = self.certificates.accept_chain(chain)
        if reason is not None:
            self.report(f"CertificateSigned refused: {reason}")
            return "Rejected"
        if self.tls.profile == 3:
            self._use_own_certificate()
            self._new_certificate = True
        return "Accepted"

    def _use_own_certificate(self) -> None:
        assert self.certificates is not None and self.tls is not None
        self.tls = dataclasses.replace(
            self.tls, cert_file=self.certificates.cert_file, key_file=self.certificates.key_file
        )

    def certificate_answered(self) -> None:
        """After the answer to CertificateSigned went out: reconnect with a new certificate."""
        if self._new_certificate:
            self._new_certificate = False
            self.reboot()

    def auth_headers(self) -> dict[str, str]:
        """The handshake's Basic auth header (none without a password)."""
        if self.password is None:
            return {}
        return {"Authorization": build_authorization_basic(self.station_id, self.password)}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context to connect with (None on ws://)."""
        if self.tls is None or not self.url.startswith("wss://"):
            return None
        return self.tls.context()

    @property
    def security_profile(self) -> int:
        """The profile the station connects with: 1 (ws), 2 (TLS), 3 (TLS + certificate)."""
        if self.tls is None or not self.url.startswith("wss://"):
            return 1  # TLS files held for a later move are not in use on ws://
        return self.tls.profile

    def change_password(self, value: str) -> str:
        """BasicAuthPassword / AuthorizationKey: used from the next connection on (the
        station reconnects once its answer is out). Accepted or Rejected."""
        if not self.accept_password_change or not 16 <= len(value) <= 40:
            return "Rejected"
        self._new_password = value
        return "Accepted"

    def change_profile(self, profile: int) -> str:
        """1.6 SecurityProfile: only up, and only to a profile the station has the files for."""
        if profile <= self.security_profile or self.tls is None:
            return "Rejected"
        if profile == 3 and not self._has_certificate():
            return "Rejected"
        self._new_profile = profile
        return "Accepted"

    def _has_certificate(self) -> bool:
        if self.tls is not None and self.tls.cert_file is not None:
            return True
        return self.certificates is not None and self.certificates.cert_file.exists()

    def set_network_profile(self, slot: int, data: dict[str, Any]) -> str:
        """2.0.1 SetNetworkProfile: kept; used once its slot is first in the priority."""
        profile = int(data.get("security_profile", 0))
        if profile < self.security_profile or not str(data.get("ocpp_csms_url", "")):
            return "Rejected"
        if (profile >= 2 and self.tls is None) or (profile == 3 and not self._has_certificate()):
            return "Rejected"
        self.network_profiles[slot] = data
        return "Accepted"

    def network_priority(self, value: str) -> str:
        """OCPPCommCtrlr.NetworkConfigurationPriority: the first slot is used after a reset."""
        try:
            first = int(value.split(",")[0])
        except ValueError:
            return "Rejected"
        if first not in self.network_profiles:
            return "Rejected"
        self._next_network = first
        return "RebootRequired"

    def after_answer(self) -> None:
        """A command's answer went out: a new password or profile takes effect now (the
        station reconnects with it)."""
        if self._new_password is not None:
            self.password = self._new_password
            self._new_password = None
            self.reboot()
        if self._new_profile is not None:
            self._apply_profile(self._new_profile)
            self._new_profile = None
            self.reboot()

    def _apply_profile(self, profile: int) -> None:
        if profile == 3:
            self.password = None  # the certificate is the credential
            if self.tls is not None and self.tls.cert_file is None:
                self._use_own_certificate()
        if self.url.startswith("ws://"):
            self.url = "wss://" + self.url[len("ws://") :]

    def switch_network(self) -> None:
        """At a reboot: connect with the network profile a reset made current, if any."""
        if self._next_network is not None:
            data = self.network_profiles[self._next_network]
            self._next_network = None
            self.url = f"{str(data['ocpp_csms_url']).rstrip('/')}/{self.station_id}"
            self._apply_profile(int(data.get("security_profile", 0)))
