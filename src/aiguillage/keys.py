"""API keys: created and revoked from the CLI, stored hashed, cached in memory by the server.

A key looks like ``ag-<key id>-<secret>``. Only SHA-256 of the whole key is stored (the
secret is 192 random bits, so a slow password hash buys nothing). The server keeps every
known key in a dict and refreshes it from the database every ``refresh_s`` seconds, so a key
created while it runs is found at once (a miss falls through to the database) and a revoked
one stops working within a second, with no database hit per request.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from aiguillage.store.db import Database, register_schema

metadata = sa.MetaData()
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
    # Bumped on every change, so a refresh reads only what changed.
    sa.Column("changed_at", sa.Float, nullable=False, index=True),
)
register_schema("keys", 1, metadata)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    tenant: str
    admin: bool
    expires_at: float | None
    revoked_at: float | None
    created_at: float

    def valid(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _row_to_info(row: sa.Row) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id, tenant=row.tenant, admin=bool(row.admin), expires_at=row.expires_at,
        revoked_at=row.revoked_at, created_at=row.created_at,
    )


class KeyStore:
    """Create, list and revoke keys (CLI side) and look them up (server side)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate()

    def create(self, tenant: str, admin: bool = False, expires_days: float | None = None) -> tuple[str, KeyInfo]:
        if not tenant or len(tenant) > 200:
            raise ValueError("a tenant name is 1 to 200 characters")
        key_id = secrets.token_hex(6)
        key = f"ag-{key_id}-{secrets.token_urlsafe(24)}"
        now = time.time()
        expires = now + expires_days * 86400 if expires_days is not None else None
        with self.db.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                key_id=key_id, key_hash=hash_key(key), tenant=tenant, admin=admin,
                created_at=now, expires_at=expires, revoked_at=None, changed_at=now,
            ))
        return key, KeyInfo(key_id, tenant, admin, expires, None, now)

    def list(self) -> list[KeyInfo]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
        return [_row_to_info(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        now = time.time()
        with self.db.engine.begin() as conn:
            res = conn.execute(
                api_keys.update().where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, changed_at=now)
            )
        return bool(res.rowcount)

    def lookup_hash(self, key_hash: str) -> KeyInfo | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return _row_to_info(row) if row else None

    def changed_since(self, since: float) -> builtins.list[tuple[str, KeyInfo]]:  # list: the method above
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).where(api_keys.c.changed_at >= since)).all()
        return [(r.key_hash, _row_to_info(r)) for r in rows]


class KeyCache:
    """The server's view of the keys: a dict by hash, refreshed in a background thread."""

    def __init__(self, store: KeyStore, refresh_s: float = 0.5) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._by_hash: dict[str, KeyInfo] = {}
        self._since = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        self._refresh()

    def start(self) -> None:
        self.load()
        self._thread = threading.Thread(target=self._loop, name="aiguillage-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self._refresh()
            except Exception:  # a database hiccup must not kill the refresher; retry next tick
                continue

    def _refresh(self) -> None:
        # Overlap the window a little: a row committed just before our last read keeps its timestamp.
        since = self._since
        start = time.time()
        for key_hash, info in self.store.changed_since(since - 2.0):
            self._by_hash[key_hash] = info
        self._since = start

    def get_cached(self, key_hash: str) -> KeyInfo | None:
        return self._by_hash.get(key_hash)

    def lookup_slow(self, key_hash: str) -> KeyInfo | None:
        """A miss in the cache: ask the database (runs in a worker thread)."""
        info = self.store.lookup_hash(key_hash)
        if info is not None:
            self._by_hash[key_hash] = info
        return info

