"""The OCPP server's TLS: one :class:`ssl.SSLContext` built from files, rebuilt when they
change, without a restart and without dropping a connection.

The listening socket keeps the context it was created with (the *front* context); its SNI
callback, which OpenSSL calls on every handshake (with or without a server name), moves the
handshake onto the newest context. A rebuilt context is complete before it is published, so a
half-written certificate file or a key that does not match leaves the previous context
serving (and the failure logged and counted).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from csms.security.exceptions import TlsConfigError
from csms.security.settings import SecuritySettings
from csms.supervisor import cancel_and_wait

__all__ = ["ServerTls", "build_context"]

logger = logging.getLogger(__name__)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_Stamp = tuple[tuple[str, int, int, int], ...]


def build_context(settings: SecuritySettings) -> ssl.SSLContext:
    """A server context from the files named in ``settings`` (raises :class:`TlsConfigError`
    naming the file that is wrong)."""
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[settings.tls_min_version]
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.set_ciphers(settings.tls_ciphers)
    except ssl.SSLError as exc:
        raise TlsConfigError(f"tls_ciphers: no usable cipher in {settings.tls_ciphers!r}") from exc
    try:
        ctx.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"{settings.tls_cert_file} / {settings.tls_key_file}: cannot load the server "
            f"certificate and key: {exc}"
        ) from exc
    if settings.tls_ca_files:
        # Profile 3 beside profile 2: a client certificate is asked for, not required; one
        # that is presented must verify (chain, dates, CRL) or the handshake fails.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        for ca in settings.tls_ca_files:
            _load_verify(ctx, ca, "CA certificates")
        if settings.tls_crl_files:
            for crl in settings.tls_crl_files:
                _load_verify(ctx, crl, "CRL")
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def _load_verify(ctx: ssl.SSLContext, path: Path, what: str) -> None:
    try:
        ctx.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"{path}: cannot load {what}: {exc}") from exc


def _stamp(paths: tuple[Path, ...]) -> _Stamp:
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append((str(p), -1, -1, -1))
        else:
            out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


@dataclass
class TlsCounters:
    reloads: int = 0
    reload_failures: int = 0


class ServerTls:
    """The server context and its watcher. :attr:`context` goes to ``serve(ssl=...)``."""

    def __init__(self, settings: SecuritySettings) -> None:
        if not settings.tls:
            raise TlsConfigError("TLS needs tls_cert_file and tls_key_file")
        self.settings = settings
        self.counters = TlsCounters()
        self._paths = tuple(
            p
            for p in (
                settings.tls_cert_file,
                settings.tls_key_file,
                *settings.tls_ca_files,
                *settings.tls_crl_files,
            )
            if p is not None
        )
        self._stamp = _stamp(self._paths)
        self._current = build_context(settings)
        self.context = self._current
        self.context.sni_callback = self._on_hello
        self._watcher: asyncio.Task[None] | None = None

    @property
    def current(self) -> ssl.SSLContext:
        """The context new handshakes use."""
        return self._current

    def _on_hello(
        self, sslobj: ssl.SSLObject, server_name: str | None, front: ssl.SSLContext
    ) -> None:
        current = self._current
        if sslobj.context is not current:
            sslobj.context = current

    async def reload_if_changed(self) -> bool:
        """Rebuild the context when a file changed since the last build. True when a new
        context is serving; a failed rebuild keeps the old one (logged, counted)."""
        stamp = _stamp(self._paths)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            ctx = await asyncio.to_thread(build_context, self.settings)
        except TlsConfigError as exc:
            self.counters.reload_failures += 1
            logger.error("TLS reload failed, the previous certificates stay in use: %s", exc)
            return False
        self._current = ctx
        self.counters.reloads += 1
        logger.info("TLS certificates reloaded (%s)", ", ".join(str(p) for p in self._paths))
        return True

    def start(self) -> None:
        interval = self.settings.tls_reload_interval_s
        if interval is not None and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(interval), name="tls-reload")

    async def stop(self) -> None:
        task, self._watcher = self._watcher, None
        await cancel_and_wait([task] if task is not None else [])

    async def _watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload_if_changed()
            except Exception:  # never let the watcher die quietly
                logger.exception("TLS reload check failed; checking again in %.0f s", interval_s)
