"""Builds the parts of a Gateway that come from their own packages: the audit log, the
accounting service, tracing, and the ordered sinks of the group-commit writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiguillage.accounting import Accounting
from aiguillage.audit import AuditLog
from aiguillage.outcomes import OutcomeSink
from aiguillage.store.writer import Sink

if TYPE_CHECKING:
    from aiguillage.gateway import Gateway


def build_extensions(gw: Gateway) -> None:
    settings = gw.settings
    # Per worker process: the Redis client is bound to this process's event loop.
    gw.accounting = Accounting(settings, gw.db, settings.redis_url)
    gw.audit = AuditLog(gw.db, settings) if settings.audit.enabled else None
    # Order matters. The outcome sink takes the training text off each record before the audit
    # log sees it, so no prompt or answer text ever reaches the log; the audit sink goes last
    # because it holds the log's single tree-state row lock until commit (shortest wait for
    # other replicas).
    sinks: list[Sink] = [OutcomeSink(), gw.accounting.sink()]
    if gw.audit is not None:
        sinks.append(gw.audit.sink())
    gw.sinks = sinks
