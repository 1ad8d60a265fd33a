"""Scoring for the PII benchmark: a prediction matches a gold span of the same type when it covers at
least 50% of the gold span; each gold span and each prediction is matched at most once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    by_type: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_lang_type: dict[tuple[str, str], Counts] = field(default_factory=lambda: defaultdict(Counts))
    negatives: int = 0
    negatives_with_fp: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)

    def micro(self) -> Counts:
        total = Counts()
        for c in self.by_type.values():
            total.tp, total.fp, total.fn = total.tp + c.tp, total.fp + c.fp, total.fn + c.fn
        return total


def _overlap(a: dict, b: dict) -> int:
    return max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))


def score(records: list[dict], predictions: dict[str, list[dict]], types: tuple[str, ...]) -> Report:
    report = Report()
    for rec in records:
        gold = rec["entities"]
        pred = [p for p in predictions.get(rec["id"], []) if p["type"] in types]
        used: set[int] = set()
        for g in gold:
            hit = next(
                (i for i, p in enumerate(pred)
                 if i not in used and p["type"] == g["type"] and _overlap(p, g) * 2 >= g["end"] - g["start"]),
                None,
            )
            for key in (g["type"],):
                counts = report.by_type[key]
                lang_counts = report.by_lang_type[(rec["lang"], key)]
                if hit is None:
                    counts.fn += 1
                    lang_counts.fn += 1
                    report.misses.append((rec["id"], g["type"], rec["text"][g["start"] : g["end"]]))
                else:
                    used.add(hit)
                    counts.tp += 1
                    lang_counts.tp += 1
        unmatched = [p for i, p in enumerate(pred) if i not in used]
        for p in unmatched:
            report.by_type[p["type"]].fp += 1
            report.by_lang_type[(rec["lang"], p["type"])].fp += 1
            report.false_positives.append((rec["id"], p["type"], rec["text"][p["start"] : p["end"]]))
        if not gold:
            report.negatives += 1
            report.negatives_with_fp += bool(pred)
    return report
