"""Verify one aligned chunk of the log (leaves [start, start + 2**bits)); runs in a worker process.

Because ``start`` is a multiple of the chunk size, every Merkle node below the chunk's own
level depends only on leaves inside the chunk, so chunks verify independently and in parallel;
the parent folds each chunk's root into the levels above (see verify.py). The loop inlines
``merkle.append``: at a million entries it is the whole cost of ``audit verify``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

_FETCH = 10_000

# What metadata retention leaves of an entry: its position and its stored hashes. Its kind, id,
# tenant and time are replaced too, because the leaf hash covers them together with the body:
# once the body is gone nothing could show they were changed, so none are kept to be changed.
PRUNED_KIND = "pruned"
PRUNED_TENANT = ""
PRUNED_TS = 0.0


def pruned_event_id(seq: int) -> str:
    return f"pruned-{seq}"


@dataclass
class ChunkResult:
    start: int
    count: int = 0  # entries checked in order before a problem (or all of them)
    bad: tuple[int, str, str] | None = None  # (position, first bad, message)
    root: bytes | None = None  # the chunk's subtree root when it is full
    top_nodes: bytes = b""  # nodes the chunk's last entry stored above the chunk level
    at_checkpoint: dict[int, list[bytes]] = field(default_factory=dict)  # size -> local frontier
    frontier: list[bytes] = field(default_factory=list)  # local frontier at the end
    pruned: int = 0  # entries whose body retention removed (a prefix of the chunk)
    allowed: int = 0  # highest metadata_pruned_before_seq seen in retention events

    def fail(self, position: int, name: str, what: str) -> ChunkResult:
        """Stop at ``position``: ``name`` is the first bad entry, ``what`` is wrong with it."""
        self.bad = (position, name, f"{name}: {what}")
        return self


def entry_name(seq: int, event_id: str | None) -> str:
    return f"entry #{seq}" + (f" ({event_id})" if event_id else "")


def _sql(start: int, end: int) -> str:
    return ("SELECT seq, kind, event_id, tenant, ts, body, nodes FROM audit_entries "
            f"WHERE seq >= {int(start)} AND seq < {int(end)} ORDER BY seq")


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _rows(dsn: tuple[str, str], start: int, end: int) -> Iterator[list[tuple[Any, ...]]]:
    kind, target = dsn
    if kind != "sqlite":
        import psycopg

        with psycopg.connect(target) as pg, pg.cursor(name="audit_verify") as pg_cur:  # server-side: streams
            pg_cur.execute(_sql(start, end))
            while pg_chunk := pg_cur.fetchmany(_FETCH):
                yield pg_chunk
        return
    lenient = False
    while True:
        conn = sqlite3.connect(target, timeout=10)
        if lenient:
            conn.text_factory = _lenient_text
        cur = conn.cursor()
        try:
            cur.execute(_sql(start, end))
            while chunk := cur.fetchmany(_FETCH):
                start = chunk[-1][0] + 1
                yield chunk
            return
        except sqlite3.OperationalError as exc:
            # Text that is not UTF-8 (written behind the gateway's back) stops SQLite's decoding:
            # read on from the last good batch with surrogates, which no leaf hash accepts, so
            # that the entry is named rather than the read failing. Only then: it costs ~10%.
            if lenient or "decode" not in str(exc):
                raise
            lenient = True
        finally:
            cur.close()
            conn.close()


def verify_chunk(
    dsn: tuple[str, str], start: int, end: int, bits: int, checkpoint_sizes: list[int]
) -> ChunkResult:
    """Check leaves [start, end) (end - start <= 2**bits); ``checkpoint_sizes`` are those inside."""
    res = ChunkResult(start)
    full = 1 << bits
    frontier: list[bytes] = []
    pop, push = frontier.pop, frontier.append
    sha = hashlib.sha256
    dumps = orjson.dumps
    wanted = set(checkpoint_sizes)
    i = start
    for rows in _rows(dsn, start, end):
        for seq, kind, event_id, tenant, ts, body, nodes in rows:
            if seq != i:
                what = "missing" if seq > i else "duplicated or out of order"
                return res.fail(i, entry_name(i, None), f"{what} (found leaf index {seq} at position {i})")
            if not isinstance(nodes, bytes) or not (body is None or isinstance(body, bytes)):
                return res.fail(i, entry_name(seq, None), "a stored value has the wrong type (entry altered)")
            if body is None:
                if res.pruned != i - start:
                    return res.fail(i, entry_name(seq, event_id), "body removed out of band")
                if (kind, event_id, tenant, ts) != (PRUNED_KIND, pruned_event_id(seq), PRUNED_TENANT, PRUNED_TS):
                    return res.fail(i, entry_name(seq, None),
                                    "pruned by retention, yet it has metadata again (entry altered)")
                res.pruned += 1
                leaf = bytes(nodes[:32])
            else:
                try:
                    leaf = sha(b"\x00" + dumps([seq, kind, event_id, tenant, ts]) + b"\n" + body).digest()
                    if kind == "retention":
                        res.allowed = max(
                            res.allowed, int(orjson.loads(body).get("metadata_pruned_before_seq", 0))
                        )
                except (TypeError, ValueError, AttributeError):  # orjson's errors are both
                    return res.fail(i, entry_name(seq, None),
                                    "a stored value cannot be read as written (entry altered)")
            local = i - start
            if local & 1:
                done = [leaf]
                h, n = leaf, local
                while n & 1:
                    h = sha(b"\x01" + pop() + h).digest()
                    done.append(h)
                    n >>= 1
                push(h)
                mine = b"".join(done)
                if local == full - 1:  # the chunk's last leaf: levels above are the parent's to check
                    good = nodes[: len(mine)] == mine
                    res.top_nodes = bytes(nodes[len(mine) :])
                else:
                    good = mine == nodes
            else:
                push(leaf)
                good = leaf == nodes if local != full - 1 else nodes[:32] == leaf
                if local == full - 1:
                    res.top_nodes = bytes(nodes[32:])
            if not good:
                return res.fail(i, entry_name(seq, event_id), "stored fields do not match its hash (entry altered)")
            i += 1
            res.count += 1
            if i in wanted:
                res.at_checkpoint[i] = list(frontier)
    if res.count == full:
        res.root = frontier[0]
    res.frontier = frontier
    return res
