"""The central system's command line: one module per command group, each with an
``add_commands(subparsers)`` that ``chargegrid.cli.COMMANDS`` names.

=================  ==========================================================
``serve.py``       ``chargegrid serve``
``stations.py``    ``chargegrid station`` (the database); ``live.py``: its commands to
                   live stations through the running server's admin channel
``tokens.py``      ``chargegrid token``
``db.py``          ``chargegrid db``
``sites.py``       ``chargegrid site``
``api_tokens.py``  ``chargegrid api-token``
``telemetry.py``   ``chargegrid telemetry``
``security.py``    ``chargegrid ca``, ``cert``, ``credentials``
``demo.py``        ``chargegrid demo``
``common.py``      what they share: settings options, the store, the admin channel
=================  ==========================================================

Only this package imports command-line code; the parts below it (store, core, telemetry,
sites, API) know nothing of it. Heavy imports happen inside the command functions, so
``--help`` is fast.
"""

from __future__ import annotations

__all__: list[str] = []
