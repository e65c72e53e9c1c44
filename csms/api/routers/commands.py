"""Commands to stations as jobs, idempotent under ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Response

from csms.api.auth import Permission
from csms.api.boundary import BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.loading import load_visible, queried_station
from csms.api.models import CommandRequest, ErrorOut, JobOut, record_out
from csms.api.records import Job, JobQuery
from csms.core.commands import Commands
from csms.domain import ChargingLimit, ChargingRateUnit, V2XPeriod

__all__ = ["execute", "router"]

router = APIRouter(route_class=BoundaryRoute, tags=["commands"], responses=AUTH_ERRORS)


def job_out(job: Job) -> JobOut:
    return record_out(JobOut, job)


async def execute(commands: Commands, request: dict[str, Any]) -> dict[str, Any]:
    """Run one validated command (as a JSON dict); the station's answer as JSON."""
    sid: str = request["station_id"]
    kind = request["command"]
    if kind == "remote_start":
        tx = await commands.remote_start(
            sid, id_token=request["id_token"], evse_id=request.get("evse_id")
        )
        return {
            "transaction_id": tx.id,
            "station_tx_id": tx.station_tx_id,
            "evse_id": tx.evse_id,
            "connector_id": tx.connector_id,
        }
    if kind == "remote_stop":
        r = await commands.remote_stop(sid, transaction_id=request["transaction_id"])
    elif kind == "reset":
        r = await commands.reset(sid, hard=request["hard"], evse_id=request.get("evse_id"))
    elif kind == "change_availability":
        r = await commands.change_availability(
            sid,
            evse_id=request["evse_id"],
            connector_id=request.get("connector_id"),
            operative=request["operative"],
        )
    elif kind == "unlock":
        r = await commands.unlock_connector(
            sid, evse_id=request["evse_id"], connector_id=request["connector_id"]
        )
    elif kind == "trigger":
        r = await commands.trigger_message(
            sid,
            message=request["message"],
            evse_id=request.get("evse_id"),
            connector_id=request.get("connector_id"),
        )
    elif kind == "set_charging_profile":
        limit = ChargingLimit(
            station_id=sid,
            evse_id=request["evse_id"],
            unit=ChargingRateUnit(request["unit"]),
            schedule=tuple((p["start_s"], p["limit"], p.get("phases")) for p in request["periods"]),
            purpose=request["purpose"],
            stack_level=request["stack_level"],
            profile_id=request["profile_id"],
            duration_s=request.get("duration_s"),
            transaction_id=request.get("transaction_id"),
        )
        r = await commands.set_charging_profile(limit)
    elif kind == "clear_charging_profile":
        r = await commands.clear_charging_profile(
            sid,
            profile_id=request.get("profile_id"),
            evse_id=request.get("evse_id"),
            purpose=request.get("purpose"),
            stack_level=request.get("stack_level"),
        )
    elif kind == "set_v2x_profile":
        r = await commands.set_charging_profile(v2x_limit(sid, request))
    elif kind == "notify_allowed_energy_transfer":
        r = await commands.notify_allowed_energy_transfer(
            sid, transaction_id=request["transaction_id"], modes=request["modes"]
        )
    else:  # pragma: no cover - the model admits only the kinds above
        raise ValueError(f"unknown command {kind!r}")
    return {"status": r.status, "payload": r.payload}


def v2x_limit(station_id: str, request: dict[str, Any]) -> ChargingLimit:
    """A validated ``set_v2x_profile`` body as a limit with V2X periods; its charging-only
    view (``schedule``) takes what each period lets the EV charge (never negative)."""
    periods = tuple(
        V2XPeriod(
            p["start_s"],
            p["mode"],
            setpoint=p.get("setpoint_w"),
            setpoint_l2=p.get("setpoint_l2_w"),
            setpoint_l3=p.get("setpoint_l3_w"),
            limit=p.get("limit_w"),
            discharge_limit=p.get("discharge_limit_w"),
        )
        for p in request["periods"]
    )
    tx_id = request.get("transaction_id")
    return ChargingLimit(
        station_id=station_id,
        evse_id=request["evse_id"],
        unit=ChargingRateUnit.WATT,
        schedule=tuple((p.start_s, _charging_w(p), None) for p in periods),
        purpose="TxProfile" if tx_id is not None else "TxDefaultProfile",
        stack_level=request["stack_level"],
        profile_id=request["profile_id"],
        duration_s=request.get("duration_s"),
        transaction_id=tx_id,
        v2x=periods,
    )


def _charging_w(period: V2XPeriod) -> float:
    if period.mode == "Idle":
        return 0.0
    if period.setpoint is not None:
        return max(0.0, period.setpoint)
    return period.limit if period.limit is not None else 0.0


@router.post(
    "/commands",
    response_model=JobOut,
    status_code=202,
    responses={
        200: {"model": JobOut, "description": "the job an earlier request with this key made"},
    },
)
async def submit_command(
    services: Services,
    who: Caller,
    response: Response,
    body: Annotated[CommandRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="same key + same body = the same job; another body = 422",
        ),
    ] = None,
) -> JobOut:
    """Send a command; answers at once with a job that resolves to the station's answer
    (a remote start to the transaction id). Poll ``GET /jobs/{job_id}?wait_s=``."""
    who.require(Permission.COMMANDS, sited=False)
    record = await queried_station(services, body.station_id, where=("body", "station_id"))
    assert record is not None
    site_id = services.station_site(record)
    who.require(Permission.COMMANDS, site_id)
    request = body.model_dump(mode="json")
    job, created = await services.jobs.submit(
        who,
        command=body.command,
        station_id=body.station_id,
        site_id=site_id,
        request=request,
        run=lambda req: execute(services.commands, req),
        idempotency_key=idempotency_key,
    )
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/api/v1/jobs/{job.job_id}"
    return job_out(job)


@router.get("/jobs", response_model=list[JobOut])
async def list_jobs(
    services: Services,
    who: Caller,
    station_id: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """Jobs on the caller's sites, newest first."""
    who.require(Permission.JOBS_READ, sited=False)
    if station_id is not None:
        # A removed station's jobs stay.
        await queried_station(
            services,
            station_id,
            kept_rows=lambda: services.repo.list_jobs(JobQuery(station_id=station_id, limit=1)),
        )
    jobs = await services.repo.list_jobs(
        JobQuery(station_id=station_id, status=status, site_ids=who.sites, limit=limit)
    )
    return [job_out(j) for j in jobs]


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={404: {"model": ErrorOut, "description": "no such job"}},
)
async def get_job(
    services: Services,
    who: Caller,
    job_id: Annotated[str, Path(min_length=1, max_length=32)],
    wait_s: Annotated[
        float,
        Query(
            ge=0,
            le=600,
            allow_inf_nan=False,
            description="wait up to this long for the job to resolve",
        ),
    ] = 0.0,
) -> JobOut:
    job, _ = await load_visible(
        who,
        Permission.JOBS_READ,
        lambda: services.jobs.get(job_id),
        missing=f"no job {job_id!r}",
        site_of=lambda job: job.site_id,
    )
    if wait_s > 0 and job.finished_at is None:
        resolved = await services.jobs.get(
            job_id, wait_s=min(wait_s, services.settings.job_wait_max_s)
        )
        job = resolved or job
    return job_out(job)
