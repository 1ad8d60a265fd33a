"""Importing this module registers every area's tables with the store (see db.register_schema)."""

from aiguillage import keys  # noqa: F401
