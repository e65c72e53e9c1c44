"""``chargegrid serve`` and the admin commands."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    del subparsers


def _unused(args: argparse.Namespace) -> int:
    return 0
