"""Keys: hashed at rest, usable at once, revoked within a second, expired keys refused."""

from __future__ import annotations

import sqlite3
import time

import httpx

from tests.gateway.conftest import ThreeTier


def chat(tt: ThreeTier, key: str) -> int:
    r = httpx.post(tt.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"messages": [{"role": "user", "content": "x"}]}, timeout=20)
    return r.status_code


def test_key_created_while_running_works_at_once_and_revocation_applies_within_a_second(tt: ThreeTier) -> None:
    key = tt.gw.key("newco", via_cli=True)
    assert [chat(tt, key) for _ in range(4)] == [200] * 4  # both workers know it
    key_id = key.split("-")[1]
    out = tt.gw.cli("keys", "revoke", key_id)
    assert key_id in out.stdout
    time.sleep(1.0)
    assert [chat(tt, key) for _ in range(4)] == [401] * 4


def test_keys_are_stored_hashed(tt: ThreeTier) -> None:
    key = tt.gw.key("hashco")
    db = sqlite3.connect(tt.gw.home / "aiguillage.db")
    dump = "\n".join(db.iterdump())
    assert key not in dump
    assert key.split("-", 2)[2] not in dump
    listing = tt.gw.cli("keys", "list").stdout
    assert "hashco" in listing and key not in listing


def test_expired_key_is_refused(tt: ThreeTier) -> None:
    key = tt.gw.key("shortco")
    db = sqlite3.connect(tt.gw.home / "aiguillage.db")
    db.execute("UPDATE api_keys SET expires_at = ?, changed_at = ? WHERE key_id = ?",
               (time.time() - 1, time.time(), key.split("-")[1]))
    db.commit()
    time.sleep(1.0)
    assert chat(tt, key) == 401


def test_revoking_an_unknown_key_fails_clearly(tt: ThreeTier) -> None:
    out = tt.gw.cli("keys", "revoke", "doesnotexist", check=False)
    assert out.returncode == 1 and "no active key" in out.stderr
