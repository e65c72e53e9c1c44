from __future__ import annotations

import csms.sites


def test_public_api() -> None:
    assert csms.sites.__all__ == [
        "ApplyResult",
        "Change",
        "ConstraintKind",
        "ConstraintNotFound",
        "EvsePhase",
        "FleetDefaults",
        "GridConstraint",
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
    for name in csms.sites.__all__:
        assert hasattr(csms.sites, name)
