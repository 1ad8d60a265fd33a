"""Importing this module registers every area's tables with the store (see db.register_schema)."""

from aiguillage import keys, outcomes  # noqa: F401
from aiguillage.audit import tables as _audit_tables  # noqa: F401
from aiguillage.accounting import ledger  # noqa: F401
