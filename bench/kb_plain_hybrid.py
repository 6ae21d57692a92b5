"""kefu's knowledge search against the *plain hybrid*, measured out of sample the way ``kb_calibrate`` measures.

The plain hybrid: one document per FAQ item (question, answer and keywords), scored
0.4 × cosine of character 1–3-gram TF-IDF vectors (lower-cased, smoothed IDF over
the FAQ file, L2-normalised) + 0.6 × cosine of the offline encoder's vectors (the
embedder kefu ships); its confidence is the margin between its top two items;
nothing is fitted. A query is scored against its shop's items and the shared ones.

Prints, for each set:

* hit@1, hit@5 and the best coverage at precision ≥ 0.98 of each method's own
  order (kefu's shipped confidence, the hybrid's raw margin): a threshold picked
  after the fact, no calibration involved;
* kb_calibrate's out-of-sample tables (grouped cross-validation by FAQ item,
  phrasing halves, fitted on one set and measured on the other, held-out sets)
  for: kefu's margin alone (baseline), kefu's shipped model, the hybrid's margin
  calibrated the same way (a logistic regression over it), and kefu's model with
  what the hybrid says about kefu's top item added — its lead in the hybrid's
  ranking (``hybrid_lead``) or whether it is the hybrid's top item too
  (``hybrid_agrees``).

Nothing is written: every set is loaded into throw-away shops in a temporary
SQLite database and rolled back.

Run: .venv/bin/python bench/kb_plain_hybrid.py [--data ../shared/data]
"""

import argparse
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

LEXICAL_WEIGHT = 0.4  # of the TF-IDF cosine; the encoder's cosine gets the rest
_SPACES = re.compile(r"\s+")


def char_grams(text: str, sizes=(1, 2, 3)) -> Counter:
    """Character n-grams of the lower-cased text, whitespace runs as one space (as scikit-learn's ``char``)."""
    text = _SPACES.sub(" ", text.lower())
    return Counter(text[i:i + n] for n in sizes for i in range(len(text) - n + 1))


class TfidfCosine:
    """Character 1–3-gram TF-IDF vectors of ``documents``; ``scores(query)``: the query's cosine with each."""

    def __init__(self, documents: list[str]):
        grams = [char_grams(text) for text in documents]
        self.vocabulary = {gram: n for n, gram in enumerate(dict.fromkeys(g for bag in grams for g in bag))}
        df = np.zeros(len(self.vocabulary))
        for bag in grams:
            df[[self.vocabulary[g] for g in bag]] += 1
        self.idf = np.log((1 + len(documents)) / (1 + df)) + 1
        self.matrix = np.stack([self.vector(bag) for bag in grams]) if grams else np.zeros((0, 0))

    def vector(self, bag: Counter) -> np.ndarray:
        out = np.zeros(len(self.vocabulary))
        for gram, count in bag.items():
            column = self.vocabulary.get(gram)
            if column is not None:
                out[column] = count * self.idf[column]
        norm = np.linalg.norm(out)
        return out / norm if norm else out

    def scores(self, query: str, rows) -> np.ndarray:
        return self.matrix[rows] @ self.vector(char_grams(query))


def item_document(row: dict) -> str:
    return " ".join([row["question"], row.get("answer") or "", " ".join(row.get("keywords") or [])])


def plain_hybrid(faq_rows: list[dict], query_rows: list[dict], embedder) -> list[dict]:
    """Per query: the hybrid's ranked item ids and scores over the items its shop sees."""
    from knowledge.engine.normalize import is_smalltalk

    documents = [item_document(row) for row in faq_rows]
    lexical = TfidfCosine(documents)
    dense = embedder.embed(documents)
    ids = [row.get("id", n) for n, row in enumerate(faq_rows, 1)]
    shops = [row.get("shop") for row in faq_rows]
    out = []
    for query in query_rows:
        shop = query.get("shop")
        rows = np.array([n for n, owner in enumerate(shops) if shop is None or owner is None or owner == shop])
        score = (LEXICAL_WEIGHT * lexical.scores(query["query"], rows)
                 + (1 - LEXICAL_WEIGHT) * (dense[rows] @ embedder.embed([query["query"]])[0]))
        order = np.argsort(-score, kind="stable")
        out.append({"ids": [ids[rows[n]] for n in order], "scores": score[order],
                    "smalltalk": float(is_smalltalk(query["query"]))})
    return out


def hybrid_records(records: list[dict], hybrid: list[dict]) -> list[dict]:
    """kb_eval records of the plain hybrid (its margin as the one feature), in the same order as kefu's."""
    out = []
    for record, ranked in zip(records, hybrid, strict=True):
        scores = ranked["scores"]
        margin = float(scores[0] - scores[1]) if len(scores) > 1 else float(scores[0])
        out.append({**record, "ids": ranked["ids"][:5], "confidence": margin,
                    "features": {"margin": margin, "smalltalk": ranked["smalltalk"]}})
    return out


def with_hybrid_features(records: list[dict], hybrid: list[dict]) -> list[dict]:
    """kefu's records with what the hybrid says about kefu's top item added to its features."""
    out = []
    for record, ranked in zip(records, hybrid, strict=True):
        features = record["features"]
        if features is not None:
            position = ranked["ids"].index(record["ids"][0])
            others = np.delete(ranked["scores"], position)
            lead = float(ranked["scores"][position] - others.max()) if len(others) else 1.0
            features = {**features, "hybrid_lead": lead, "hybrid_agrees": float(position == 0)}
        out.append({**record, "features": features})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data")
    args = parser.parse_args()
    data = args.data
    fitted_sets = [("ATEC main", data / "kb_eval" / "faq.jsonl", data / "kb_eval" / "queries.jsonl"),
                   ("e-commerce", data / "kb_eval_ecommerce" / "faq.jsonl",
                    data / "kb_eval_ecommerce" / "queries.jsonl")]
    test = data / "kb_eval" / "test"
    held_out_sets = [("ATEC test", test / "faq.jsonl", test / "queries.jsonl")]
    missing = [str(path) for _, *paths in fitted_sets + held_out_sets for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"Missing evaluation files: {', '.join(missing)} (give --data).")

    var = Path(tempfile.mkdtemp(prefix="kefu-bench-hybrid-"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "KEFU_VAR_DIR": str(var),
        "DJANGO_READ_DOT_ENV_FILE": "false", "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "REDIS_URL": "",
        "KEFU_LOG_LEVEL": "WARNING", "KEFU_ADMIN_USER": "admin", "KEFU_ADMIN_PASSWORD": "",
    })
    import django

    django.setup()
    from django.core.management import call_command

    from knowledge.embedders import get_embedder
    from knowledge.engine import calibration, metrics
    from knowledge.evaluation import confidences, measured, out_of_sample, run_evaluation
    from knowledge.management.commands.kb_eval import CONFIDENCE_HEADER, confidence_cells, read_jsonl

    call_command("migrate", verbosity=0)
    embedder = get_embedder()

    def template(features, knots=()):
        out = {"features": list(features), "l2": 1.0, "gates": {"smalltalk": 0.01}, "monotone": True}
        if knots:
            out["link"] = {"knots": list(knots)}
        return out

    shipped = template(calibration.FEATURES, calibration.LINK_KNOTS)
    models = {  # label -> (which records, template)
        "kefu: margin (baseline)": ("kefu", template(calibration.BASELINE_FEATURES)),
        "kefu: shipped model": ("kefu", shipped),
        "plain hybrid: its margin": ("hybrid", template(["margin"])),
        "kefu + hybrid_lead": ("kefu+", template([*calibration.FEATURES, "hybrid_lead"], calibration.LINK_KNOTS)),
        "kefu + hybrid_agrees": ("kefu+", template([*calibration.FEATURES, "hybrid_agrees"], calibration.LINK_KNOTS)),
    }

    def load(sets):
        out = {}
        for name, faq_path, queries_path in sets:
            faq_rows, query_rows = read_jsonl(faq_path, required=("question",)), read_jsonl(queries_path,
                                                                                             required=("query",))
            _, records = run_evaluation(faq_rows=faq_rows, query_rows=query_rows, k=10)
            ranked = plain_hybrid(faq_rows, query_rows, embedder)
            out[name] = {"kefu": records, "hybrid": hybrid_records(records, ranked),
                         "kefu+": with_hybrid_features(records, ranked)}
        return out

    fitted, held_out = load(fitted_sets), load(held_out_sets)

    print(f"Embedder {embedder.name} {embedder.version}. Own order, no fit: the best coverage at precision ≥ 0.98 "
          "with the threshold picked after the fact.")
    print("| set | method | hit@1 | hit@5 | best coverage at P ≥ 0.98 (own order, no fit) |")
    print("|---|---|---|---|---|")
    for name, kinds in {**fitted, **held_out}.items():
        for label, records in (("kefu (shipped confidence, fitted on ATEC main + e-commerce)", kinds["kefu"]),
                               ("plain hybrid (raw margin)", kinds["hybrid"])):
            figures = metrics.summarize(records)
            print(f"| {name} | {label} | {figures['hit_at_1']:.3f} | {figures['hit_at_5']:.3f} | "
                  f"{figures['best_coverage_at_precision_98']:.3f} |")

    reports = {}
    for label, (kind, model) in models.items():
        record_sets = [(name, kinds[kind]) for name, kinds in fitted.items()]
        report = out_of_sample(record_sets, model)
        everything = [r for _, records in record_sets for r in records if r["features"] is not None]
        params = calibration.refit(model, [r["features"] for r in everything],
                                   [metrics.is_correct(r) for r in everything])
        report["held_out"] = {name: measured(kinds[kind], confidences(params, kinds[kind]))
                              for name, kinds in held_out.items()}
        reports[label] = report

    def table(title, rows):
        print()
        print(title)
        print(f"| set | model | hit@1 | {CONFIDENCE_HEADER} |")
        print("|---|---|---|---|---|---|")
        for name, label, figures in rows:
            print(f"| {name} | {label} | {figures['hit_at_1']:.3f} | {confidence_cells(figures)} |")

    table("Out of sample: grouped 5-fold cross-validation by FAQ item (each fold fitted on the other folds and on "
          "the other set):",
          [(name, label, reports[label]["cross_validation"][name]) for name in fitted for label in models])
    table("Out of sample: phrasing halves (each half measured with the model fitted on the other half and the "
          "other set):",
          [(name, label, reports[label]["phrasing_halves"][name]) for name in fitted for label in models])
    table("Out of sample: fitted on one set, measured on the other:",
          [(f"{row['fit_on']} → {row['measured_on']}", label, row)
           for label in models for row in reports[label]["cross_set"]])
    table("Out of sample: held-out sets, measured with the model fitted on both sets:",
          [(name, label, reports[label]["held_out"][name]) for name in held_out for label in models])
    print()
    print("Rerun: .venv/bin/python bench/kb_plain_hybrid.py" + (f" --data {args.data}" if args.data != PROJECT.parent
                                                                 / "shared" / "data" else ""))


if __name__ == "__main__":
    main()
