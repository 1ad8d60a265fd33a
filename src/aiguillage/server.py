"""Running the App under granian (RSGI, or ASGI), one process per worker.

Workers share nothing in memory: keys, the audit log and the ledger live in the store, and
counters in Redis when configured, so N workers behave like N replicas.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
from pathlib import Path

from aiguillage.config import load_settings

ENV_CONFIG = "AIGUILLAGE_CONFIG"


def app_factory():  # type: ignore[no-untyped-def]
    """Called by granian in each worker process."""
    from aiguillage.api.app import create_app

    logging.basicConfig(level=os.environ.get("AIGUILLAGE_LOG_LEVEL", "WARNING"))
    return create_app(load_settings(os.environ.get(ENV_CONFIG) or None))


def prepare_metrics_dir() -> None:
    """Point prometheus_client at a directory shared by the worker processes, so ``/metrics``
    adds up every worker's counts. Must run before anything imports prometheus_client."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aiguillage-metrics-")


def serve(host: str, port: int, workers: int, config: Path | None, interface: str = "rsgi") -> None:
    """``interface``: granian's own RSGI (the default: less work per request) or ASGI."""
    from granian import Granian
    from granian.constants import Interfaces, Loops

    if config is not None:
        os.environ[ENV_CONFIG] = str(config.resolve())
    else:
        os.environ.pop(ENV_CONFIG, None)
    os.environ["AIGUILLAGE_WORKERS"] = str(workers)
    # Workers are forked from this process: freeze what it holds so that their collections
    # (and freeze_heap's, once they have started) never write to these objects' headers, which
    # would copy every page they live on into each worker.
    gc.freeze()
    Granian(
        target="aiguillage.server:app_factory",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI if interface == "rsgi" else Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_enabled=False,
        backpressure=1024,
    ).serve()
