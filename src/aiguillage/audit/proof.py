"""Checking an inclusion proof from ``AuditLog.prove`` with nothing but the exported public key."""

from __future__ import annotations

import base64
from typing import Any

from aiguillage.audit import merkle
from aiguillage.audit.chain import HEAD_MAGIC, leaf_input, signed_message
from aiguillage.audit.keys import load_public_key, signature_ok


def verify_proof(proof: dict[str, Any], public_key_pem: str) -> tuple[bool, str]:
    """(ok, reason): the entry hashes to the leaf, the path leads to the root, the head is signed."""
    try:
        entry = proof["entry"]
        leaf = bytes.fromhex(proof["leaf_hash"])
        if entry["body"] is None:
            # Nothing would tie the entry's other fields to the leaf hash the proof brings along.
            return False, "the entry's body was pruned by retention: there is nothing left to prove"
        data = leaf_input(
            entry["seq"], entry["kind"], entry["event_id"], entry["tenant"], entry["ts"], entry["body"]
        )
        if merkle.leaf_hash(data) != leaf:
            return False, "the entry does not hash to the proof's leaf hash"
        if entry["seq"] != proof["leaf_index"] or entry["event_id"] != proof["decision_id"]:
            return False, "the entry is not the one the proof names"
        cp = proof["checkpoint"]
        root = bytes.fromhex(cp["root"])
        if bytes.fromhex(proof["root"]) != root or cp["size"] != proof["tree_size"]:
            return False, "the proof's root or size differs from its signed checkpoint"
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        if not merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root):
            return False, "the audit path does not lead to the signed root"
        msg = signed_message(HEAD_MAGIC, cp["size"], root, cp["ts"], cp["prev_checkpoint"])
        if not signature_ok(load_public_key(public_key_pem), base64.b64decode(cp["signature"]), msg):
            return False, "the checkpoint signature is invalid for this public key"
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"malformed proof: {exc}"
    return True, f"entry {proof['leaf_index']} is included in the signed tree of size {proof['tree_size']}"
