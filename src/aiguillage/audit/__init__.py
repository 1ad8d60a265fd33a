"""Tamper-evident audit trail: one Merkle-log entry per request, signed checkpoints, content off the log.

See docs/compliance.md (audit section) for what is recorded and why.
"""

from aiguillage.audit import merkle
from aiguillage.audit.keys import KeyRing, prompt_hmac
from aiguillage.audit.merkle import verify_inclusion
from aiguillage.audit.log import AuditLog, AuditSink
from aiguillage.audit.proof import verify_proof
from aiguillage.audit.verify import VerifyResult

__all__ = [
    "AuditLog",
    "AuditSink",
    "KeyRing",
    "VerifyResult",
    "merkle",
    "prompt_hmac",
    "verify_inclusion",
    "verify_proof",
]
