"""``/metrics`` adds up every worker process (the fixture's gateway runs two)."""

from __future__ import annotations

import re

import httpx

from tests.gateway.conftest import ThreeTier


def _total(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_every_worker(tt: ThreeTier) -> None:
    before = httpx.get(tt.gw.url + "/metrics").text
    n = 12
    with httpx.Client() as c:
        for _ in range(n):
            r = c.post(tt.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {tt.key}"},
                       json={"messages": [{"role": "user", "content": "x"}]})
            assert r.status_code == 200
    after = httpx.get(tt.gw.url + "/metrics").text
    routed = _total(after, "aiguillage_routed_total", deployment="eu-small") - \
        _total(before, "aiguillage_routed_total", deployment="eu-small")
    assert routed == n
    assert _total(after, "aiguillage_overhead_seconds_count") - _total(before, "aiguillage_overhead_seconds_count") >= n
    assert _total(after, "aiguillage_tokens_total", kind="completion") >= 7 * n
    assert re.search(r'aiguillage_cost_eur_total\{deployment="eu-small",tenant="acme"\}', after)
