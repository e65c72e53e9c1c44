"""The append-only audit log: every constraint change and every command, with who, what,
when and the result. The API can list it; no endpoint changes or deletes an entry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from csms.api.auth import Principal
from csms.api.records import AuditEntry
from csms.api.repository import ApiRepository

__all__ = ["Auditor"]

logger = logging.getLogger(__name__)


class Auditor:
    def __init__(self, repo: ApiRepository, *, now: Callable[[], datetime]) -> None:
        self._repo = repo
        self._now = now

    async def record(
        self,
        who: Principal,
        action: str,
        result: str,
        *,
        site_id: str | None = None,
        station_id: str | None = None,
        target: str | None = None,
        request: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=self._now(),
            token_id=who.token_id,
            actor=who.name,
            role=who.role.value,
            action=action,
            result=result,
            site_id=site_id,
            station_id=station_id,
            target=target,
            request=request or {},
            detail=detail or {},
        )
        stored = await self._repo.append_audit(entry)
        logger.info(
            "audit %s by %s (%s): %s %s", action, who.name, who.role.value, result, target or ""
        )
        return stored
