"""Prompt/answer text, off the log: AES-256-GCM under a per-data-subject key.

Each subject's key is random and stored wrapped (AES-GCM) under a key derived from the audit
secret, so a database dump alone reveals no text. Erasing a subject deletes its key row and its
ciphertexts; anything left behind (backups, free pages) is then undecryptable. The event in the
log only ever holds keyed hashes of the text, which is why erasure leaves the log verifiable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from aiguillage.audit.tables import content, subject_keys

_NONCE = 12


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)


class ContentStore:
    def __init__(self, wrap: AESGCM) -> None:
        self.wrap = wrap

    def _subject_keys(self, conn: Connection, subjects: set[str], now: float) -> dict[str, AESGCM]:
        """Existing keys for ``subjects``, creating the missing ones (caller holds the log lock)."""
        rows = conn.execute(
            sa.select(subject_keys.c.subject, subject_keys.c.wrapped_key).where(
                subject_keys.c.subject.in_(subjects)
            )
        ).all()
        out = {r.subject: AESGCM(_open(self.wrap, r.wrapped_key, r.subject.encode())) for r in rows}
        new = []
        for s in subjects - out.keys():
            key = AESGCM.generate_key(256)
            out[s] = AESGCM(key)
            new.append({"subject": s, "wrapped_key": _seal(self.wrap, key, s.encode()), "created_at": now})
        if new:
            conn.execute(subject_keys.insert(), new)
        return out

    def put(self, conn: Connection, items: Sequence[tuple[str, str, dict[str, str]]], now: float) -> None:
        """Store (event_id, subject pseudonym, {"prompt", "answer"}) items, encrypted."""
        keys = self._subject_keys(conn, {s for _, s, _ in items}, now)
        rows = [
            {
                "event_id": eid,
                "subject": s,
                "created_at": now,
                "ciphertext": _seal(keys[s], orjson.dumps(text), eid.encode()),
            }
            for eid, s, text in items
        ]
        conn.execute(content.insert(), rows)

    def get(self, conn: Connection, event_id: str) -> dict[str, str] | None:
        """The stored text, or None when there is none or it was erased or expired."""
        row = conn.execute(
            sa.select(content.c.ciphertext, subject_keys.c.wrapped_key, subject_keys.c.subject)
            .join(subject_keys, subject_keys.c.subject == content.c.subject)
            .where(content.c.event_id == event_id)
        ).first()
        if row is None:
            return None
        try:
            key = _open(self.wrap, row.wrapped_key, row.subject.encode())
            return orjson.loads(_open(AESGCM(key), row.ciphertext, event_id.encode()))
        except InvalidTag:
            return None

    def erase(self, conn: Connection, subject: str) -> int:
        if conn.dialect.name == "sqlite":
            # Zero the freed pages so the wrapped key does not linger in the file.
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        n = conn.execute(sa.delete(content).where(content.c.subject == subject)).rowcount
        conn.execute(sa.delete(subject_keys).where(subject_keys.c.subject == subject))
        return int(n or 0)

    def expire(self, conn: Connection, before: float) -> int:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        n = conn.execute(sa.delete(content).where(content.c.created_at < before)).rowcount
        return int(n or 0)
