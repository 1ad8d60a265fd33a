"""Decision latency of the learned router (features + prediction + explanation) and the cascade
verifier, for a 2,000-character prompt. Target: <= 2 ms p99 for the learned decision.

Trains on the shared data first (MMLU for learned, GSM8K for the verifier), saves and reloads
the artifacts through build_router exactly as the gateway does, then times rank() calls.
Run: .venv/bin/python bench/router_latency.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from aiguillage.config import Deployment, Price, RouterSpec
from aiguillage.routing import RouteInput, build_router
from aiguillage.routing.artifact import save_artifact
from aiguillage.routing.cascade import train_cascade
from aiguillage.routing.learned import train_learned
from aiguillage.routing.outcomes import load_outcomes

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "routellm"
WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
CATALOG = [
    Deployment(id=WEAK, provider="local", tier="small", price_eur_per_mtok=Price(input=0.5, output=0.5)),
    Deployment(id="mid", provider="mistral", tier="medium", price_eur_per_mtok=Price(input=2, output=6)),
    Deployment(id=STRONG, provider="openai", tier="large", price_eur_per_mtok=Price(input=10, output=30)),
]
N = 3000


def prompt_2000(table_prompts: list[str]) -> str:
    text = ""
    for p in table_prompts:
        text += p + "\n"
        if len(text) >= 2000:
            return text[:2000]
    return text.ljust(2000, "x")


def timeit(fn, n: int = N) -> dict[str, float]:
    """Wall-clock and CPU (this thread) time per call: on a shared, overloaded VM the wall-clock
    tail is mostly waiting for a core, the CPU time is the work the decision itself costs."""
    for _ in range(50):
        fn()
    wall, cpu = [], []
    for _ in range(n):
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        fn()
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
    r = lambda v: round(float(v), 3)  # noqa: E731
    return {"wall_p50_ms": r(statistics.median(wall)), "wall_p99_ms": r(np.percentile(wall, 99)),
            "cpu_p50_ms": r(statistics.median(cpu)), "cpu_p99_ms": r(np.percentile(cpu, 99))}


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    mmlu = load_outcomes(sorted((DATA / "mmlu").glob("*.csv")))
    meta, model = train_learned(mmlu, folds=2)
    save_artifact(tmp / "learned.router", meta, model)
    gsm = load_outcomes([DATA / "gsm8k_responses.csv"])
    cmeta, cmodel = train_cascade(gsm)
    save_artifact(tmp / "cascade.router", cmeta, cmodel)

    t0 = time.perf_counter()
    learned = build_router(RouterSpec(strategy="learned", artifact=str(tmp / "learned.router")), CATALOG)
    load_s = time.perf_counter() - t0
    cascade = build_router(RouterSpec(strategy="cascade", artifact=str(tmp / "cascade.router")), CATALOG)
    prompt = prompt_2000(mmlu.prompts[100:])
    req = RouteInput(prompt, len(prompt) // 4, 256)
    answer = gsm.responses[WEAK][0]
    ranking = cascade.rank(req, CATALOG)
    print(f"load-avg at start: {os.getloadavg()}; artifact load (build_router): {load_s * 1000:.1f} ms; "
          f"learned artifact {os.path.getsize(tmp / 'learned.router') / 1e6:.1f} MB")
    print("learned rank(), 2,000-char prompt:", timeit(lambda: learned.rank(req, CATALOG)))
    print("cascade rank():", timeit(lambda: cascade.rank(req, CATALOG)))
    print("cascade verifier.score(prompt, answer):", timeit(lambda: ranking.verifier.score(prompt, answer)))
    print(f"load-avg at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
