"""Persistence: one database (SQLite or PostgreSQL) behind small per-area table modules."""

from aiguillage.store.db import Database, register_schema
from aiguillage.store.writer import GroupCommitWriter, Sink

__all__ = ["Database", "register_schema", "GroupCommitWriter", "Sink"]
