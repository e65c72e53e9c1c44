"""The station -> site map: a registration's site, else the site whose document names the
station; unregistered stations have no site for the API, yet the planner finds their site."""

from __future__ import annotations

from csms.sites import Site, SiteEvse, SiteNode, SiteStation, StationSites
from csms.store.base import StationRecord


def _site(site_id: str, *stations: str) -> Site:
    return Site(
        id=site_id,
        nodes=(SiteNode(id="grid", max_import_w=50_000.0),),
        stations=tuple(SiteStation(id=s, node="grid", evses=(SiteEvse(id=1),)) for s in stations),
    )


def test_a_registration_wins_and_the_naming_site_fills_in() -> None:
    sites = StationSites()
    sites.reset(
        sites=[_site("depot", "A", "B"), _site("yard", "B", "C")],
        records=[StationRecord("A"), StationRecord("B"), StationRecord("X", site_id="depot")],
    )
    assert sites.site_of("A") == "depot"  # registered without a site: the site naming it
    assert sites.site_of("B") == "depot"  # named twice: the first site listed
    assert sites.site_of("X") == "depot"  # its registration's, named by no site
    assert sites.site_of("C") is None and not sites.known("C")  # not registered
    assert sites.naming("C") == "yard"  # ... yet its site's loop gets its events
    assert sites.site_of_record(StationRecord("C")) == "yard"
    assert sites.site_of_record(StationRecord("C", site_id="elsewhere")) == "elsewhere"


def test_registrations_come_and_go_and_a_loaded_site_names_its_stations() -> None:
    sites = StationSites()
    assert sites.register(StationRecord("N", site_id=None)) is None
    sites.name_stations(_site("new", "N"))  # a site loaded since: it names N
    assert sites.site_of("N") == "new" and sites.naming("N") == "new"
    sites.register_site("N", "other")
    assert sites.site_of("N") == "other"
    sites.forget("N")
    assert sites.site_of("N") is None and not sites.known("N")
    assert sites.naming("N") == "new"
    sites.reset(sites=[], records=[])
    assert sites.naming("N") is None
