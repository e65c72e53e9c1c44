"""One id grammar, everywhere: station, site, node, asset, fleet and constraint ids.

An id is 1 to 255 of the characters OCPP-J allows in a charging station's identity
(``a-z A-Z 0-9 * - _ = : + | @ .``); a station id at most 48 of them (OCPP's CiString48 and
the last segment of ``ws://host/ocpp/{station_id}``). No control character, space, slash or
anything that needs escaping in a URL path, a site file, a terminal or a CSV cell. The
API's models and path parameters, the site file, the CLI and the OCPP server use the types
and checks here; id tokens (drivers' cards) keep their own grammar, printable ASCII
(:data:`IdTokenValue`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

__all__ = [
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "STATION_ID_MAX_LENGTH",
    "EntityId",
    "IdTokenValue",
    "InvalidId",
    "StationId",
    "check_id",
    "id_option",
    "is_station_id",
]

ID_PATTERN = r"^[A-Za-z0-9*_=:+|@.-]+$"
ID_MAX_LENGTH = 255
STATION_ID_MAX_LENGTH = 48
_ID = re.compile(ID_PATTERN)

#: a site, node, PV, storage, fleet or constraint id
EntityId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
#: a charging station's identity
StationId = Annotated[
    str, Field(min_length=1, max_length=STATION_ID_MAX_LENGTH, pattern=ID_PATTERN)
]
#: an id token's value (an RFID UID, an eMAID, ...): printable ASCII
IdTokenValue = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class InvalidId(ValueError):
    """An id outside the grammar; the message names what it is and why."""


def check_id(kind: str, value: str, *, max_length: int = ID_MAX_LENGTH) -> str:
    """``value`` if it is a valid id of at most ``max_length`` characters, else
    :class:`InvalidId` naming ``kind``."""
    if not value:
        raise InvalidId(f"{kind}: must not be empty")
    if len(value) > max_length:
        raise InvalidId(f"{kind}: at most {max_length} characters, not {len(value)}")
    if not _ID.match(value):
        raise InvalidId(f"{kind}: {value!r} has a character outside a-z A-Z 0-9 * - _ = : + | @ .")
    return value


def is_station_id(value: str) -> bool:
    try:
        check_id("station id", value, max_length=STATION_ID_MAX_LENGTH)
    except InvalidId:
        return False
    return True


def id_option(kind: str, *, max_length: int = ID_MAX_LENGTH) -> type[str]:
    """An argparse ``type=`` that refuses what the server would refuse."""
    import argparse

    def parse(text: str) -> str:
        try:
            return check_id(kind, text, max_length=max_length)
        except InvalidId as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind
    return parse  # type: ignore[return-value]
