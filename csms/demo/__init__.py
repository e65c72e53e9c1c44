"""``chargegrid demo``: the whole system on one clock with simulated sites.

The central system and its HTTP API (:func:`csms.app.serving`), the demo's site files
(``sites/``), a simulated fleet per site (``simulators.Fleet``) and the world around them
(:mod:`csms.demo.world`: PV, grid meters, a grid operator's caps). This is the only part of
``csms`` that imports ``simulators``. See ``docs/demo.md``.
"""

from __future__ import annotations

from csms.demo.day import DEFAULT_DAY, DemoCap, DemoDay, DemoSite, day_start, pv_power_w
from csms.demo.exceptions import DemoError, PortInUse
from csms.demo.runner import Demo, DemoProgress, SiteStatus, check_ports, load_demo_site
from csms.demo.world import SiteMeter, World

__all__ = [
    "DEFAULT_DAY",
    "Demo",
    "DemoCap",
    "DemoDay",
    "DemoError",
    "DemoProgress",
    "DemoSite",
    "PortInUse",
    "SiteMeter",
    "SiteStatus",
    "World",
    "check_ports",
    "day_start",
    "load_demo_site",
    "pv_power_w",
]
