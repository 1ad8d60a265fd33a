"""Decision and request ids: unique, fixed width, and ordered by time so store indexes grow at
their right edge (a random id dirties a random B-tree page on every insert)."""

from __future__ import annotations

import os
import re
import time

from aiguillage.decision import new_id


def test_ids_are_32_hex_and_unique() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_sort_by_creation_time() -> None:
    first = new_id()
    time.sleep(0.003)
    later = [new_id() for _ in range(100)]
    assert all(first < i for i in later)
    ms = int(first[:12], 16)
    assert abs(ms - time.time() * 1000) < 5_000


def _first_suffix_in_child() -> str:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, new_id()[12:].encode())
        os._exit(0)
    os.close(w)
    got = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return got


def test_forked_workers_draw_their_own_keys() -> None:
    # Two workers forked from one parent start from the same counter; if they shared the key,
    # their ids in the same millisecond would be equal.
    new_id()
    a, b = _first_suffix_in_child(), _first_suffix_in_child()
    assert len(a) == len(b) == 20
    assert a != b
