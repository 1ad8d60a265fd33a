"""Held-out routing quality on the shared RouteLLM data (see docs/benchmarks.md).

MMLU: 5 folds over domains (whole domains held out; each prompt is scored by a model that never
saw its domain). GSM8K: 5 folds over questions. Contaminated prompts are dropped first.
The learned router is scored as it routes (predicted loss of staying on the weak model); the
row "learned, by P(weak fails)" ranks the same predictions by the weak model's predicted failure
alone, for comparison. ``--splits N`` adds N - 1 other shuffles of the MMLU domains into folds
(seeds 1.., learned only) to show how much the figure depends on which domains share a fold.
Run: .venv/bin/python bench/router_quality.py [--plots docs/img] [--splits 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from aiguillage.routing.cascade import fit_answer_model
from aiguillage.routing.evaluate import learned_score, plot
from aiguillage.routing.learned import fit_prompt_model
from aiguillage.routing.metrics import cpt, oracle_curve, random_baseline, routellm_discrete, summarize
from aiguillage.routing.outcomes import OutcomeTable, load_contaminated, load_outcomes

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "routellm"
WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"


def folds_by_group(groups: list[str], k: int = 5, seed: int = 0) -> list[np.ndarray]:
    uniq = np.random.default_rng(seed).permutation(sorted(set(groups)))
    g = np.asarray(groups)
    return [np.flatnonzero(np.isin(g, uniq[i::k])) for i in range(k)]


def folds_by_row(n: int, k: int = 5) -> list[np.ndarray]:
    return [te for _, te in KFold(k, shuffle=True, random_state=0).split(np.arange(n))]


def cross_scores(table: OutcomeTable, tests: list[np.ndarray], strategy: str) -> dict[str, np.ndarray]:
    """Out-of-fold scores: {"learned": ..., "learned, by P(weak fails)": ...} or {"cascade": ...}."""
    out: dict[str, np.ndarray] = {}
    for i, te in enumerate(tests):
        tr = np.setdiff1d(np.arange(len(table)), te)
        sub, test = table.subset(tr), table.subset(te)
        if strategy == "learned":
            m = fit_prompt_model(sub)
            probs = m.predict(test.prompts)
            w = m.columns.index(WEAK)
            out.setdefault("learned", np.zeros(len(table)))[te] = learned_score(probs, w, m.columns.index(STRONG))
            out.setdefault("learned, by P(weak fails)", np.zeros(len(table)))[te] = 1 - probs[:, w]
        else:
            out.setdefault("cascade", np.zeros(len(table)))[te] = fit_answer_model(sub).scores(
                test.prompts, test.responses[WEAK])
        print(f"  {strategy} fold {i + 1}/{len(tests)} done", file=sys.stderr, flush=True)
    return out


def row(name: str, score: np.ndarray, t: OutcomeTable) -> dict[str, float | str]:
    w, s = t.outcomes[WEAK], t.outcomes[STRONG]
    sm = summarize(score, w, s)
    disc = routellm_discrete(score, w, s)
    return {"router": name, **{k: round(float(v), 4) for k, v in sm.as_dict().items()},
            "apgr_routellm_10bin": round(disc["apgr"], 4), "cpt80_routellm_10bin": round(disc["cpt80"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=Path, default=None)
    ap.add_argument("--splits", type=int, default=1, help="MMLU domain shuffles to evaluate the learned router on")
    args = ap.parse_args()
    results = {}
    t0 = time.time()
    mmlu = load_outcomes(sorted((DATA / "mmlu").glob("*.csv")),
                         load_contaminated([DATA / "mmlu_contaminated_prompts.jsonl"]))
    gsm = load_outcomes([DATA / "gsm8k_responses.csv"], load_contaminated([DATA / "gsm8k_contaminated_prompts.jsonl"]))
    for name, t, tests, strategies in (
        ("mmlu_heldout_domains", mmlu, folds_by_group(mmlu.sources), ["learned"]),
        ("gsm8k_heldout_questions", gsm, folds_by_row(len(gsm)), ["learned", "cascade"]),
    ):
        w, s = t.outcomes[WEAK], t.outcomes[STRONG]
        rows = []
        for strat in strategies:
            for label, sc in cross_scores(t, tests, strat).items():
                rows.append(row(label, sc, t))
                if args.plots and label == strat:
                    plot(args.plots / f"routing_{name.split('_')[0]}_{strat}.png", sc, w, s,
                         f"{name.split('_')[0].upper()}: {strat} (held out)", label=strat)
        orc = oracle_curve(w, s)
        results[name] = {
            "n": len(t), "routers": rows, "random_ci95": random_baseline(w, s),
            "oracle_cpt50": round(cpt(orc, 0.5), 4), "oracle_cpt80": round(cpt(orc, 0.8), 4),
        }
    other = []
    for seed in range(1, args.splits):
        sc = cross_scores(mmlu, folds_by_group(mmlu.sources, seed=seed), "learned")
        other.append({"seed": seed, **row("learned", sc["learned"], mmlu)})
    if other:
        results["mmlu_heldout_domains"]["other_domain_splits"] = other
    results["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
