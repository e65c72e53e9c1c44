"""The charging profiles a station holds, and how a shared station limit is divided.

Pure helpers for the station model: :class:`ProfileStore` keeps installed profiles per
connector (0 = the whole station) and hands out the ones that concern a connector and a
transaction; :func:`share_w` water-fills a station-wide cap over the connectors' demands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulators.charging_profiles import ChargingProfile, ProfilePurpose

__all__ = ["InstalledProfile", "ProfileStore", "share_w"]

_STATION_WIDE = (ProfilePurpose.STATION_MAX, ProfilePurpose.EXTERNAL)


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    connector_id: int
    profile: ChargingProfile


class ProfileStore:
    def __init__(self) -> None:
        self._items: list[InstalledProfile] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> tuple[InstalledProfile, ...]:
        return tuple(self._items)

    def install(self, connector_id: int, profile: ChargingProfile) -> None:
        """Add a profile; it replaces one with the same id, or the same purpose and stack
        level on the same connector (as OCPP requires)."""
        self._items = [
            item
            for item in self._items
            if item.profile.id != profile.id
            and not (
                item.connector_id == connector_id
                and item.profile.purpose is profile.purpose
                and item.profile.stack_level == profile.stack_level
            )
        ]
        self._items.append(InstalledProfile(connector_id, profile))

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove the profiles matching every given criterion; return how many went."""

        def matches(item: InstalledProfile) -> bool:
            if profile_id is not None:
                return item.profile.id == profile_id
            return (
                (connector_id is None or item.connector_id == connector_id)
                and (purpose is None or item.profile.purpose is purpose)
                and (stack_level is None or item.profile.stack_level == stack_level)
            )

        kept = [item for item in self._items if not matches(item)]
        removed = len(self._items) - len(kept)
        self._items = kept
        return removed

    def end_transaction(self, connector_id: int) -> None:
        """TxProfiles live as long as their transaction."""
        self._items = [
            item
            for item in self._items
            if not (item.connector_id == connector_id and item.profile.purpose is ProfilePurpose.TX)
        ]

    def station_wide(self) -> list[ChargingProfile]:
        return [i.profile for i in self._items if i.profile.purpose in _STATION_WIDE]

    def for_connector(
        self, connector_id: int, *, tx_ids: tuple[str, ...] | None
    ) -> list[ChargingProfile]:
        """TxDefault (station-wide first, so the connector's own wins a tie) and the TxProfiles
        of the running transaction (``tx_ids``: the ids it is known by; ``None``: none)."""
        found: list[ChargingProfile] = []
        for wanted in (0, connector_id):
            for item in self._items:
                p = item.profile
                if item.connector_id != wanted or p.purpose in _STATION_WIDE:
                    continue
                if p.purpose is ProfilePurpose.TX and (
                    tx_ids is None
                    or (p.transaction_id is not None and p.transaction_id not in tx_ids)
                ):
                    continue
                found.append(p)
            if connector_id == 0:
                break
        return found


def share_w(demands_w: Mapping[int, float], cap_w: float | None) -> dict[int, float]:
    """Divide ``cap_w`` over the demands fairly (water-filling); no cap gives every demand."""
    if cap_w is None or sum(demands_w.values()) <= cap_w:
        return dict(demands_w)
    shares: dict[int, float] = {}
    left = max(0.0, cap_w)
    pending = sorted(demands_w.items(), key=lambda kv: kv[1])
    while pending:
        fair = left / len(pending)
        key, demand = pending.pop(0)
        give = min(demand, fair)
        shares[key] = give
        left -= give
    return shares
