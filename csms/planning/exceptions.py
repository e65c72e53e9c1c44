"""Exceptions of the planner service.

::

    CsmsError
     └── PlanningError        the planner service cannot run (a bad setting, no such site)
"""

from __future__ import annotations

from csms.exceptions import CsmsError

__all__ = ["PlanningError"]


class PlanningError(CsmsError):
    """The planner service cannot do what was asked."""
