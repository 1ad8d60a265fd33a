"""``AuditLog``: the audit trail's one entry point (sink, lookups, proofs, verify, erasure, retention)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aiguillage.audit import merkle
from aiguillage.audit.chain import Chain, Event, Head, canonical, leaf_input, read_head
from aiguillage.audit.content import ContentStore, secure_delete
from aiguillage.audit.export import export_lines
from aiguillage.audit.keys import KeyRing, load_public_key, prompt_hmac
from aiguillage.audit.tables import entries, meta, state
from aiguillage.audit.verify import VerifyResult, Witness, verify
from aiguillage.audit.verify_chunk import PRUNED_KIND, PRUNED_TENANT, PRUNED_TS
from aiguillage.config import Settings, load_settings
from aiguillage.decision import SUBJECT_ID_MAX_CHARS
from aiguillage.keys import api_keys
from aiguillage.outcomes import samples
from aiguillage.store.db import Database

DAY = 86400.0


class AuditLog:
    def __init__(self, db: Database, settings: Settings, keys: KeyRing | None = None) -> None:
        self.db = db
        self.settings = settings
        self.keys = keys or KeyRing.load_or_create()
        self._hmac_key = self.keys.hmac_key
        self._hmac_template = hmac.new(self._hmac_key, digestmod=hashlib.sha256)
        self._subject_key = self.keys.subject_key
        self._pseudonyms: dict[tuple[str, str], str] = {}
        self.chain = Chain(self.keys, settings.audit.checkpoint_every)
        self.content = ContentStore(self.keys.wrap)
        db.migrate()
        self._init_db()

    @classmethod
    def open(cls, config: str | Path | None = None) -> AuditLog:
        """The log of the installation that ``config`` (or the embedded default) describes."""
        settings = load_settings(config)
        return cls(Database.for_settings(settings), settings)

    def _init_db(self) -> None:
        """Pin our key material in the database (first start) or check it matches (later starts)."""
        pins = {"public_key": self.keys.public_pem(), "key_fingerprint": self.keys.fingerprint}
        stored = self._pins()
        for name in pins.keys() - stored.keys():
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(meta.insert().values(name=name, value=pins[name]))
            except IntegrityError:
                pass  # a replica starting at the same moment won the race; compared below
        stored = self._pins()
        for name, value in pins.items():
            if stored[name] != value:
                raise RuntimeError(
                    f"this audit log was started with other key material ({name} differs). Every "
                    "replica must use the same keys: copy the directory $AIGUILLAGE_AUDIT_KEY_DIR "
                    "(default $AIGUILLAGE_HOME/audit-keys) from the first replica, or point "
                    "AIGUILLAGE_AUDIT_KEY_DIR at a shared secret mount"
                )
        try:
            with self.db.engine.begin() as conn:
                if read_head(conn) is None:
                    self.chain.init_state(conn)
        except IntegrityError:
            pass
        if "pruned_rows" not in stored:
            self._clear_legacy_pruned_metadata()

    def _clear_legacy_pruned_metadata(self) -> None:
        """Once per database: entries an earlier version pruned kept their kind, id, tenant and
        time, which verify now refuses (nothing could show them unchanged). Clear them, only
        below what the retention events allowed, then pin that this was done."""
        with self.db.engine.begin() as conn:
            before = _allowed_so_far(conn)
            if before:
                conn.execute(sa.update(entries).where(
                    entries.c.seq < before, entries.c.body.is_(None), entries.c.kind != PRUNED_KIND).values(_PRUNED))
        try:
            with self.db.engine.begin() as conn:
                conn.execute(meta.insert().values(name="pruned_rows", value="metadata cleared"))
        except IntegrityError:
            pass  # another replica did it at the same moment

    def _pins(self) -> dict[str, str]:
        with self.db.engine.connect() as conn:
            return dict(conn.execute(sa.select(meta.c.name, meta.c.value)).tuples().all())

    # -- hot path -------------------------------------------------------------------------
    def hmac(self, text: str) -> str:
        # Same value as prompt_hmac(self._hmac_key, text); copying a keyed template skips
        # re-deriving the padded key on every call (two per request).
        h = self._hmac_template.copy()
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def subject_pseudonym(self, tenant: str, subject_id: str) -> str:
        """The keyed pseudonym that stands for one of ``tenant``'s data subjects in the log and
        names their content key. Scoped by tenant: two tenants' "user-1" are different people
        (each tenant answers its own erasure requests), and the log does not link them."""
        key = (tenant, subject_id[:SUBJECT_ID_MAX_CHARS])  # cut as the request path records it
        got = self._pseudonyms.get(key)
        if got is None:
            got = prompt_hmac(self._subject_key, _scoped_subject(*key))[:48]
            if len(self._pseudonyms) >= 10_000:  # subjects repeat; keep the cache bounded
                self._pseudonyms.clear()
            self._pseudonyms[key] = got
        return got

    def legacy_subject_pseudonym(self, subject_id: str) -> str:
        """The pseudonym versions before tenant scoping gave a subject, in every tenant alike."""
        return prompt_hmac(self._subject_key, subject_id[:SUBJECT_ID_MAX_CHARS])[:48]

    def sink(self) -> AuditSink:
        return AuditSink(self)

    # -- appending events other than decisions ----------------------------------------------
    def _append_event(self, conn: Connection, kind: str, tenant: str, body: dict[str, Any]) -> str:
        eid = uuid.uuid4().hex
        now = time.time()
        self.chain.append(conn, [Event(kind, eid, tenant, now, canonical({"kind": kind, "at": now, **body}))])
        return eid

    def checkpoint(self) -> None:
        with self.db.engine.begin() as conn:
            self.chain.checkpoint(conn)

    # -- reading ---------------------------------------------------------------------------
    def get_decision(self, decision_id: str, tenant: str | None) -> dict[str, Any] | None:
        """The decision's event body, if it belongs to ``tenant`` (None: any tenant, for admins)."""
        cond = [entries.c.event_id == decision_id, entries.c.kind == "decision"]
        if tenant is not None:
            cond.append(entries.c.tenant == tenant)
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(entries.c.body).where(*cond)).first()
        if row is None or row.body is None:
            return None
        return orjson.loads(row.body)

    def get_content(self, decision_id: str) -> dict[str, str] | None:
        """The stored prompt/answer text, or None (not stored, erased or expired)."""
        with self.db.engine.connect() as conn:
            return self.content.get(conn, decision_id)

    def verify(self, public_key_pem: str | None = None, workers: int | None = None,
               witnesses: Sequence[Witness] = ()) -> VerifyResult:
        """Recheck everything against ``public_key_pem`` (default: this installation's key).

        ``workers``: processes for a large log (default: one per CPU from 262,144 entries).
        ``witnesses``: signed heads saved elsewhere earlier (``head``), which the log must still hold."""
        public = load_public_key(public_key_pem) if public_key_pem else self.keys.public
        return verify(self.db.engine, public, workers=workers, witnesses=witnesses)

    def head(self) -> Witness:
        """The current signed tree head, to keep outside the database (see ``verify``)."""
        with self.db.engine.connect() as conn:
            h = read_head(conn)
        if h is None:
            raise RuntimeError("the audit log has no tree head yet")
        return Witness(h.size, h.root, h.ts, h.prev_checkpoint, h.signature)

    def public_key_pem(self) -> str:
        return self.keys.public_pem()

    def prove(self, decision_id: str) -> dict[str, Any]:
        """Inclusion proof of one event in the current signed tree head (RFC 9162 audit path)."""
        with self.db.engine.connect() as conn:
            # Entry and signed head in one round trip; the nodes in a second.
            row = conn.execute(
                sa.select(
                    entries,
                    state.c.size.label("head_size"),
                    state.c.root.label("head_root"),
                    state.c.ts.label("head_ts"),
                    state.c.prev_checkpoint,
                    state.c.signature,
                )
                .select_from(entries.join(state, state.c.id == 1))
                .where(entries.c.event_id == decision_id)
            ).first()
            if row is None:
                raise KeyError(f"no audit entry with id {decision_id}")
            head = Head(row.head_size, [], row.head_root, row.head_ts, row.prev_checkpoint, row.signature)

            def lookup(nodes: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
                seqs = {merkle.node_seq(lv, ix): (lv, ix) for lv, ix in nodes}
                got = conn.execute(
                    sa.select(entries.c.seq, entries.c.nodes).where(entries.c.seq.in_(list(seqs)))
                ).all()
                by_seq = {r.seq: r.nodes for r in got}
                return {(lv, ix): by_seq[s][lv * 32 : lv * 32 + 32] for s, (lv, ix) in seqs.items()}

            path = merkle.audit_path(row.seq, head.size, lookup)
        return {
            "decision_id": decision_id,
            "leaf_index": row.seq,
            "tree_size": head.size,
            "entry": {
                "seq": row.seq,
                "kind": row.kind,
                "event_id": row.event_id,
                "tenant": row.tenant,
                "ts": row.ts,
                "body": None if row.body is None else row.body.decode(),
            },
            "leaf_hash": row.nodes[:32].hex(),
            "audit_path": [h.hex() for h in path],
            "root": head.root.hex(),
            "checkpoint": {
                "size": head.size,
                "root": head.root.hex(),
                "ts": head.ts,
                "prev_checkpoint": head.prev_checkpoint,
                "signature": base64.b64encode(head.signature).decode(),
            },
        }

    def export(
        self, since: float | datetime | None, until: float | datetime | None, fmt: str = "jsonl"
    ) -> Iterator[str]:
        return export_lines(self.db.engine, _epoch(since), _epoch(until), fmt)

    # -- GDPR and retention ------------------------------------------------------------------
    def erase_subject(self, subject_id: str, tenant: str | None) -> Erasure:
        """Destroy a data subject's content key and text, delete their outcome samples, and log
        the erasure.

        ``tenant``: whose data subject this is. None: the subject id in every tenant that has a
        decision in the log (one erasure event per tenant with anything stored for it)."""
        # Outside the lock, as writers must not wait for them: a scan of the whole log, and
        # one of the outcome samples (a new sample of this subject arriving meanwhile is as
        # late as a new request would be).
        tenants = [tenant] if tenant is not None else self._known_tenants()
        scanned_at = time.time()
        with self.db.engine.connect() as conn:
            samples_of = self._outcome_samples_of(conn, subject_id, tenant)
        legacy = self.legacy_subject_pseudonym(subject_id)
        with self.db.engine.begin() as conn:
            self.chain.lock(conn)  # serialise with writers so no new content races the erasure
            # Samples committed while the scan ran (a minute's margin for transactions that
            # were open then): their texts are erased below, so they go too.
            for owner, ids in self._outcome_samples_of(conn, subject_id, tenant, since=scanned_at - 60).items():
                samples_of[owner] = sorted(set(samples_of.get(owner, [])) | set(ids))
            legacy_erased, had_legacy = self._erase_legacy_texts(conn, subject_id, tenant)
            total = sum(legacy_erased.values())
            samples_erased = _delete_samples(conn, samples_of)
            samples_total = sum(samples_erased.values())
            logged = False
            for name in tenants:
                subject = self.subject_pseudonym(name, subject_id)
                n, had_key = self.content.erase(conn, subject)
                n_legacy = legacy_erased.pop(name, 0)
                n_samples = samples_erased.pop(name, 0)
                total += n
                # A named tenant's request is logged even when nothing was stored; across all
                # tenants, only where there was something to erase.
                if tenant is not None or had_key or n or n_legacy or n_samples:
                    body: dict[str, Any] = {"subject": subject, "content_erased": n + n_legacy}
                    if n_legacy or (had_legacy and tenant is not None):  # the old key was destroyed
                        body["legacy_subject"] = legacy
                    if n_samples:
                        body["outcome_samples_erased"] = n_samples
                    self._append_event(conn, "erasure", name, body)
                    logged = True
            unattributed = sum(legacy_erased.values())  # all tenants: old texts of pruned decisions
            late = sum(samples_erased.values())  # samples of a tenant whose decisions the scan missed
            if unattributed or late or not logged:  # ... or nothing found anywhere: on record all the same
                body = {"legacy_subject": legacy, "content_erased": unattributed, "tenants": "all"}
                if late:
                    body["outcome_samples_erased"] = late
                self._append_event(conn, "erasure", "", body)
        self._checkpoint_wal()
        return Erasure(total, samples_total)

    def _erase_legacy_texts(self, conn: Connection, subject_id: str, tenant: str | None) -> tuple[dict[str, int], bool]:
        """Texts an earlier version stored under the unscoped pseudonym (one key for the id in
        every tenant): this erasure's are deleted, every other tenant's move under that tenant's
        own key, and the old key is destroyed now. A text whose decision was pruned already cannot
        be attributed to a tenant: it is erased too. Returns the texts erased by tenant ("": the
        decision was pruned), and whether there was an old key or text at all."""
        legacy = self.legacy_subject_pseudonym(subject_id)
        doomed: list[str] = []
        moves: dict[str, str] = {}
        erased: dict[str, int] = {}
        for eid, owner in self.content.rows_with_tenant(conn, legacy):
            if tenant is None or owner is None or owner == tenant:
                doomed.append(eid)
                who = tenant if tenant is not None else owner or ""
                erased[who] = erased.get(who, 0) + 1
            else:
                moves[eid] = self.subject_pseudonym(owner, subject_id)
        self.content.delete(conn, doomed)
        self.content.rekey(conn, moves, time.time())
        _n, had_key = self.content.erase(conn, legacy)  # the old key: no text is left under it
        return erased, had_key or bool(doomed or moves)

    def _outcome_samples_of(self, conn: Connection, subject_id: str, tenant: str | None,
                            since: float | None = None) -> dict[str, list[int]]:
        """Outcome samples (prompt and answer kept for router training, ``outcomes.py``) of the
        subject's decisions, by tenant: found through each sample's decision in the log. A sample
        whose decision was pruned cannot be attributed to anyone, and stays."""
        q = sa.select(samples.c.id, samples.c.tenant, entries.c.body).select_from(samples.join(
            entries, sa.and_(entries.c.event_id == samples.c.decision_id, entries.c.kind == "decision")))
        if tenant is not None:
            q = q.where(samples.c.tenant == tenant)
        if since is not None:
            q = q.where(samples.c.created_at >= since)
        legacy = self.legacy_subject_pseudonym(subject_id)
        found: dict[str, list[int]] = {}
        for sample_id, owner, body in conn.execute(q):
            subject = orjson.loads(body).get("subject") if body is not None else None
            if subject is not None and subject in (legacy, self.subject_pseudonym(owner, subject_id)):
                found.setdefault(owner, []).append(sample_id)
        return found

    def erased_since(self, decision_id: str) -> bool:
        """Whether the decision's data subject was erased after it was made. A late write about
        the decision (a shadow evaluation's samples) must then not bring their text back."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(entries.c.body, entries.c.ts).where(
                entries.c.event_id == decision_id, entries.c.kind == "decision")).first()
            if row is None or row.body is None:
                return False
            subject = orjson.loads(row.body).get("subject")
            later = conn.execute(sa.select(entries.c.body).where(
                entries.c.ts >= row.ts, entries.c.kind == "erasure")).scalars()
            return any(body is not None and orjson.loads(body).get("subject") == subject for body in later)

    def has_decisions_of(self, tenant: str) -> bool:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.select(entries.c.seq).where(
                entries.c.kind == "decision", entries.c.tenant == tenant).limit(1)).first() is not None

    def _known_tenants(self) -> list[str]:
        """Every tenant that may have something stored: those with decisions in the log, and, as
        their decisions may all be pruned while content or samples are kept longer, those with a
        policy in the config, an API key or an outcome sample."""
        with self.db.engine.connect() as conn:
            found = set(conn.execute(sa.select(entries.c.tenant).where(entries.c.kind == "decision").distinct()).scalars())
            found.update(conn.execute(sa.select(samples.c.tenant).distinct()).scalars())
            found.update(conn.execute(sa.select(api_keys.c.tenant).distinct()).scalars())
        found.update(self.settings.tenants)
        return sorted(found)

    def apply_retention(self, now: float | None = None) -> dict[str, Any]:
        """Delete content past ``content_retention_days``, prune event bodies past
        ``metadata_retention_days`` (their leaf hashes stay, so the log still verifies); log it."""
        now = time.time() if now is None else now
        cfg = self.settings.audit
        content_before = now - cfg.content_retention_days * DAY
        meta_before = now - cfg.metadata_retention_days * DAY
        with self.db.engine.begin() as conn:
            head = self.chain.lock(conn)
            n_content = self.content.expire(conn, content_before)
            first_kept = conn.execute(
                sa.select(sa.func.min(entries.c.seq)).where(entries.c.ts >= meta_before)
            ).scalar()
            cut = head.size if first_kept is None else int(first_kept)
            before = _allowed_so_far(conn)
            pruned = conn.execute(
                sa.update(entries).where(entries.c.seq < cut, entries.c.body.is_not(None)).values(_PRUNED)
            ).rowcount
            summary: dict[str, Any] = {
                "content_deleted": int(n_content or 0),
                "content_before": content_before,
                "metadata_pruned": int(pruned or 0),
                "metadata_before": meta_before,
                "metadata_pruned_before_seq": max(cut, before) if pruned else before,
            }
            summary["event_id"] = self._append_event(conn, "retention", "", summary)
        self._checkpoint_wal()
        return summary

    def _checkpoint_wal(self) -> None:
        if self.db.is_sqlite:  # push secure-deleted pages out of the WAL into the zeroed file
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# A pruned entry keeps its position and stored hashes only (see verify_chunk.PRUNED_KIND).
_PRUNED = {
    "body": None, "kind": PRUNED_KIND, "tenant": PRUNED_TENANT, "ts": PRUNED_TS,
    "event_id": sa.literal("pruned-") + sa.cast(entries.c.seq, sa.String),
}


def _allowed_so_far(conn: Connection) -> int:
    """What the latest retention event allowed to be pruned: carried forward by a run that prunes
    nothing, so the allowance never shrinks. Never the count of bodies found missing: that would
    make a body removed out of band look allowed. (The latest retention event always keeps its
    body: a run prunes only entries older than itself.)"""
    body = conn.execute(
        sa.select(entries.c.body).where(entries.c.kind == "retention", entries.c.body.is_not(None))
        .order_by(entries.c.seq.desc()).limit(1)
    ).scalar()
    return int(orjson.loads(body).get("metadata_pruned_before_seq", 0)) if body else 0


@dataclass(frozen=True)
class Erasure:
    texts: int  # stored prompt/answer texts deleted
    outcome_samples: int  # router-training samples deleted


def _delete_samples(conn: Connection, by_tenant: dict[str, list[int]]) -> dict[str, int]:
    """Delete the samples; how many went, by tenant."""
    secure_delete(conn)
    gone: dict[str, int] = {}
    for owner, ids in by_tenant.items():
        for i in range(0, len(ids), 500):
            n = conn.execute(sa.delete(samples).where(samples.c.id.in_(ids[i:i + 500]))).rowcount or 0
            gone[owner] = gone.get(owner, 0) + n
    return gone


def _scoped_subject(tenant: str, subject_id: str) -> str:
    # Length-prefixed, so no (tenant, subject) pair reads as another; the tag keeps it apart from
    # the unscoped ids of earlier versions (an HTTP header cannot carry the NUL).
    return f"aiguillage-subject-v2\x00{len(tenant)}:{tenant}{subject_id}"


def _epoch(t: float | datetime | None) -> float | None:
    return t.timestamp() if isinstance(t, datetime) else t


class AuditSink:
    """The group-commit writer's sink: one log entry per request record, in the writer's transaction."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def write(self, conn: Connection, records: Sequence[dict[str, Any]]) -> None:
        events: list[Event] = []
        texts: list[tuple[str, str, dict[str, str]]] = []
        pseudonym = self.log.subject_pseudonym
        for rec in records:
            body = dict(rec)
            text = body.pop("content", None)
            tenant = str(rec.get("tenant") or "")
            subject = pseudonym(tenant, str(body.pop("subject_id", None) or tenant))
            body["subject"] = subject  # a keyed pseudonym: the raw subject id never enters the log
            ts = float(rec.get("received_at") or time.time())
            eid = str(rec["decision_id"])
            events.append(Event("decision", eid, tenant, ts, canonical(body)))
            # Belt and braces: only tenants whose policy asks for it get their text kept.
            if text and self.log.settings.policy_for(tenant).store_content:
                texts.append(
                    (eid, subject, {"prompt": text.get("prompt") or "", "answer": text.get("answer") or ""})
                )
        if not events:
            return
        self.log.chain.append(conn, events)
        if texts:
            self.log.content.put(conn, texts, time.time())


__all__ = ["AuditLog", "AuditSink", "Erasure", "VerifyResult", "leaf_input"]
