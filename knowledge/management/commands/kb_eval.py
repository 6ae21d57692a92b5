"""``manage.py kb_eval FAQ.jsonl QUERIES.jsonl [--json]``: retrieval quality and latency on a data set."""

import json
import math

from django.core.management.base import BaseCommand, CommandError

from kefu.progress import Progress, add_progress_argument
from knowledge.engine import calibration
from knowledge.evaluation import fit_calibration, run_evaluation
from knowledge.exceptions import KnowledgeError

JSON_KEYS = ("hit_at_1", "hit_at_5", "mrr", "ece", "thresholds", "best_coverage_at_precision_98", "latency_ms")


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
    return "—" if value is None else f"{value:.{digits}f}"


class Command(BaseCommand):
    help = (
        "Load an FAQ file into throw-away shops (rolled back afterwards), run the queries and print hit@1, "
        "hit@5, MRR, calibration error, auto-send precision/coverage at 0.80/0.90/0.95 and search latency."
    )

    def add_arguments(self, parser):
        parser.add_argument("faq", help="FAQ JSON Lines: id, question, answer, [category, keywords, "
                                        "similar_questions, shop]")
        parser.add_argument("queries", help="Queries JSON Lines: query, expected_id (null: out of scope), [shop]")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        parser.add_argument("--calibration", help="evaluate with these calibration parameters (a JSON file)")
        parser.add_argument("--fit-calibration", metavar="PATH",
                            help="fit calibration parameters on this data set's queries and write them to PATH "
                                 "(never fit on the queries you report on)")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        faq = read_jsonl(options["faq"], required=("question",))
        queries = read_jsonl(options["queries"], required=("query",))
        if not faq or not queries:
            raise CommandError("Both files need at least one row.")
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
        if options["fit_calibration"]:
            try:
                fitted = fit_calibration([(options["queries"], records)], summary["embedder"])
            except KnowledgeError as exc:
                raise CommandError(exc.message) from exc
            save_calibration(fitted, options["fit_calibration"])
        if not summary["calibration"]["calibrated"]:
            self.stderr.write(f"Warning: confidences are not calibrated for this embedder. "
                              f"{summary['calibration']['detail']}")
        if options["json"]:
            self.stdout.write(json.dumps(_clean({key: summary[key] for key in JSON_KEYS}), ensure_ascii=False))
            return
        self.stdout.write(f"queries: {summary['queries']} ({summary['in_scope']} in scope); embedder "
                          f"{summary['embedder']['name']} {summary['embedder']['version']}")
        self.stdout.write("| hit@1 | hit@5 | MRR | ECE | p50 ms | p95 ms |")
        self.stdout.write("|---|---|---|---|---|---|")
        self.stdout.write(
            f"| {_fmt(summary['hit_at_1'])} | {_fmt(summary['hit_at_5'])} | {_fmt(summary['mrr'])} | "
            f"{_fmt(summary['ece'])} | {_fmt(summary['latency_ms']['p50'], 1)} | "
            f"{_fmt(summary['latency_ms']['p95'], 1)} |"
        )
        self.stdout.write("")
        self.stdout.write("| auto-send threshold | precision | coverage | out-of-scope sent |")
        self.stdout.write("|---|---|---|---|")
        for row in summary["thresholds"]:
            self.stdout.write(f"| {row['threshold']:.2f} | {_fmt(row['precision'])} | {_fmt(row['coverage'])} | "
                              f"{_fmt(row['out_of_scope_sent'])} |")
        self.stdout.write("")
        threshold = summary["best_threshold_at_precision_98"]
        self.stdout.write(
            f"best coverage at precision ≥ 0.98: {_fmt(summary['best_coverage_at_precision_98'])}"
            + (f" (threshold {threshold:.4f})" if threshold is not None else " (no threshold reaches it)")
        )
