"""Sites: the limit tree, stations and EVSEs in it, PV, storage, tariff, session defaults;
grid-operator constraints; the site file; and :class:`SiteService`, their Python API.

See ``docs/sites.md``.
"""

from __future__ import annotations

from csms.sites.constraints import (
    ConstraintKind,
    GridConstraint,
    InvalidStoredConstraint,
    NewConstraint,
    NodeLimit,
    constraint_warnings,
    limits_in_force,
    price_in_force,
)
from csms.sites.diff import Change, diff_sites, format_diff
from csms.sites.exceptions import (
    ConstraintNotFound,
    InvalidConstraint,
    InvalidSite,
    InvalidStoredSite,
    NodeNotFound,
    SiteError,
    SiteFileError,
    SiteNotFound,
)
from csms.sites.model import (
    PV_PEAK_TOLERANCE,
    EvsePhase,
    FleetDefaults,
    GridMeter,
    NodeKind,
    PvAsset,
    SessionDefaults,
    Site,
    SiteEvse,
    SiteNode,
    SiteStation,
    StationQuirks,
    StorageAsset,
    SwapStation,
    Tariff,
    TouPeriod,
)
from csms.sites.placement import StationSites
from csms.sites.repository import (
    MemorySiteRepository,
    SiteRepository,
    SqlSiteRepository,
    repository_for,
)
from csms.sites.service import ApplyResult, SiteService
from csms.sites.swap import forecast_swap_times
from csms.sites.tomlfile import load_site_file, parse_site_text
from csms.sites.validation import check_site

__all__ = [
    "PV_PEAK_TOLERANCE",
    "ApplyResult",
    "Change",
    "ConstraintKind",
    "ConstraintNotFound",
    "EvsePhase",
    "FleetDefaults",
    "GridConstraint",
    "GridMeter",
    "InvalidConstraint",
    "InvalidSite",
    "InvalidStoredConstraint",
    "InvalidStoredSite",
    "MemorySiteRepository",
    "NewConstraint",
    "NodeKind",
    "NodeLimit",
    "NodeNotFound",
    "PvAsset",
    "SessionDefaults",
    "Site",
    "SiteError",
    "SiteEvse",
    "SiteFileError",
    "SiteNode",
    "SiteNotFound",
    "SiteRepository",
    "SiteService",
    "SiteStation",
    "SqlSiteRepository",
    "StationQuirks",
    "StationSites",
    "StorageAsset",
    "SwapStation",
    "Tariff",
    "TouPeriod",
    "check_site",
    "constraint_warnings",
    "diff_sites",
    "forecast_swap_times",
    "format_diff",
    "limits_in_force",
    "load_site_file",
    "parse_site_text",
    "price_in_force",
    "repository_for",
]
