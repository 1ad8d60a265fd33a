"""Merkle hashing matches RFC 9162's definition; inclusion proofs verify, and fail when they should."""

from __future__ import annotations

import copy
import hashlib

import pytest
from records import fill

from aiguillage.audit import AuditLog, KeyRing, merkle, verify_proof


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, literally."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1, literally."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


def test_frontier_root_and_audit_paths_match_the_rfc_definitions() -> None:
    data = [f"leaf {i}".encode() for i in range(40)]
    frontier: list[bytes] = []
    nodes: dict[tuple[int, int], bytes] = {}
    for n in range(1, len(data) + 1):
        done = merkle.append(frontier, n - 1, merkle.leaf_hash(data[n - 1]))
        for level, h in enumerate(done):
            nodes[(level, (n - 1) >> level)] = h
        assert merkle.root(frontier) == _mth(data[:n])
        for m in range(n):
            path = merkle.audit_path(m, n, lambda want: {k: nodes[k] for k in want})
            assert path == _path(m, data[:n])
            assert merkle.verify_inclusion(merkle.leaf_hash(data[m]), m, n, path, _mth(data[:n]))
            if path:
                assert not merkle.verify_inclusion(merkle.leaf_hash(data[m]), m, n, path[:-1], _mth(data[:n]))
            assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), m, n, path, _mth(data[:n]))
    assert merkle.root([]) == hashlib.sha256(b"").digest()


def test_proofs_verify_for_every_position(log: AuditLog) -> None:
    ids = fill(log, 37)
    pem = log.public_key_pem()
    for i, did in enumerate(ids):
        proof = log.prove(did)
        assert proof["leaf_index"] == i and proof["tree_size"] == 37
        ok, reason = verify_proof(proof, pem)
        assert ok, reason


def test_proofs_fail_when_they_should(log: AuditLog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = fill(log, 21)
    proof = log.prove(ids[6])
    pem = log.public_key_pem()
    assert verify_proof(proof, pem)[0]

    def broken(change) -> bool:  # type: ignore[no-untyped-def]
        p = copy.deepcopy(proof)
        change(p)
        return verify_proof(p, pem)[0]

    assert not broken(lambda p: p["entry"].update(body=p["entry"]["body"].replace("acme", "evil")))
    assert not broken(lambda p: p["audit_path"].__setitem__(1, "00" * 32))
    assert not broken(lambda p: p["audit_path"].pop())
    assert not broken(lambda p: p.update(leaf_index=7))
    assert not broken(lambda p: p.update(root="11" * 32))
    assert not broken(lambda p: p["checkpoint"].update(ts=p["checkpoint"]["ts"] + 1))
    assert not broken(lambda p: p.update(tree_size=22))
    # A pruned-looking entry: nothing would tie its other fields to the leaf hash it brings.
    assert not broken(lambda p: p["entry"].update(body=None, tenant="evil"))
    other = KeyRing.load_or_create(tmp_path / "other-keys").public_pem()
    assert not verify_proof(proof, other)[0]


def test_unknown_decision_cannot_be_proved(log: AuditLog) -> None:
    fill(log, 3)
    with pytest.raises(KeyError):
        log.prove("0" * 32)


def test_a_negative_leaf_index_is_refused() -> None:
    data = [bytes([i]) for i in range(16)]
    leaf, path, root = merkle.leaf_hash(data[15]), _path(15, data), _mth(data)
    assert merkle.verify_inclusion(leaf, 15, 16, path, root)
    assert not merkle.verify_inclusion(leaf, -1, 16, path, root)  # -1 walks the same path as 15
