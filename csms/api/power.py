"""Site power now: each EVSE's latest measured power, summed per node of the limit tree
beside the node's limit in force (``GET /sites/{id}/power`` and the dashboard overview)."""

from __future__ import annotations

from datetime import datetime

from csms.api.services import ApiServices
from csms.api.site_models import EvsePowerOut, NodePowerOut, SitePowerOut
from csms.sites import Site

__all__ = ["site_power"]


async def site_power(services: ApiServices, site: Site) -> SitePowerOut:
    """The latest ``Power.Active.Import`` (no phase) of every EVSE of ``site`` and the sums
    per node (an EVSE counts in its node and every ancestor). The readings come from
    :class:`~csms.api.live.LiveView` (read from the store once, then followed)."""
    assert services.sites is not None
    latest: dict[tuple[str, int], tuple[float, datetime]] = {}
    for station in site.stations:
        for evse_id, reading in (await services.live.power(station.id)).items():
            latest[(station.id, evse_id)] = reading
    evses = []
    per_node = {node.id: 0.0 for node in site.nodes}
    for station, evse, node in site.evses():
        value = latest.get((station.id, evse.id))
        evses.append(
            EvsePowerOut(
                station_id=station.id,
                evse_id=evse.id,
                power_w=None if value is None else value[0],
                at=None if value is None else value[1],
            )
        )
        if value is not None and node is not None:
            for ancestor in site.ancestors(node):
                per_node[ancestor] += value[0]
    limits = await services.sites.limits_in_force(site.id)
    return SitePowerOut(
        site_id=site.id,
        nodes=[
            NodePowerOut(
                node_id=node_id,
                power_w=watts,
                max_import_w=limits[node_id].max_import_w if node_id in limits else None,
            )
            for node_id, watts in per_node.items()
        ],
        evses=evses,
    )
