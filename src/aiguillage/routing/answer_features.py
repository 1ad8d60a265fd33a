"""Answer features for the cascade's verifier: signs that a (weak) model's answer is wrong.

They only look at the prompt and the answer text, never at a reference answer: a final answer
that is missing or ill-formed, a truncated reply, calculator annotations (``<<a*b=c>>``) or
inline equations (``a * b = c``) whose arithmetic does not hold, question numbers the answer never
uses, hedging, and size ratios. Arithmetic is checked with a tiny parser, never ``eval``.
"""

from __future__ import annotations

import math
import re

_FINAL = re.compile(r"####\s*([^\n]*)")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_ANNOT = re.compile(r"<<([^<>=]+)=([^<>]*)>>")
# "12 * 3 = 36", "$5 + $7 = $12", "1/2 x 10 = 5" written in the prose
_INLINE = re.compile(
    r"((?:[-$€]?\d[\d,.]*\s*[-+*/x×÷]\s*)+[$€]?\d[\d,.]*)\s*=\s*[$€]?(-?\d[\d,]*(?:\.\d+)?)"
)
_HEDGE = re.compile(
    r"\b(?:assum\w*|approximately|about|roughly|estimate|unclear|not possible|cannot|can't|impossible|"
    r"however|but wait|mistake|actually|round(?:ed|ing)?|not enough information|ambiguous)\b",
    re.I,
)
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[-+*/()]")

ANSWER_FEATURES = (
    "has_final", "final_is_number", "final_is_integer", "final_negative", "final_has_text", "final_log_mag",
    "ends_cleanly", "log_answer_chars", "answer_to_prompt_len", "annotations", "annotation_errors",
    "annotation_error_share", "inline_equations", "inline_errors", "question_numbers_used",
    "final_in_question", "final_equals_last_result", "hedges", "lines", "repeated_lines",
    "mentions_fraction", "large_numbers",
)


def _num(s: str) -> float | None:
    s = s.replace(",", "").replace("$", "").replace("€", "").strip().rstrip(".")
    try:
        return float(s)
    except ValueError:
        return None


def _arith(expr: str) -> float | None:
    """Evaluate + - * / and parentheses over decimals; None when it is not plain arithmetic."""
    expr = expr.replace(",", "").replace("x", "*").replace("×", "*").replace("÷", "/")
    expr = expr.replace("$", "").replace("€", "").replace("%", "/100")
    toks = _TOKEN.findall(expr)
    if not toks or "".join(toks) != re.sub(r"\s+", "", expr):
        return None
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def atom() -> float:
        t = take()
        if t == "(":
            v = add()
            if take() != ")":
                raise ValueError
            return v
        if t == "-":
            return -atom()
        return float(t)

    def mul() -> float:
        v = atom()
        while peek() in ("*", "/"):
            op, r = take(), atom()
            v = v * r if op == "*" else v / r
        return v

    def add() -> float:
        v = mul()
        while peek() in ("+", "-"):
            op, r = take(), mul()
            v = v + r if op == "+" else v - r
        return v

    try:
        v = add()
    except (ValueError, ZeroDivisionError, IndexError):
        return None
    return v if pos == len(toks) else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(0.011, 0.005 * abs(b))


def _check_equations(answer: str) -> tuple[int, int, int, int, float | None]:
    ann = ann_err = inl = inl_err = 0
    last: float | None = None
    for m in _ANNOT.finditer(answer):
        val, claimed = _arith(m.group(1)), _num(m.group(2))
        if val is None or claimed is None:
            continue
        ann += 1
        ann_err += not _close(val, claimed)
        last = claimed
    for m in _INLINE.finditer(_ANNOT.sub("", answer)):
        val, claimed = _arith(m.group(1)), _num(m.group(2))
        if val is None or claimed is None:
            continue
        inl += 1
        inl_err += not _close(val, claimed)
        last = claimed
    return ann, ann_err, inl, inl_err, last


def answer_features(prompt: str, answer: str) -> list[float]:
    final_m = list(_FINAL.finditer(answer))
    final_txt = final_m[-1].group(1).strip() if final_m else ""
    nums_in_final = _NUMBER.findall(final_txt)
    if not nums_in_final:  # no "####": fall back to the last number of the answer
        nums_in_final = _NUMBER.findall(answer[-200:])[-1:]
    final = _num(nums_in_final[-1]) if nums_in_final else None
    q_nums = {_num(x) for x in _NUMBER.findall(prompt)} - {None}
    a_nums = {_num(x) for x in _NUMBER.findall(answer)} - {None}
    ann, ann_err, inl, inl_err, last = _check_equations(answer)
    stripped = answer.rstrip()
    lines = [ln.strip() for ln in answer.splitlines() if ln.strip()]
    return [
        float(bool(final_m)),
        float(final is not None),
        float(final is not None and float(final).is_integer()),
        float(final is not None and final < 0),
        float(bool(re.search(r"[A-Za-z]", final_txt))),
        math.log10(1 + abs(final)) if final is not None else 0.0,
        float(bool(final_m) or stripped.endswith((".", "!", "?", ")", "*", '"'))),
        math.log1p(len(answer)),
        len(answer) / max(len(prompt), 1),
        math.log1p(ann),
        math.log1p(ann_err),
        ann_err / ann if ann else 0.0,
        math.log1p(inl),
        math.log1p(inl_err),
        len(q_nums & a_nums) / len(q_nums) if q_nums else 1.0,
        float(final is not None and final in q_nums),
        float(final is not None and last is not None and _close(final, last)),
        math.log1p(len(_HEDGE.findall(answer))),
        math.log1p(len(lines)),
        float(len(lines) - len(set(lines))),
        float(bool(re.search(r"\d\s*/\s*\d", answer))),
        float(any(abs(x) >= 1e6 for x in a_nums if x is not None)),
    ]
