"""PII detection benchmark: accuracy per type and language against Presidio, plus latency.

    PYTHONHASHSEED=0 .venv/bin/python bench/pii_bench.py --seed 31337 --per-language 250 --out /tmp/pii_run.json

Seeds 7 and 2026 were used while developing the detectors; 31337 is the held-out corpus reported. The corpus
is the same from run to run only with PYTHONHASHSEED fixed (Faker's it_IT city names follow string hashing).

Builds the labelled corpus (bench/pii_corpus.py) for the seed, scores every system on it and times the
detectors on 2,000-character prompts. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pii_corpus  # noqa: E402
import pii_presidio  # noqa: E402
from pii_score import Report, score  # noqa: E402

from aiguillage.inspect import ALL_TYPES, detect_language, scan, warm_up  # noqa: E402
from aiguillage.inspect import names as names_module  # noqa: E402

LANGS = ("de", "fr", "it", "es", "nl", "pl", "pt", "en")
CHECKSUM_TYPES = ("IBAN", "CREDIT_CARD", "NATIONAL_ID")
Predictor = Callable[[dict], list[dict]]


def ours(context: bool) -> Predictor:
    return lambda rec: [e.to_json() for e in scan(rec["text"], context=context)]


def ours_without_lexicon(rec: dict) -> list[dict]:
    """Ablation: PERSON from titles, salutations and labels only (no first-name lexicon)."""
    saved = names_module._names
    names_module._names = frozenset()
    try:
        return [e.to_json() for e in scan(rec["text"])]
    finally:
        names_module._names = saved


def spacy_fr() -> Predictor | None:
    """Candidate: the official French spaCy pipeline's PER/LOC entities (only for French records)."""
    try:
        import fr_core_news_sm
    except ImportError:
        return None
    nlp = fr_core_news_sm.load()

    def predict(rec: dict) -> list[dict]:
        out = [e.to_json() for e in scan(rec["text"], context=False)]
        for ent in nlp(rec["text"]).ents:
            if ent.label_ == "PER":
                out.append({"start": ent.start_char, "end": ent.end_char, "type": "PERSON", "subtype": None})
        return out

    return predict


def run(records: list[dict], predict: Predictor) -> dict[str, list[dict]]:
    return {rec["id"]: predict(rec) for rec in records}


def table(reports: dict[str, Report]) -> str:
    names = list(reports)
    lines = ["| type | " + " | ".join(f"{n} P / R / F1" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for t in ALL_TYPES:
        cells = []
        for n in names:
            c = reports[n].by_type.get(t)
            cells.append(f"{c.precision:.3f} / {c.recall:.3f} / {c.f1:.3f}" if c and c.tp + c.fn else "–")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    micro = [reports[n].micro() for n in names]
    lines.append("| **micro** | " + " | ".join(f"{m.precision:.3f} / {m.recall:.3f} / **{m.f1:.3f}**"
                                              for m in micro) + " |")
    lines.append("| no-PII records with a false positive | " + " | ".join(
        f"{reports[n].negatives_with_fp}/{reports[n].negatives} "
        f"({reports[n].negatives_with_fp / max(1, reports[n].negatives):.1%})" for n in names) + " |")
    return "\n".join(lines)


def per_language(report: Report, types: tuple[str, ...]) -> str:
    lines = ["| language | " + " | ".join(f"{t} F1" for t in types) + " |", "|---|" + "---|" * len(types)]
    for lang in LANGS:
        lines.append(f"| {lang} | " + " | ".join(f"{report.by_lang_type[(lang, t)].f1:.3f}" for t in types) + " |")
    return "\n".join(lines)


def prompts(records: list[dict], size: int = 2000, per_language: int = 50) -> list[tuple[str, str]]:
    """2,000-character prompts made of consecutive records of one language."""
    out = []
    for lang in LANGS:
        texts = [r["text"] for r in records if r["lang"] == lang]
        i = 0
        for _ in range(per_language):
            buf = ""
            while len(buf) < size:
                buf += texts[i % len(texts)] + "\n\n"
                i += 1
            out.append((lang, buf[:size]))
    return out


def timing(fn: Callable[[str, str], object], samples: list[tuple[str, str]], rounds: int = 3) -> dict[str, float]:
    """Wall-clock and this thread's CPU time per call: on a shared, loaded VM the CPU time is the part the
    code itself is responsible for; wall-clock adds waiting for a core."""
    for lang, text in samples[:20]:
        fn(text, lang)
    wall, cpu = [], []
    gc.collect()
    for _ in range(rounds):
        for lang, text in samples:
            t0, c0 = time.perf_counter(), time.thread_time()
            fn(text, lang)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
    wall.sort()
    cpu.sort()
    p99 = int(len(wall) * 0.99) - 1
    return {"n": len(wall), "p50": statistics.median(wall), "p99": wall[p99], "max": wall[-1],
            "cpu_p50": statistics.median(cpu), "cpu_p99": cpu[p99]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=31337)
    ap.add_argument("--per-language", type=int, default=250)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--misses", action="store_true", help="print our misses and false positives")
    args = ap.parse_args()

    # Faker's es_ES nif()/nie() draw from the module-level random generator, not from the seeded instance.
    random.seed(args.seed)
    records = pii_corpus.build(args.per_language, args.seed)
    if os.environ.get("PYTHONHASHSEED") is None:
        print("note: PYTHONHASHSEED is not set; some generated city names differ from run to run\n")
    print(f"corpus: {len(records)} records, {sum(len(r['entities']) for r in records)} gold entities, "
          f"{sum(not r['entities'] for r in records)} without personal data (seed {args.seed})\n")
    warm_up()
    engine = pii_presidio.build()
    systems: dict[str, Predictor] = {
        "aiguillage": ours(context=True),
        "aiguillage fast path": ours(context=False),
        "Presidio": lambda r: pii_presidio.analyze(engine, r["text"], r["lang"], dates_as_birth=True),
        "Presidio (dates ignored)": lambda r: pii_presidio.analyze(engine, r["text"], r["lang"], False),
    }
    reports = {name: score(records, run(records, fn), ALL_TYPES) for name, fn in systems.items()}
    print(table(reports), "\n")
    print("Per language (aiguillage):\n")
    print(per_language(reports["aiguillage"], ("PERSON", "ADDRESS", "PHONE", "NATIONAL_ID")), "\n")

    ablation = {"full": reports["aiguillage"],
                "cues only (no first-name lexicon)": score(records, run(records, ours_without_lexicon), ALL_TYPES)}
    fr_records = [r for r in records if r["lang"] == "fr"]
    spacy = spacy_fr()
    lines = ["| PERSON detector | all languages F1 | French F1 |", "|---|---|---|"]
    for name, rep in ablation.items():
        fr_rep = score(fr_records, run(fr_records, ours(True) if name == "full" else ours_without_lexicon),
                       ("PERSON",))
        lines.append(f"| {name} | {rep.by_type['PERSON'].f1:.3f} | {fr_rep.by_type['PERSON'].f1:.3f} |")
    if spacy:
        sp = score(fr_records, run(fr_records, spacy), ("PERSON",))
        lines.append(f"| spaCy fr_core_news_sm PER | – | {sp.by_type['PERSON'].f1:.3f} "
                     f"(P {sp.by_type['PERSON'].precision:.3f}, R {sp.by_type['PERSON'].recall:.3f}) |")
    print("\n".join(lines), "\n")

    samples = prompts(records)
    load_before = os.getloadavg()
    lat = {
        "detect_language": timing(lambda t, _lang: detect_language(t), samples),
        "scan fast path (context=False, language given)": timing(lambda t, lang: scan(t, lang, context=False), samples),
        "scan fast path incl. language detection": timing(lambda t, _lang: scan(t, context=False), samples),
        "scan full (context=True, incl. language detection)": timing(lambda t, _lang: scan(t), samples),
        "Presidio analyze (reference)": timing(
            lambda t, lang: engine.analyze(text=t, language=lang, score_threshold=0), samples[::4], rounds=1),
    }
    if spacy:
        import fr_core_news_sm
        nlp = fr_core_news_sm.load()
        fr_samples = [s for s in samples if s[0] == "fr"]
        lat["spaCy fr_core_news_sm on French prompts"] = timing(lambda t, _lang: nlp(t), fr_samples, rounds=2)
    print(f"load average before timing: {load_before}")
    print("| 2,000-char prompt | n | wall p50 ms | wall p99 ms | wall max ms | CPU p50 ms | CPU p99 ms |\n"
          "|---|---|---|---|---|---|---|")
    for name, d in lat.items():
        print(f"| {name} | {d['n']} | {d['p50']:.3f} | {d['p99']:.3f} | {d['max']:.3f} | {d['cpu_p50']:.3f} "
              f"| {d['cpu_p99']:.3f} |")
    print(f"load average after timing: {os.getloadavg()}")

    if args.misses:
        for rid, etype, value in reports["aiguillage"].misses:
            print("MISS", rid, etype, repr(value))
        for rid, etype, value in reports["aiguillage"].false_positives:
            print("FP", rid, etype, repr(value))
    if args.out:
        summary = {
            name: {t: vars(c) for t, c in rep.by_type.items()} | {"negatives": rep.negatives,
                                                                   "negatives_with_fp": rep.negatives_with_fp}
            for name, rep in reports.items()
        }
        args.out.write_text(json.dumps({"seed": args.seed, "accuracy": summary, "latency_ms": lat}, indent=1))


if __name__ == "__main__":
    main()
