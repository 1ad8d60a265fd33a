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

from aiguillage.audit.tables import content, entries, subject_keys

_NONCE = 12


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)


def secure_delete(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        # Zero the freed pages so the wrapped key and the text do not linger in the file.
        conn.exec_driver_sql("PRAGMA secure_delete = ON")


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

    def erase(self, conn: Connection, subject: str) -> tuple[int, bool]:
        """Delete the subject's texts and key: (texts deleted, whether there was a key)."""
        secure_delete(conn)
        n = conn.execute(sa.delete(content).where(content.c.subject == subject)).rowcount
        had_key = conn.execute(sa.delete(subject_keys).where(subject_keys.c.subject == subject)).rowcount
        return int(n or 0), bool(had_key)

    def rows_with_tenant(self, conn: Connection, subject: str) -> list[tuple[str, str | None]]:
        """(event id, tenant of its decision) of each text stored under ``subject``; the tenant is
        None when the decision was pruned already."""
        return [(r.event_id, r.tenant) for r in conn.execute(
            sa.select(content.c.event_id, entries.c.tenant)
            .select_from(content.outerjoin(
                entries, sa.and_(entries.c.event_id == content.c.event_id, entries.c.kind == "decision")))
            .where(content.c.subject == subject)
        )]

    def delete(self, conn: Connection, event_ids: Sequence[str]) -> int:
        secure_delete(conn)
        n = 0
        for i in range(0, len(event_ids), 500):
            n += conn.execute(sa.delete(content).where(content.c.event_id.in_(event_ids[i:i + 500]))).rowcount or 0
        return n

    def rekey(self, conn: Connection, moves: dict[str, str], now: float) -> None:
        """Re-encrypt texts (event id -> new subject) under their new subject's key."""
        if not moves:
            return
        secure_delete(conn)
        keys = self._subject_keys(conn, set(moves.values()), now)
        for event_id, new_subject in moves.items():
            text = self.get(conn, event_id)
            if text is None:  # undecryptable: nothing that could be moved
                conn.execute(sa.delete(content).where(content.c.event_id == event_id))
                continue
            conn.execute(sa.update(content).where(content.c.event_id == event_id).values(
                subject=new_subject,
                ciphertext=_seal(keys[new_subject], orjson.dumps(text), event_id.encode()),
            ))

    def expire(self, conn: Connection, before: float) -> int:
        secure_delete(conn)
        n = conn.execute(sa.delete(content).where(content.c.created_at < before)).rowcount
        # Keys with no text left go too: a copy of the expired texts (a backup) stays unreadable,
        # and the table does not keep a row for every subject ever seen. A subject's next text
        # gets a new key.
        conn.execute(sa.delete(subject_keys).where(
            ~sa.exists().where(content.c.subject == subject_keys.c.subject)))
        return int(n or 0)
