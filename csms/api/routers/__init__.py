"""One router per resource family."""

from __future__ import annotations

__all__: list[str] = []
