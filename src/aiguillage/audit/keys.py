"""Audit key material: the Ed25519 checkpoint-signing key and one 256-bit secret.

Both live as files (mode 0600) in ``$AIGUILLAGE_AUDIT_KEY_DIR``, default
``$AIGUILLAGE_HOME/audit-keys``, generated at first start. They are deliberately NOT in the
database: whoever can write the database could otherwise re-sign a forged log, which is
exactly the tampering the log must expose. The price is that replicas must share the
directory (a mounted secret); ``AuditLog`` refuses to start if the database was begun with
other keys. From the secret, HMAC derives independent keys for prompt/answer hashes, subject
pseudonyms and wrapping the per-subject content keys.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.signing import SigningKey

from aiguillage.config import home_dir

SIGNING_FILE = "signing_key.pem"
SECRET_FILE = "secret.key"


def key_dir() -> Path:
    env = os.environ.get("AIGUILLAGE_AUDIT_KEY_DIR")
    return Path(env).expanduser() if env else home_dir() / "audit-keys"


def prompt_hmac(key: bytes, text: str) -> str:
    """Keyed hash of a prompt or answer: proves which text was sent without storing it."""
    return hmac.digest(key, text.encode("utf-8", "surrogatepass"), "sha256").hex()


def _create_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it exists; safe when several processes start together."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and fails if another process won the race
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_ok(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class KeyRing:
    signing: Ed25519PrivateKey
    secret: bytes
    # The same key in libsodium, which signs in ~20 µs where OpenSSL takes ~34 µs here: one
    # signature per committed batch, on the path every request's acknowledgement waits for.
    # Ed25519 is deterministic, so both produce the same signature.
    _fast: SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seed = self.signing.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        object.__setattr__(self, "_fast", SigningKey(seed))

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> KeyRing:
        d = directory or key_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        sk_path, secret_path = d / SIGNING_FILE, d / SECRET_FILE
        if not sk_path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _create_once(sk_path, pem)
        if not secret_path.exists():
            _create_once(secret_path, secrets.token_hex(32).encode())
        try:
            signing = serialization.load_pem_private_key(sk_path.read_bytes(), password=None)
            secret = bytes.fromhex(secret_path.read_text().strip())
        except (ValueError, OSError) as exc:
            raise RuntimeError(
                f"audit key material in {d} is unreadable ({exc}); restore it from backup"
            ) from None
        if not isinstance(signing, Ed25519PrivateKey) or len(secret) != 32:
            raise RuntimeError(f"audit key material in {d} is not an Ed25519 key and a 32-byte secret")
        return cls(signing, secret)

    def _derive(self, label: bytes) -> bytes:
        return hmac.digest(self.secret, label, "sha256")

    @property
    def hmac_key(self) -> bytes:
        return self._derive(b"aiguillage audit: prompt/answer hmac")

    @property
    def subject_key(self) -> bytes:
        return self._derive(b"aiguillage audit: subject pseudonym")

    @property
    def wrap(self) -> AESGCM:
        return AESGCM(self._derive(b"aiguillage audit: content key wrap"))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self._derive(b"aiguillage audit: fingerprint")).hexdigest()[:32]

    @property
    def public(self) -> Ed25519PublicKey:
        return self.signing.public_key()

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, message: bytes) -> bytes:
        return self._fast.sign(message).signature
