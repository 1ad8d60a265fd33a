"""Recompute the whole log and compare it with every signed tree head.

The signed head, its checkpoints and the entry count are read in one snapshot; the entries
below the head's size are then rechecked in aligned chunks (in parallel worker processes on a
large log, see verify_chunk.py). Each entry's leaf hash is recomputed from its stored columns
and, with the nodes its append completed, compared with the nodes stored on its row, so a
changed field is named at the entry itself. The running root is compared with each signed
checkpoint as the pass reaches its size, and at the end with the signed head. Gaps, duplicates
and reordering show as a leaf index out of sequence; truncation and rows appended behind the
writers' back show as a count that disagrees with the signed head.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from aiguillage.audit import merkle
from aiguillage.audit.chain import CHECKPOINT_MAGIC, HEAD_MAGIC, Head, read_head, signed_message
from aiguillage.audit.keys import signature_ok
from aiguillage.audit.tables import checkpoints, entries
from aiguillage.audit.verify_chunk import ChunkResult, entry_name, verify_chunk

CHUNK_BITS = 16  # 65,536 leaves per chunk
PARALLEL_FROM = 1 << 18  # below this, worker start-up costs more than it saves


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    checkpoints: int
    first_bad: str | None
    message: str


class _Bad(Exception):
    def __init__(self, first_bad: str, message: str) -> None:
        super().__init__(message)
        self.first_bad = first_bad
        self.message = message


def _dsn(engine: Engine) -> tuple[str, str]:
    """How a worker process opens its own DBAPI connection to the same database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ValueError(
                "audit verify reads the log from worker connections: use a file-backed SQLite database"
            )
        return "sqlite", url.database
    return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False)


def _snapshot(conn: Connection) -> None:
    """Read head, checkpoints and row count from one snapshot: writers appending meanwhile must
    not look like rows appended out of band. (Workers then read only leaves below the head's size,
    which no writer changes.)"""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _check_checkpoints(conn: Connection, public: Ed25519PublicKey, head: Head) -> list[tuple[int, bytes]]:
    rows = conn.execute(sa.select(checkpoints).order_by(checkpoints.c.size)).all()
    prev = 0
    for cp in rows:
        where = f"checkpoint at tree size {cp.size}"
        msg = signed_message(CHECKPOINT_MAGIC, cp.size, cp.root, cp.ts, cp.prev_size)
        if not signature_ok(public, cp.signature, msg):
            raise _Bad(
                where, f"{where}: signature does not match its fields (checkpoint altered or foreign key)"
            )
        if cp.prev_size != prev:
            raise _Bad(
                where,
                f"{where}: links to checkpoint {cp.prev_size}, expected {prev} (a checkpoint was removed)",
            )
        if cp.size > head.size:
            raise _Bad(where, f"{where}: beyond the signed head's size {head.size}")
        prev = cp.size
    if head.prev_checkpoint != prev:
        raise _Bad(
            f"checkpoint at tree size {head.prev_checkpoint}",
            f"signed head names latest checkpoint {head.prev_checkpoint}, found {prev} (checkpoint removed)",
        )
    return [(cp.size, cp.root) for cp in rows]


class _Combiner:
    """Folds chunk results, in leaf order, into the levels above the chunks."""

    def __init__(self, cps: list[tuple[int, bytes]], bits: int, witnessed: dict[int, bytes] | None = None) -> None:
        self.cps = dict(cps)
        self.witnessed = witnessed or {}
        self.bits = bits
        self.upper: list[bytes] = []  # frontier of complete chunks (levels >= bits)
        self.count = self.pruned = self.allowed = 0
        self.tail: list[bytes] = []

    def _check_cps(self, res: ChunkResult, upto: int) -> None:
        for size, local in sorted(res.at_checkpoint.items()):
            if size > upto:
                continue
            root = merkle.root(self.upper + local)
            if size in self.cps and root != self.cps[size]:
                raise _Bad(
                    f"checkpoint at tree size {size}",
                    f"checkpoint at tree size {size}: root differs from the entries (an entry before "
                    f"#{size} was altered together with its stored hashes)",
                )
            if size in self.witnessed and root != self.witnessed[size]:
                raise _Bad(
                    f"witnessed head at tree size {size}",
                    f"witnessed head at tree size {size}: the log's first {size} entries are not the ones "
                    "it signed (rewritten, or replaced by another copy of the log)",
                )

    def add(self, res: ChunkResult, expected: int) -> None:
        self._check_cps(res, res.bad[0] if res.bad else res.start + res.count)
        if res.bad:
            raise _Bad(res.bad[1], res.bad[2])
        if res.count < expected:
            i = res.start + res.count
            raise _Bad(entry_name(i, None), f"entry #{i}: missing (the signed head covers it)")
        if res.pruned and self.pruned != res.start:
            raise _Bad(entry_name(res.start, None), f"entry #{res.start}: body removed out of band")
        self.pruned += res.pruned
        self.allowed = max(self.allowed, res.allowed)
        self.count += res.count
        if res.root is None:
            self.tail = res.frontier
            return
        h, n, done = res.root, res.start >> self.bits, []
        while n & 1:
            h = merkle.node_hash(self.upper.pop(), h)
            done.append(h)
            n >>= 1
        self.upper.append(h)
        if b"".join(done) != res.top_nodes:
            last = res.start + res.count - 1
            raise _Bad(entry_name(last, None), f"entry #{last}: stored Merkle nodes were altered")

    def frontier(self) -> list[bytes]:
        return self.upper + self.tail

    def root(self) -> bytes:
        return merkle.root(self.frontier())


def _chunks(size: int, bits: int, cps: Iterable[int]) -> list[tuple[int, int, list[int]]]:
    cp_list = sorted(cps)
    out = []
    for start in range(0, size, 1 << bits):
        end = min(size, start + (1 << bits))
        out.append((start, end, [c for c in cp_list if start < c <= end]))
    return out


@dataclass(frozen=True)
class Witness:
    """A signed tree head kept outside the database (``audit head``, or a proof's checkpoint).
    The log must still contain it: same root over its first ``size`` entries."""

    size: int
    root: bytes
    ts: float
    prev_checkpoint: int
    signature: bytes

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Witness:
        if not isinstance(data, dict):
            raise ValueError("a saved head is a JSON object")
        d = data.get("checkpoint", data)  # an `audit prove` output carries its head there
        return cls(int(d["size"]), bytes.fromhex(d["root"]), float(d["ts"]), int(d["prev_checkpoint"]),
                   base64.b64decode(d["signature"]))

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root.hex(), "ts": self.ts, "prev_checkpoint": self.prev_checkpoint,
                "signature": base64.b64encode(self.signature).decode()}


def verify(
    engine: Engine, public: Ed25519PublicKey, workers: int | None = None, chunk_bits: int = CHUNK_BITS,
    witnesses: Sequence[Witness] = (),
) -> VerifyResult:
    """``witnesses``: heads saved elsewhere earlier. Signed heads alone cannot show a rollback to
    an older copy of the database, whose own heads are genuine; a witness can."""
    res, head = _verify_once(engine, public, workers, chunk_bits, witnesses)
    if not res.ok and head is not None and _moved(engine, head):
        # The entries are read after the snapshot, on other connections. A retention run that
        # committed meanwhile pruned bodies below the snapshot's head while its own event lies
        # beyond it, which looks like a body removed out of band. Check again on a new snapshot.
        res, _ = _verify_once(engine, public, workers, chunk_bits, witnesses)
    return res


def _moved(engine: Engine, head: Head) -> bool:
    with engine.connect() as conn:
        now = read_head(conn)
    return now is None or (now.size, now.root) != (head.size, head.root)


def _verify_once(
    engine: Engine, public: Ed25519PublicKey, workers: int | None, chunk_bits: int, witnesses: Sequence[Witness]
) -> tuple[VerifyResult, Head | None]:
    """The result, and the head it was checked against when the entries let it down (else None)."""
    with engine.connect() as conn:
        _snapshot(conn)
        head = read_head(conn)
        n_rows, max_seq = conn.execute(sa.select(sa.func.count(), sa.func.max(entries.c.seq))).one()
        try:
            cps = _preflight(conn, public, head, int(n_rows or 0), max_seq)
            assert head is not None
            witnessed = _check_witnesses(public, head, witnesses)
        except _Bad as bad:
            return VerifyResult(False, head.size if head else 0, 0, bad.first_bad, bad.message), None
    try:
        combiner = _run(engine, head, cps, workers, chunk_bits, witnessed)
        if combiner.root() != head.root:
            raise _Bad("tree head", "root recomputed from the entries differs from the signed head")
        if combiner.frontier() != head.frontier:
            # Not signed, but the next append builds on it: caught here, not after that append.
            raise _Bad("tree head", "the stored frontier differs from the entries (tree state altered)")
        if combiner.pruned > combiner.allowed:
            a = combiner.allowed
            raise _Bad(entry_name(a, None), f"entry #{a}: body removed without a retention event covering it")
    except _Bad as bad:
        return VerifyResult(False, head.size, len(cps), bad.first_bad, bad.message), head
    msg = f"intact: {head.size} entries, {len(cps)} checkpoints, root {head.root.hex()}"
    if combiner.pruned:
        msg += f", {combiner.pruned} pruned by retention"
    return VerifyResult(True, head.size, len(cps), None, msg), None


def _preflight(
    conn: Connection, public: Ed25519PublicKey, head: Head | None, n_rows: int, max_seq: int | None
) -> list[tuple[int, bytes]]:
    if head is None:
        raise _Bad(
            "tree head", "audit_state is missing: the log was never initialised or its head was deleted"
        )
    if not signature_ok(
        public,
        head.signature,
        signed_message(HEAD_MAGIC, head.size, head.root, head.ts, head.prev_checkpoint),
    ):
        raise _Bad(
            "tree head", "the signed tree head does not match its signature (head altered or foreign key)"
        )
    cps = _check_checkpoints(conn, public, head)
    if max_seq is not None and max_seq >= head.size:
        extra = conn.execute(sa.select(sa.func.min(entries.c.seq)).where(entries.c.seq >= head.size)).scalar()
        raise _Bad(
            entry_name(int(extra or 0), None),
            f"entry #{extra}: appended out of band (the signed head has {head.size} entries)",
        )
    if n_rows > head.size:
        raise _Bad("entries", f"{n_rows} rows for {head.size} signed entries (rows duplicated out of band)")
    return cps


def _check_witnesses(public: Ed25519PublicKey, head: Head, witnesses: Sequence[Witness]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for w in witnesses:
        where = f"witnessed head at tree size {w.size}"
        if not signature_ok(public, w.signature, signed_message(HEAD_MAGIC, w.size, w.root, w.ts, w.prev_checkpoint)):
            raise _Bad(where, f"{where}: its signature does not match this log's key (not a head of this log)")
        if w.size > head.size:
            raise _Bad(where, f"{where}: the log now holds only {head.size} entries (truncated or rolled back)")
        if out.get(w.size, w.root) != w.root:
            raise _Bad(where, f"{where}: two witnessed heads of this size disagree (the log was forked)")
        if w.size:
            out[w.size] = w.root
    return out


def _run(
    engine: Engine, head: Head, cps: list[tuple[int, bytes]], workers: int | None, bits: int,
    witnessed: dict[int, bytes] | None = None,
) -> _Combiner:
    dsn = _dsn(engine)
    witnessed = witnessed or {}
    jobs = _chunks(head.size, bits, {s for s, _ in cps} | set(witnessed))
    combiner = _Combiner(cps, bits, witnessed)
    n = workers if workers is not None else ((os.cpu_count() or 1) if head.size >= PARALLEL_FROM else 1)
    if n <= 1 or len(jobs) < 2:
        for start, end, inside in jobs:
            combiner.add(verify_chunk(dsn, start, end, bits, inside), end - start)
        return combiner
    # forkserver: the caller may be a multi-threaded server, where plain fork is unsafe.
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = [pool.submit(verify_chunk, dsn, start, end, bits, inside) for start, end, inside in jobs]
        try:
            for fut, (start, end, _inside) in zip(futures, jobs, strict=True):
                combiner.add(fut.result(), end - start)
        finally:
            for fut in futures:
                fut.cancel()
    return combiner
