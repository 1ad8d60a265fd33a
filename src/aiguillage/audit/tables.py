"""The audit tables (registered with the store; ``Database.migrate`` creates them).

``audit_entries`` is the log: one row per leaf, ``seq`` is the leaf index. Its leaf hash covers
every column except ``nodes`` (the Merkle nodes that entry completed, kept so inclusion proofs
need a few rows, and themselves checked by ``verify``). ``body`` is the canonical JSON of the
event; ``NULL`` only after metadata retention pruned it, which a later retention event records.
Pruning also clears ``kind``, ``event_id``, ``tenant`` and ``ts`` (verify_chunk.PRUNED_KIND): the
leaf hash covers them with the body, so without it nothing could show them unchanged.

Content (prompt/answer text) never enters the log: it lives in ``audit_content``, encrypted
with a per-subject key from ``audit_subject_keys``; erasing a subject deletes that key.
"""

from __future__ import annotations

import sqlalchemy as sa

from aiguillage.store.db import register_schema

metadata = sa.MetaData()

entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("body", sa.LargeBinary, nullable=True),  # UTF-8 JSON; bytes so verify skips decoding
    sa.Column("nodes", sa.LargeBinary, nullable=False),
)

# One row (id=1): the tree state every writer extends under a lock, plus its signed tree head.
state = sa.Table(
    "audit_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("prev_checkpoint", sa.BigInteger, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)

checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("prev_size", sa.BigInteger, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)

# Pins the public key and key fingerprint the log was started with, so a replica holding
# different key material refuses to start instead of forking the log's trust anchor.
meta = sa.Table(
    "audit_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

subject_keys = sa.Table(
    "audit_subject_keys",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),  # keyed hash of the subject id
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

content = sa.Table(
    "audit_content",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
)

register_schema("audit", 1, metadata)
