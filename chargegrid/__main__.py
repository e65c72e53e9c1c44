from __future__ import annotations

from chargegrid.cli import main

raise SystemExit(main())
