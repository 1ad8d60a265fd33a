"""Merkle tree hashing in the manner of RFC 9162 (certificate transparency v2), section 2.1.

Leaves hash as SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left || right), and the
root of a tree whose size is not a power of two splits at the largest power of two below it.
The log keeps only the *frontier* (the complete subtrees along the right edge, one per set bit
of the size), so appending is O(1) amortised and never rereads old entries. Each append also
yields the complete nodes it finished; the store keeps them so an audit path can be served from
a handful of rows (``node_seq``) instead of rehashing the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_LEN = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """Add ``leaf`` as entry number ``size``; mutate ``frontier``; return the nodes it completed.

    The returned list starts with the leaf (level 0) and goes up one level per merge.
    """
    done = [leaf]
    h = leaf
    n = size
    while n & 1:
        h = _sha(b"\x01" + frontier.pop() + h).digest()
        done.append(h)
        n >>= 1
    frontier.append(h)
    return done


def root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the whole tree: fold the frontier from the right (RFC 9162's split rule)."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for left in reversed(frontier[:-1]):
        r = _sha(b"\x01" + left + r).digest()
    return r


def node_seq(level: int, index: int) -> int:
    """The entry whose append completed node (level, index); its stored node list holds it."""
    return ((index + 1) << level) - 1


def _largest_pow2_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(a: int, b: int) -> list[tuple[int, int]]:
    """Complete aligned subtrees (level, index) that make up leaves [a, b), left to right.

    Only valid for ranges that RFC 9162's recursion produces (``a`` aligned to the range size).
    """
    out: list[tuple[int, int]] = []
    while a < b:
        n = b - a
        k = n if n & (n - 1) == 0 else _largest_pow2_below(n)
        level = k.bit_length() - 1
        out.append((level, a >> level))
        a += k
    return out


def audit_path_plan(m: int, n: int) -> list[list[tuple[int, int]]]:
    """PATH(m, D[n]) as a list, leaf-side first, of node groups; each group folds into one hash."""
    plan: list[list[tuple[int, int]]] = []
    a, b = 0, n
    while b - a > 1:
        k = _largest_pow2_below(b - a)
        if m - a < k:
            plan.append(range_nodes(a + k, b))
            b = a + k
        else:
            plan.append(range_nodes(a, a + k))
            a = a + k
    plan.reverse()
    return plan


def fold(hashes: Sequence[bytes]) -> bytes:
    return root(hashes)


def audit_path(
    m: int, n: int, lookup: Callable[[list[tuple[int, int]]], dict[tuple[int, int], bytes]]
) -> list[bytes]:
    """The inclusion proof for leaf ``m`` in a tree of size ``n``; ``lookup`` fetches nodes in one go."""
    plan = audit_path_plan(m, n)
    nodes = lookup(sorted({node for group in plan for node in group}))
    return [fold([nodes[node] for node in group]) for group in plan]


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
