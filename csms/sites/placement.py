"""Which site each station belongs to: the one station -> site map of the central system.

A station's registration (its store record's ``site_id``) says where it belongs; a station
registered without one belongs to the site whose document names it (``docs/sites.md``).
:class:`StationSites` keeps both, fed by whoever reads them (the HTTP API reads every record
and site; the planning service names a site's stations when it loads the site), and answers
for everyone: the API's roles and event stream, the planning service's routing of events to
a site's loop (decision 0622).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from csms.sites.model import Site
    from csms.store.base import StationRecord

__all__ = ["StationSites"]


class StationSites:
    """Station id -> site id, from the registrations and the site documents."""

    def __init__(self) -> None:
        #: registered stations -> their record's site (None: registered without one)
        self._registered: dict[str, str | None] = {}
        #: station -> the site whose document names it
        self._named: dict[str, str] = {}

    def site_of(self, station_id: str) -> str | None:
        """A registered station's site: its registration's, else the site naming it; None
        for a station not registered (as far as this map knows)."""
        if station_id not in self._registered:
            return None
        return self._registered[station_id] or self._named.get(station_id)

    def known(self, station_id: str) -> bool:
        """Whether the map has the station's registration."""
        return station_id in self._registered

    def placed(self, station_id: str) -> str | None:
        """The station's site as far as the map knows: its registration's, else the site
        naming it (registered or not); None: neither."""
        return self._registered.get(station_id) or self._named.get(station_id)

    def naming(self, station_id: str) -> str | None:
        """The site whose document names the station (registered or not)."""
        return self._named.get(station_id)

    def site_of_record(self, record: StationRecord) -> str | None:
        """``record``'s site: its own, else the site naming the station."""
        return record.site_id or self._named.get(record.station_id)

    def register(self, record: StationRecord) -> str | None:
        """Take ``record`` (a registration read or written); returns its site."""
        self._registered[record.station_id] = record.site_id
        return self.site_of(record.station_id)

    def register_site(self, station_id: str, site_id: str | None) -> None:
        """A registration written with ``site_id`` (None: the site naming it, if any)."""
        self._registered[station_id] = site_id

    def forget(self, station_id: str) -> None:
        """The station's registration is gone (the site naming it still does)."""
        self._registered.pop(station_id, None)

    def name_stations(self, site: Site) -> None:
        """``site``'s document names its stations and swap stations (one site loaded)."""
        for station_id in _named_by(site):
            self._named[station_id] = site.id

    def reset(self, *, sites: Iterable[Site], records: Iterable[StationRecord]) -> None:
        """Everything anew: every site document and every registration (the first site
        naming a station wins, as in the site listing's order)."""
        named: dict[str, str] = {}
        for site in sites:
            for station_id in _named_by(site):
                named.setdefault(station_id, site.id)
        self._named = named
        self._registered = {r.station_id: r.site_id for r in records}


def _named_by(site: Site) -> list[str]:
    """The stations a site document names: its charging stations and its swap stations."""
    return [s.id for s in site.stations] + [s.station for s in site.swap]
