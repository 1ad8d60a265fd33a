"""The outcome data format: which model answered which prompt well enough.

A CSV with a ``prompt`` column and one column per model holding ``True``/``False`` (or 1/0) or a
score in [0, 1]. Optional ``<model>_response`` columns hold that model's answer text; the
cascade's verifier learns from them. Any other column (an id, a domain...) is ignored.
Several files can be given; their columns must agree. Rows whose prompt is listed as
contaminated (``*_contaminated_prompts.jsonl`` with an ``eval_prompt`` field, as in the
RouteLLM data) can be dropped with ``drop_prompts``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RESPONSE_SUFFIX = "_response"
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}

csv.field_size_limit(sys.maxsize)


class OutcomeFormatError(ValueError):
    """The outcome CSV does not follow the documented format (see docs/routing.md)."""


@dataclass
class OutcomeTable:
    """Prompts, per-model outcomes in [0, 1] (NaN = unknown) and optional answer texts."""

    prompts: list[str]
    outcomes: dict[str, np.ndarray]
    responses: dict[str, list[str]] = field(default_factory=dict)
    # Which file each row came from (used to split MMLU by domain).
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def columns(self) -> list[str]:
        return list(self.outcomes)

    def subset(self, idx: Sequence[int] | np.ndarray) -> OutcomeTable:
        ix = np.asarray(idx, dtype=int)
        return OutcomeTable(
            prompts=[self.prompts[i] for i in ix],
            outcomes={k: v[ix] for k, v in self.outcomes.items()},
            responses={k: [v[i] for i in ix] for k, v in self.responses.items()},
            sources=[self.sources[i] for i in ix] if self.sources else [],
        )

    def require(self, column: str) -> np.ndarray:
        if column not in self.outcomes:
            raise OutcomeFormatError(
                f"no outcome column '{column}'; the data has: {', '.join(self.columns) or '(none)'}"
            )
        return self.outcomes[column]

    def response(self, column: str) -> list[str]:
        if column not in self.responses:
            raise OutcomeFormatError(
                f"no '{column}{RESPONSE_SUFFIX}' column: the cascade's verifier needs the weak model's "
                "answers; add them to the CSV (see docs/routing.md, outcome format)"
            )
        return self.responses[column]


def parse_outcome(value: str, where: str) -> float:
    v = value.strip()
    if v == "":
        return float("nan")
    low = v.lower()
    if low in _TRUE:
        return 1.0
    if low in _FALSE:
        return 0.0
    try:
        x = float(v)
    except ValueError:
        raise OutcomeFormatError(f"{where}: '{v[:40]}' is neither True/False nor a score in [0, 1]") from None
    if not 0.0 <= x <= 1.0:
        raise OutcomeFormatError(f"{where}: score {x} is outside [0, 1]")
    return x


def _is_outcome_column(name: str, rows: list[dict[str, str]], path: Path) -> bool:
    """A column is an outcome column when every non-empty value parses as one."""
    if name == "prompt" or name.endswith(RESPONSE_SUFFIX):
        return False
    try:
        for r in rows[:200]:
            parse_outcome(r[name] or "", f"{path}: column '{name}'")
    except OutcomeFormatError:
        return False
    return any((r[name] or "").strip() for r in rows[:200])


def _read_one(path: Path) -> tuple[list[dict[str, str]], list[str], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except OSError as exc:
        raise OutcomeFormatError(f"{path}: cannot read: {exc.strerror}") from None
    if "prompt" not in header:
        raise OutcomeFormatError(f"{path}: no 'prompt' column (header: {', '.join(header[:6])})")
    cols = [c for c in header if _is_outcome_column(c, rows, path)]
    if not cols:
        raise OutcomeFormatError(f"{path}: no outcome column (one per model, True/False or a score in [0, 1])")
    resp = [c for c in cols if f"{c}{RESPONSE_SUFFIX}" in header]
    return rows, cols, resp


def load_outcomes(paths: Iterable[str | Path], drop_prompts: Iterable[str] = ()) -> OutcomeTable:
    """Read one or more outcome CSVs (same outcome columns in each), dropping listed prompts."""
    dropped = set(drop_prompts)
    table: OutcomeTable | None = None
    for p in map(Path, paths):
        rows, cols, resp = _read_one(p)
        if table is None:
            table = OutcomeTable([], {c: np.empty(0) for c in cols}, {c: [] for c in resp})
        elif set(cols) != set(table.columns):
            raise OutcomeFormatError(
                f"{p}: outcome columns {sorted(cols)} differ from the first file's {sorted(table.columns)}"
            )
        keep = [r for r in rows if r["prompt"] not in dropped]
        table.prompts.extend(r["prompt"] for r in keep)
        table.sources.extend(p.stem for _ in keep)
        for c in cols:
            vals = [parse_outcome(r[c] or "", f"{p}: column '{c}'") for r in keep]
            table.outcomes[c] = np.concatenate([table.outcomes[c], np.asarray(vals, dtype=float)])
        for c in list(table.responses):
            if c not in resp:
                del table.responses[c]  # only keep answer texts present in every file
            else:
                table.responses[c].extend(r[f"{c}{RESPONSE_SUFFIX}"] or "" for r in keep)
    if table is None:
        raise OutcomeFormatError("no outcome CSV given")
    return table


def load_contaminated(paths: Iterable[str | Path]) -> set[str]:
    """The ``eval_prompt`` values of RouteLLM-style ``*_contaminated_prompts.jsonl`` files."""
    out: set[str] = set()
    for p in map(Path, paths):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.add(json.loads(line)["eval_prompt"])
    return out


def contamination_lists_near(paths: Iterable[str | Path]) -> list[Path]:
    """``*_contaminated_prompts.jsonl`` files next to (or one level above) the given CSVs."""
    found: set[Path] = set()
    for p in map(Path, paths):
        for d in (p.parent, p.parent.parent):
            found.update(d.glob("*_contaminated_prompts.jsonl"))
    return sorted(found)
