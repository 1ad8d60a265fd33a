"""Key material: generated once, private to the service account, shared by every AuditLog on the host."""

from __future__ import annotations

import stat
from pathlib import Path

from conftest import settings_with
from records import fill

from aiguillage.audit import AuditLog, KeyRing
from aiguillage.audit.keys import SECRET_FILE, SIGNING_FILE, key_dir, load_public_key, signature_ok
from aiguillage.store.db import Database


def test_keys_are_generated_once_with_private_permissions(home: Path, tmp_path: Path) -> None:
    first = KeyRing.load_or_create()
    assert key_dir() == home / "audit-keys"
    for name in (SIGNING_FILE, SECRET_FILE):
        mode = stat.S_IMODE((key_dir() / name).stat().st_mode)
        assert mode == 0o600, oct(mode)
    again = KeyRing.load_or_create()
    assert again.public_pem() == first.public_pem() and again.hmac_key == first.hmac_key
    other = KeyRing.load_or_create(tmp_path / "other")
    assert other.public_pem() != first.public_pem() and other.hmac_key != first.hmac_key
    # The derived keys are independent of each other.
    assert len({first.hmac_key, first.subject_key, first.secret}) == 3


def test_restarted_log_keeps_extending_the_same_tree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    db = Database(url)
    fill(AuditLog(db, settings_with()), 10)
    db.dispose()
    db2 = Database(url)
    log2 = AuditLog(db2, settings_with())
    fill(log2, 5)
    res = log2.verify()
    assert res.ok and res.entries == 15
    db2.dispose()


def test_signatures_are_standard_ed25519_of_the_stored_key(tmp_path: Path) -> None:
    # Heads are signed through libsodium for speed; anyone holding the exported public key
    # must verify them with any Ed25519 implementation, and they equal OpenSSL's (RFC 8032
    # signatures are deterministic).
    ring = KeyRing.load_or_create(tmp_path / "keys")
    public = load_public_key(ring.public_pem())
    for msg in (b"", b"aiguillage-audit-head-v1\n7\n" + b"ab" * 32, bytes(range(256)) * 9):
        sig = ring.sign(msg)
        assert sig == ring.signing.sign(msg)
        assert signature_ok(public, sig, msg)
        assert not signature_ok(public, sig, msg + b"x")
    other = KeyRing.load_or_create(tmp_path / "other")
    assert not signature_ok(public, other.sign(b"m"), b"m")
