"""Exceptions of the site model.

::

    CsmsError
     └── SiteError
          ├── SiteFileError          a site file cannot be read or is invalid (file:line: ...)
          ├── InvalidSite            a site (from the API or a file) breaks a rule; nothing applied
          ├── SiteNotFound           no such site
          ├── InvalidStoredSite      a stored site document no longer validates (apply it again)
          ├── NodeNotFound           no such node in the site's limit tree
          ├── InvalidConstraint      a grid constraint is malformed (end before start, ...)
          └── ConstraintNotFound     no such grid constraint
"""

from __future__ import annotations

from csms.exceptions import CsmsError

__all__ = [
    "ConstraintNotFound",
    "InvalidConstraint",
    "InvalidSite",
    "InvalidStoredSite",
    "NodeNotFound",
    "SiteError",
    "SiteFileError",
    "SiteNotFound",
]


class SiteError(CsmsError):
    """A failure of the site model or its service."""


class InvalidSite(SiteError):
    """A site breaks a rule. ``problems`` lists ``(location, message)`` pairs, where the
    location is a dotted path such as ``stations[2].evses[0].phase``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {msg}" if where else msg for where, msg in problems))


class InvalidStoredSite(SiteError):
    """A stored site document (written by an earlier version) no longer validates: the site
    is not planned until a valid document replaces it (apply a site file or ``PUT`` it)."""

    def __init__(self, site_id: str, revision: int, problems: list[str]) -> None:
        self.site_id = site_id
        self.revision = revision
        self.problems = problems
        super().__init__(
            f"the stored document of site {site_id!r} (revision {revision}) no longer "
            f"validates; apply it again: {'; '.join(problems)}"
        )


class SiteFileError(SiteError):
    """A site file is unreadable or invalid; each message names the file and line."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


class SiteNotFound(SiteError):
    def __init__(self, site_id: str) -> None:
        super().__init__(f"no site {site_id!r}")
        self.site_id = site_id


class NodeNotFound(SiteError):
    def __init__(self, site_id: str, node_id: str) -> None:
        super().__init__(f"site {site_id!r} has no node {node_id!r}")
        self.site_id = site_id
        self.node_id = node_id


class InvalidConstraint(SiteError):
    """A grid constraint is malformed; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConstraintNotFound(SiteError):
    def __init__(self, constraint_id: str) -> None:
        super().__init__(f"no constraint {constraint_id!r}")
        self.constraint_id = constraint_id
