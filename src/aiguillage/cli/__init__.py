"""The ``aiguillage`` command: a thin edge over the library (see ``aiguillage --help``).

The command tree lives in ``aiguillage.cli.root``; it is imported only after ``main`` has
prepared what must be decided before any library import (see below).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # prometheus_client picks in-memory or multi-process values once, at import, and the
        # forked workers inherit that choice: the shared directory must exist before any import.
        from aiguillage.server import prepare_metrics_dir

        prepare_metrics_dir()
    from aiguillage.cli.root import app

    app()
