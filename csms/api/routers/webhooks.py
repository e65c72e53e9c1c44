"""Webhook subscriptions (admin) and their delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from csms.api.auth import Permission
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import ResourceNotFound
from csms.api.loading import found
from csms.api.models import (
    DeliveryOut,
    ErrorOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    record_out,
)
from csms.api.records import Webhook

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["webhooks"], responses=AUTH_ERRORS)
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such webhook"}}
WebhookId = Annotated[str, Path(min_length=1, max_length=32)]


def _out(h: Webhook) -> WebhookOut:
    return record_out(WebhookOut, h)


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(services: Services, who: Caller) -> list[WebhookOut]:
    who.require(Permission.WEBHOOKS, sited=False)
    return [_out(h) for h in services.webhooks.list()]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(services: Services, who: Caller, body: WebhookIn) -> WebhookCreated:
    """Subscribe a URL to events; every delivery is signed with the returned secret
    (``X-Chargegrid-Signature: sha256=HMAC(secret, "{timestamp}.{body}")``)."""
    who.require(Permission.WEBHOOKS, sited=False)
    hook = await services.webhooks.add(
        url=str(body.url),
        event_types=tuple(body.event_types),
        created_by=who.token_id,
        secret=body.secret,
        site_id=body.site_id,
        station_id=body.station_id,
    )
    await services.auditor.record(
        who,
        "webhook.create",
        "ok",
        site_id=body.site_id,
        target=hook.webhook_id,
        request=body.model_dump(mode="json", exclude={"secret"}),
    )
    return WebhookCreated(**_out(hook).model_dump(), secret=hook.secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=_404)
async def get_webhook(services: Services, who: Caller, webhook_id: WebhookId) -> WebhookOut:
    who.require(Permission.WEBHOOKS, sited=False)
    return _out(found(services.webhooks.get(webhook_id), f"no webhook {webhook_id!r}"))


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=_404)
async def delete_webhook(services: Services, who: Caller, webhook_id: WebhookId) -> Response:
    who.require(Permission.WEBHOOKS, sited=False)
    if not await services.webhooks.remove(webhook_id):
        raise ResourceNotFound(f"no webhook {webhook_id!r}")
    await services.auditor.record(who, "webhook.delete", "ok", target=webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut], responses=_404)
async def list_deliveries(
    services: Services,
    who: Caller,
    webhook_id: WebhookId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """The delivery log, newest first: attempts, last HTTP status, last error."""
    who.require(Permission.WEBHOOKS, sited=False)
    found(services.webhooks.get(webhook_id), f"no webhook {webhook_id!r}")
    return [
        record_out(DeliveryOut, d)
        for d in await services.repo.list_deliveries(webhook_id, limit=limit)
    ]


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {create_webhook.__name__: "webhook.create", delete_webhook.__name__: "webhook.delete"}
)
