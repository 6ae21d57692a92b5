"""``manage.py kb_eval FAQ.jsonl QUERIES.jsonl [--json]``: retrieval quality and latency on a data set.

The confidence figures are always out of sample: when the calibration in use was
fitted on any of these queries, its model is refitted by cross-validation
grouped by FAQ item and the fitted figures are printed apart, labelled in-sample.
"""

import json
import math

from django.core.management.base import BaseCommand, CommandError

from kefu.progress import Progress, add_progress_argument
from knowledge.engine import calibration
from knowledge.engine.index import WEIGHTS_CHOSEN_ON
from knowledge.evaluation import DEFAULT_FOLDS, fitted_on, out_of_sample, run_evaluation
from knowledge.exceptions import KnowledgeError
from knowledge.selectors import calibration_state

JSON_KEYS = ("hit_at_1", "hit_at_5", "mrr", "ece", "thresholds", "best_coverage_at_precision_98", "latency_ms",
             "confidence_from")


def read_jsonl(path: str, *, required: tuple[str, ...]) -> list[dict]:
    """The JSON objects of a JSON Lines file, each with non-empty text under every ``required`` key."""
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CommandError(f"{path}: line {number} is not JSON ({exc.msg}).") from exc
                if not isinstance(row, dict):
                    raise CommandError(f"{path}: line {number} is not a JSON object.")
                missing = [key for key in required if not isinstance(row.get(key), str) or not row[key].strip()]
                if missing:
                    raise CommandError(f"{path}: line {number} has no text under {', '.join(missing)}.")
                rows.append(row)
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
    return rows


def save_calibration(params: dict, path: str) -> None:
    try:
        calibration.save(params, path)
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fmt(value, digits=3):
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def threshold_at(figures: dict, threshold: float) -> dict:
    return next((row for row in figures["thresholds"] if row["threshold"] == threshold), {})


def model_label(params: dict) -> str:
    """The features a calibration reads, and its link's knots (and the sets it is fitted on) when it has one."""
    link = params.get("link") or {}
    knots, sets = link.get("knots"), link.get("sets")
    return " + ".join(params["features"]) + (
        f" (link at {','.join(f'{k:g}' for k in knots)}{' fitted on ' + ', '.join(sets) if sets else ''})"
        if knots else "")


def confidence_cells(figures: dict) -> str:
    """ECE | precision / coverage / out-of-scope sent at 0.98 | best coverage at precision ≥ 0.98 (threshold)."""
    at = threshold_at(figures, 0.98)
    best = figures["best_threshold_at_precision_98"]
    return (f"{_fmt(figures['ece'])} | {_fmt(at.get('precision'))} / {_fmt(at.get('coverage'))} / "
            f"{_fmt(at.get('out_of_scope_sent'))} | {_fmt(figures['best_coverage_at_precision_98'])}"
            + (f" ({best:.3f})" if best is not None else ""))


RANKING_NOTE = (f"hit@1, hit@5 and MRR come from the ranking, whose fixed weights were chosen on {WEIGHTS_CHOSEN_ON} "
                "(in-sample on those); no calibration changes them.")
CONFIDENCE_HEADER = ("ECE | at 0.98: precision / coverage / out-of-scope sent | "
                     "best coverage at precision ≥ 0.98 (its threshold, picked after the fact)")


class Command(BaseCommand):
    help = (
        "Load an FAQ file into throw-away shops (rolled back afterwards), run the queries and print hit@1, "
        "hit@5, MRR, calibration error, auto-send precision/coverage at 0.80/0.90/0.95/0.98 and search latency. "
        "Confidence figures are out of sample: if the calibration was fitted on any of these queries, its model "
        "is refitted by cross-validation grouped by FAQ item."
    )

    def add_arguments(self, parser):
        parser.add_argument("faq", help="FAQ JSON Lines: id, question, answer, [category, keywords, "
                                        "similar_questions, shop]")
        parser.add_argument("queries", help="Queries JSON Lines: query, expected_id (null: out of scope), [shop]")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        parser.add_argument("--calibration", help="evaluate with these calibration parameters (a JSON file)")
        parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                            help="folds of the cross-validation used when the calibration was fitted on these "
                                 f"queries (default {DEFAULT_FOLDS})")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        faq = read_jsonl(options["faq"], required=("question",))
        queries = read_jsonl(options["queries"], required=("query",))
        if not faq or not queries:
            raise CommandError("Both files need at least one row.")
        if options["folds"] < 2:
            raise CommandError("--folds must be 2 or more.")
        params = None
        if options["calibration"]:
            try:
                params = calibration.load(options["calibration"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the calibration file {options['calibration']}: {exc}") from exc
        progress = Progress.for_command(self, quiet=options["no_progress"])
        try:
            summary, records = run_evaluation(faq_rows=faq, query_rows=queries, calibration_params=params,
                                              progress=progress)
        except KnowledgeError as exc:
            raise CommandError(exc.message) from exc
        finally:
            progress.close()
        if not summary["calibration"]["calibrated"]:
            self.stderr.write(f"Warning: confidences are not calibrated for this embedder. "
                              f"{summary['calibration']['detail']}")
        in_use = params if params is not None else calibration_state().params
        overlap = fitted_on(in_use, records) if in_use else 0
        in_sample = None
        summary["confidence_from"] = "calibration"
        if in_use and summary["calibration"]["calibrated"] and overlap != 0:
            # Fitted on (some of) these very queries, or it does not say which: its own figures here
            # would flatter it. Refit its model without each fold and measure on the fold.
            in_sample = {key: summary[key] for key in ("ece", "thresholds", "best_coverage_at_precision_98",
                                                       "best_threshold_at_precision_98")}
            name = options["queries"]
            report = out_of_sample([(name, records)], in_use, folds=options["folds"])
            summary.update({key: value for key, value in report["cross_validation"][name].items()
                            if key in in_sample})
            summary["confidence_from"] = "cross-validation"
        if options["json"]:
            result = {key: summary[key] for key in JSON_KEYS}
            if in_sample is not None:
                result["in_sample"] = in_sample
            self.stdout.write(json.dumps(_clean(result), ensure_ascii=False))
            return
        self.write_table(summary, in_sample, overlap, options["folds"], in_use)

    def write_table(self, summary, in_sample, overlap, folds, in_use):
        self.stdout.write(f"queries: {summary['queries']} ({summary['in_scope']} in scope); embedder "
                          f"{summary['embedder']['name']} {summary['embedder']['version']}")
        self.stdout.write("| hit@1 | hit@5 | MRR | ECE | p50 ms | p95 ms |")
        self.stdout.write("|---|---|---|---|---|---|")
        self.stdout.write(
            f"| {_fmt(summary['hit_at_1'])} | {_fmt(summary['hit_at_5'])} | {_fmt(summary['mrr'])} | "
            f"{_fmt(summary['ece'])} | {_fmt(summary['latency_ms']['p50'], 1)} | "
            f"{_fmt(summary['latency_ms']['p95'], 1)} |"
        )
        self.stdout.write(RANKING_NOTE)
        self.stdout.write("")
        if summary["confidence_from"] == "cross-validation":
            why = ("it does not list the queries it was fitted on" if overlap is None
                   else f"it was fitted on {overlap} of these queries")
            self.stdout.write(
                f"Confidence figures: grouped {folds}-fold cross-validation by FAQ item — {why}, so its model "
                f"({model_label(in_use)}) was refitted on the other folds of these queries for each fold."
            )
        elif in_use:
            self.stdout.write("Confidence figures: out of sample — the calibration was fitted on none of these "
                              "queries.")
        self.stdout.write("| auto-send threshold | precision | coverage | out-of-scope sent |")
        self.stdout.write("|---|---|---|---|")
        for row in summary["thresholds"]:
            self.stdout.write(f"| {row['threshold']:.2f} | {_fmt(row['precision'])} | {_fmt(row['coverage'])} | "
                              f"{_fmt(row['out_of_scope_sent'])} |")
        self.stdout.write("")
        threshold = summary["best_threshold_at_precision_98"]
        self.stdout.write(
            f"best coverage at precision ≥ 0.98: {_fmt(summary['best_coverage_at_precision_98'])}"
            + (f" (threshold {threshold:.4f}, picked after the fact)" if threshold is not None
               else " (no threshold reaches it)")
        )
        if in_sample is not None:
            self.stdout.write("")
            self.stdout.write(f"In sample (the calibration in use, on queries it was fitted on; not a measurement): "
                              f"{CONFIDENCE_HEADER}: {confidence_cells(in_sample)}")
