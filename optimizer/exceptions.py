"""The optimizer's exceptions.

::

    OptimizerError
    ├── InvalidProblem (also a ValueError; ``field`` names the bad input)
    └── SolveFailed
        ├── SolverUnavailable   the configured solver cannot be found or started
        ├── InfeasibleSchedule  the hard limits admit no schedule at all
        └── SolverTimeout       the solver stopped at its time limit without an optimum

The planner catches :class:`SolveFailed` and falls back to a proportional-share allocation;
:class:`InvalidProblem` is raised once, where the inputs are built.
"""

from __future__ import annotations

__all__ = [
    "InfeasibleSchedule",
    "InvalidProblem",
    "OptimizerError",
    "SolveFailed",
    "SolverTimeout",
    "SolverUnavailable",
]


class OptimizerError(Exception):
    """Base class of every optimizer error."""


class InvalidProblem(OptimizerError, ValueError):
    """An input is invalid; ``field`` is its dotted path, e.g. ``sessions[2].departure``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SolveFailed(OptimizerError):
    """The solver did not return an optimal schedule."""


class SolverUnavailable(SolveFailed):
    """The configured solver is not installed or cannot be started."""


class InfeasibleSchedule(SolveFailed):
    """No schedule satisfies the hard limits."""


class SolverTimeout(SolveFailed):
    """The solver reached its time limit without proving an optimum."""
