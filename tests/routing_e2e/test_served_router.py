"""The trained routers served by the real gateway: different deployments for easy and hard
prompts, and a cascade that escalates when the small model's answer fails its verifier."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiguillage.config import RouterSpec
from aiguillage.routing import RouteInput, build_router
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import ROUTELLM, GatewayProcess, catalog, openai_deployment

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
COLUMNS = {WEAK: "mixtral", STRONG: "gpt4"}


def _rows() -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with (ROUTELLM / "gsm8k_responses.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("routers")
    data = tmp / "train.csv"
    rows = _rows()[:500]
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = {}
    for strategy in ("learned", "cascade"):
        out[strategy] = tmp / f"{strategy}.router"
        res = subprocess.run([sys.executable, "-m", "aiguillage", "router", "train", str(data), "--out",
                              str(out[strategy]), "--strategy", strategy], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
    return out


class Env:
    def __init__(self, tmp: Path, artifacts: dict[str, Path]) -> None:
        self.weak = FakeOpenAI("mixtral").start()
        self.strong = FakeOpenAI("gpt4").start()
        self.cfg = catalog(
            openai_deployment("mixtral", self.weak.url, "medium", "eu", ("0.6", "0.6")),
            openai_deployment("gpt4", self.strong.url, "large", "eu", ("10", "30")),
            tenants={
                "smart": {"router": {"strategy": "learned", "artifact": str(artifacts["learned"]),
                                     "quality_target": 0.95, "column_map": COLUMNS}},
                "careful": {"router": {"strategy": "cascade", "artifact": str(artifacts["cascade"]),
                                       "column_map": COLUMNS}},
            },
        )
        self.gw = GatewayProcess(tmp, self.cfg).start()
        self.keys = {t: self.gw.key(t) for t in ("smart", "careful", "other")}

    def ask(self, tenant: str, prompt: str) -> httpx.Response:
        return httpx.post(self.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {self.keys[tenant]}"},
                          json={"messages": [{"role": "user", "content": prompt}]}, timeout=30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, artifacts: dict[str, Path]) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("served"), artifacts)
    yield e
    e.gw.stop()
    e.weak.stop()
    e.strong.stop()


def test_learned_router_sends_easy_and_hard_prompts_to_different_deployments(env: Env) -> None:
    from aiguillage.config import Settings

    settings = Settings.model_validate(env.cfg)
    spec: RouterSpec = settings.tenants["smart"].router
    router = build_router(spec, list(settings.models))
    firsts: dict[str, str] = {}
    for row in _rows()[500:700]:
        r = router.rank(RouteInput(row["prompt"], len(row["prompt"]) // 4, 512), list(settings.models))
        firsts.setdefault(r.order[0].id, row["prompt"])
    assert set(firsts) == {"mixtral", "gpt4"}, "the trained router should split held-out prompts"
    for expected, prompt in firsts.items():
        r = env.ask("smart", prompt)
        assert r.status_code == 200
        assert r.headers["x-aiguillage-model"] == expected
        rec = httpx.get(env.gw.url + f"/v1/decisions/{r.headers['x-aiguillage-decision']}",
                        headers={"authorization": f"Bearer {env.keys['smart']}"}).json()
        assert rec["router"]["strategy"] == "learned" and rec["router"]["reason"]
        assert rec["router"]["version"] and rec["router"]["details"]
        # Explanations belong to their tenant.
        assert httpx.get(env.gw.url + f"/v1/decisions/{r.headers['x-aiguillage-decision']}",
                         headers={"authorization": f"Bearer {env.keys['other']}"}).status_code == 404


def test_cascade_escalates_only_when_the_small_answer_fails_the_verifier(env: Env) -> None:
    from aiguillage.config import Settings

    settings = Settings.model_validate(env.cfg)
    verifier = build_router(settings.tenants["careful"].router, list(settings.models)).rank(
        RouteInput("q", 1, 512), list(settings.models)).verifier
    assert verifier is not None
    scored = sorted(((verifier.score(r["prompt"], r[f"{WEAK}_response"]), r) for r in _rows()[500:800]),
                    key=lambda x: x[0])
    good, bad = scored[0][1], scored[-1][1]
    assert scored[0][0] < verifier.threshold <= scored[-1][0]
    answers = {good["prompt"]: good[f"{WEAK}_response"], bad["prompt"]: bad[f"{WEAK}_response"]}
    env.weak.reset()
    env.strong.reset()
    env.weak.answer_for = lambda body: answers[body["messages"][-1]["content"]]

    r = env.ask("careful", good["prompt"])
    assert r.headers["x-aiguillage-model"] == "mixtral" and env.strong.requests == []
    r = env.ask("careful", bad["prompt"])
    assert r.headers["x-aiguillage-model"] == "gpt4"
    assert len(env.weak.requests) == 2 and len(env.strong.requests) == 1
    rec = httpx.get(env.gw.url + f"/v1/decisions/{r.headers['x-aiguillage-decision']}",
                    headers={"authorization": f"Bearer {env.keys['careful']}"}).json()
    assert rec["router"]["strategy"] == "cascade"
    assert rec["router"]["details"]["verifier_scores"]["mixtral"] >= verifier.threshold
    assert [a["outcome"] for a in rec["attempts"]] == ["escalated", "ok"]
    # The cascade charges both calls: the weak answer was paid for too.
    assert rec["usage"] == {"prompt_tokens": 22, "completion_tokens": 14}
    from decimal import Decimal

    weak_cost = (Decimal("0.6") * 11 + Decimal("0.6") * 7) / Decimal(1_000_000)
    strong_cost = (Decimal("10") * 11 + Decimal("30") * 7) / Decimal(1_000_000)
    assert Decimal(r.headers["x-aiguillage-cost-eur"]) == weak_cost + strong_cost
