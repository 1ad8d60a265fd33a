"""``/metrics`` adds up every worker process (the fixture's gateway runs two).

Each worker buffers its request-path counts and flushes them within a second (and before it
answers a scrape), so counts from the worker that did not answer the scrape may lag by that much.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from aiguillage import metrics
from aiguillage.health import INFLIGHT
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
    time.sleep(metrics.FLUSH_INTERVAL_S + 0.5)  # earlier tests' counts, flushed by both workers
    before = httpx.get(tt.gw.url + "/metrics").text
    n = 12
    with httpx.Client() as c:
        for _ in range(n):
            r = c.post(tt.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {tt.key}"},
                       json={"messages": [{"role": "user", "content": "x"}]})
            assert r.status_code == 200
    deadline = time.monotonic() + metrics.FLUSH_INTERVAL_S + 4
    while True:  # both workers' counts, once the other worker has flushed (within a second)
        after = httpx.get(tt.gw.url + "/metrics").text
        routed = _total(after, "aiguillage_routed_total", deployment="eu-small") - \
            _total(before, "aiguillage_routed_total", deployment="eu-small")
        if routed >= n or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert routed == n
    assert _total(after, "aiguillage_overhead_seconds_count") - _total(before, "aiguillage_overhead_seconds_count") >= n
    assert _total(after, "aiguillage_tokens_total", kind="completion") >= 7 * n
    assert re.search(r'aiguillage_cost_eur_total\{deployment="eu-small",tenant="acme"\}', after)


@pytest.mark.parametrize("values", [[], [0.0001], [0.0001, 0.0002, 0.0005, 0.003, 0.2, 7.0],
                                    [0.00025] * 5 + [0.1, 0.1000001]])
def test_buffered_histogram_matches_the_library(values: list[float]) -> None:
    """Bucketing here and adding counts at flush gives what observing each value would: same
    buckets (a value on a bound goes in that bound's bucket), same count, same sum."""
    buckets = (0.0001, 0.00025, 0.0005, 0.001, 0.1, 5)
    ref_reg, buf_reg = CollectorRegistry(), CollectorRegistry()
    ref = Histogram("h", "h", ["d"], buckets=buckets, registry=ref_reg)
    buf = Histogram("h", "h", ["d"], buckets=buckets, registry=buf_reg)
    ref_child = ref.labels("x")
    for v in values:
        ref_child.observe(v)
    buffered = metrics.BufferedHistogram(buf.labels("x"))
    for v in values:
        buffered.observe(v)
    assert (_samples(buf_reg) == _samples(ref_reg)) is (not values)  # not flushed yet
    buffered.flush()
    buffered.flush()  # a second flush with nothing new adds nothing
    assert _samples(buf_reg) == _samples(ref_reg)


def _samples(registry: CollectorRegistry) -> list[str]:
    # Creation timestamps differ between the two histograms; everything else must be equal.
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_buffered_counts_reach_the_library_on_flush() -> None:
    c = metrics.child(metrics.TOKENS, "t-buffer-test", "d", "prompt")
    g = metrics.child(INFLIGHT, "d-buffer-test")
    before = metrics.TOKENS.labels("t-buffer-test", "d", "prompt")._value.get()
    gauge_before = INFLIGHT.labels("d-buffer-test")._value.get()
    c.inc(3)
    c.inc(4)
    g.inc(5)
    g.dec(2)
    assert metrics.TOKENS.labels("t-buffer-test", "d", "prompt")._value.get() == before
    metrics.flush()
    assert metrics.TOKENS.labels("t-buffer-test", "d", "prompt")._value.get() == before + 7
    assert INFLIGHT.labels("d-buffer-test")._value.get() == gauge_before + 3
