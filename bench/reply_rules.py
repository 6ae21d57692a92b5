"""How well and how fast the reply rules work: the pre-send safety check and the handoff intents.

1. Quality on the held-out phrasings (tests/customer_service/pipeline/heldout/*.jsonl), written
   before the rules and never used to tune them. Each line names the rule families it should
   hit (safety: contact, payment, promise, ad, privacy, claim; intents: refund, complaint, …).
   Prints, per family and overall, precision and recall over (text, family) pairs, and the
   text-level figures (does a text that should be blocked / handed off get blocked / handed
   off, and does a clean one pass); then every miss and every false alarm.
2. Time per check: safety_check and handoff_intents_detect on every held-out text and on a
   long (800-character) knowledge answer, normalisation cache cleared so every call does the
   full work. Prints p50 / p95 / max in microseconds.

Run: .venv/bin/python bench/reply_rules.py [--rounds 200] [--quiet] [--heldout FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
HELDOUT = PROJECT / "tests" / "customer_service" / "pipeline" / "heldout"


def _setup():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings.test")
    django.setup()


def _load(folder, name):
    with open(Path(folder) / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _score(rows, found_of):
    """Precision / recall over (text, family) pairs and at text level."""
    tp, fp, fn = Counter(), Counter(), Counter()
    text_tp = text_fp = text_fn = text_tn = 0
    misses, alarms = [], []
    for row in rows:
        expected, found = set(row["expect"]), found_of(row)
        for family in expected & found:
            tp[family] += 1
        for family in found - expected:
            fp[family] += 1
            alarms.append((family, row["text"]))
        for family in expected - found:
            fn[family] += 1
            misses.append((family, row["text"]))
        if expected and found:
            text_tp += 1
        elif found:
            text_fp += 1
        elif expected:
            text_fn += 1
        else:
            text_tn += 1
    families = sorted(set(tp) | set(fp) | set(fn))
    table = []
    for family in [*families, "all"]:
        t = sum(tp.values()) if family == "all" else tp[family]
        p = sum(fp.values()) if family == "all" else fp[family]
        n = sum(fn.values()) if family == "all" else fn[family]
        table.append((family, t, p, n, t / (t + p) if t + p else float("nan"), t / (t + n) if t + n else float("nan")))
    text_level = {
        "texts": len(rows), "should_hit": text_tp + text_fn, "clean": text_fp + text_tn,
        "precision": text_tp / (text_tp + text_fp) if text_tp + text_fp else float("nan"),
        "recall": text_tp / (text_tp + text_fn) if text_tp + text_fn else float("nan"),
        "clean_passed": text_tn, "clean_flagged": text_fp,
    }
    return table, text_level, misses, alarms


def _print_quality(title, table, text_level, misses, alarms, quiet):
    print(f"\n== {title}: held-out quality ==")
    print(f"{'family':<14}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>9}")
    for family, t, p, n, precision, recall in table:
        print(f"{family:<14}{t:>5}{p:>5}{n:>5}{precision:>11.2f}{recall:>9.2f}")
    tl = text_level
    print(f"texts: {tl['texts']} ({tl['should_hit']} should hit, {tl['clean']} clean); "
          f"text-level precision {tl['precision']:.2f}, recall {tl['recall']:.2f}; "
          f"clean texts passed {tl['clean_passed']}/{tl['clean']}")
    if not quiet:
        for family, text in misses:
            print(f"  missed      {family:<12} {text}")
        for family, text in alarms:
            print(f"  false alarm {family:<12} {text}")


def _timing(fn, inputs, rounds, clear):
    samples = []
    for _ in range(rounds):
        clear()
        for item in inputs:
            start = time.perf_counter()
            fn(item)
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return {"calls": len(samples), "p50_us": statistics.median(samples),
            "p95_us": samples[int(0.95 * (len(samples) - 1))], "max_us": samples[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--quiet", action="store_true", help="figures only, not the misses and false alarms")
    parser.add_argument("--heldout", default=str(HELDOUT),
                        help="folder with safety.jsonl and intents.jsonl (default: the shipped held-out lists)")
    args = parser.parse_args()
    _setup()
    from customer_service.pipeline.intents import handoff_intents_detect
    from customer_service.pipeline.safety import safety_check
    from customer_service.pipeline.text import normalize

    safety_rows, intent_rows = _load(args.heldout, "safety.jsonl"), _load(args.heldout, "intents.jsonl")

    def safety_families(row):
        result = safety_check(row["text"], ai_draft=row.get("ai", False), context=row.get("context", []))
        return {code.split(".")[0] for code in result.codes}

    def intent_families(row):
        return set(handoff_intents_detect(row["text"]).intents)

    _print_quality("safety check", *_score(safety_rows, safety_families), args.quiet)
    _print_quality("handoff intents", *_score(intent_rows, intent_families), args.quiet)

    long_answer = ("亲，您好！关于尺码：我们的尺码是标准码，平时穿多大就拍多大，偏胖的亲可以拍大一码。"
                   "面料是棉和聚酯纤维混纺，透气不闷，洗涤时请翻面冷水手洗，不要暴晒。"
                   "发货：工作日下午五点前付款当天发出，其余时间次日发出，默认中通快递，偏远地区需补运费。") * 4
    long_answer = long_answer[:800]
    clear = normalize.cache_clear
    print("\n== time per check (normalisation cache cleared each round) ==")
    figures = {
        "safety_check, held-out texts": _timing(
            lambda row: safety_check(row["text"], ai_draft=row.get("ai", False), context=row.get("context", [])),
            safety_rows, args.rounds, clear),
        "safety_check, 800-char answer, AI draft": _timing(
            lambda text: safety_check(text, ai_draft=True, context=["买家：在吗", "买家：这款有XL吗"]),
            [long_answer], args.rounds * 10, clear),
        "handoff_intents_detect, held-out texts": _timing(
            lambda row: handoff_intents_detect(row["text"]), intent_rows, args.rounds, clear),
    }
    for name, f in figures.items():
        print(f"{name:<42} calls {f['calls']:>6}  p50 {f['p50_us']:>8.1f} µs  p95 {f['p95_us']:>8.1f} µs  "
              f"max {f['max_us']:>9.1f} µs")
    print(f"\nrerun: .venv/bin/python bench/reply_rules.py --rounds {args.rounds}")


if __name__ == "__main__":
    main()
