"""The router artifact: one file with the fitted model, its metadata and a content hash.

Layout: a pickle of ``{"format": ..., "meta": {...}, "payload": bytes, "sha256": hex}`` where
``payload`` is itself a pickle of plain scikit-learn/numpy objects. The version reported in
every explanation is the first 12 hex digits of the payload's SHA-256, so two servers that
loaded the same artifact say the same thing. Loading refuses anything but the classes a router
needs (a restricted unpickler), so a stray or tampered file fails loudly instead of running
code; artifacts should still only come from your own ``aiguillage router train``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = "aiguillage-router/1"
_ALLOWED_ROOTS = {"sklearn", "numpy", "scipy", "aiguillage", "collections", "datetime", "decimal", "re"}
_ALLOWED_BUILTINS = {"set", "frozenset", "slice", "complex", "range", "bytearray", "dict", "list", "tuple",
                     "float", "int", "str", "bool", "object", "type"}
_ALLOWED_EXACT = {("copyreg", "_reconstructor"), ("_codecs", "encode"), ("functools", "partial")}


class ArtifactError(Exception):
    """The router artifact is missing, corrupt or not produced by ``aiguillage router train``."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".", 1)[0]
        if (
            root in _ALLOWED_ROOTS
            or (module == "builtins" and name in _ALLOWED_BUILTINS)
            or (module, name) in _ALLOWED_EXACT
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _loads(data: bytes) -> Any:
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def save_artifact(path: str | Path, meta: dict[str, Any], model: Any) -> str:
    """Write the artifact; returns its version (content hash prefix)."""
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest()
    full_meta = {**meta, "version": digest[:12], "trained_at": datetime.now(UTC).isoformat(timespec="seconds")}
    blob = {"format": FORMAT, "meta": full_meta, "payload": payload, "sha256": digest}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(p)  # atomic: a server never reads a half-written artifact
    return digest[:12]


def load_artifact(path: str | Path) -> tuple[dict[str, Any], Any]:
    """Read and verify an artifact; returns ``(meta, model)``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ArtifactError(
            f"{p}: cannot read the router artifact ({exc.strerror}); create it with "
            "'aiguillage router train DATA.csv --out FILE --strategy learned|cascade'"
        ) from None
    try:
        blob = _loads(data)
    except Exception as exc:  # any unpickling failure means the same thing to the operator
        raise ArtifactError(f"{p}: not a router artifact ({exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ArtifactError(f"{p}: not a router artifact (expected format {FORMAT}); retrain it")
    payload = blob["payload"]
    if hashlib.sha256(payload).hexdigest() != blob.get("sha256"):
        raise ArtifactError(f"{p}: content hash mismatch, the file is corrupt; retrain or restore it")
    try:
        model = _loads(payload)
    except Exception as exc:
        raise ArtifactError(f"{p}: cannot load the model ({exc}); retrain it with this version") from None
    return blob["meta"], model
