"""``manage.py kb_calibrate OUTPUT FAQ QUERIES [FAQ QUERIES ...]``: fit the confidence calibration on labelled sets."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kefu.progress import Progress, add_progress_argument
from knowledge.engine import calibration, metrics
from knowledge.evaluation import fit_calibration, run_evaluation
from knowledge.exceptions import KnowledgeError

from .kb_eval import read_jsonl, save_calibration


class Command(BaseCommand):
    help = (
        "Fit the search confidence calibration on one or more labelled data sets (pairs of FAQ and query files, "
        "as kb_eval reads them) and write the parameters to OUTPUT, for KEFU_KNOWLEDGE_CALIBRATION. Each set is "
        "loaded into its own throw-away shops, like kb_eval. Evaluate the result with kb_eval --calibration on "
        "sets it was not fitted on."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", help="where to write the parameters (JSON)")
        parser.add_argument("sets", nargs="+", metavar="FAQ QUERIES", help="FAQ and query JSON Lines files, in pairs")
        add_progress_argument(parser)

    def handle(self, *args, output, sets, **options):
        if len(sets) % 2:
            raise CommandError("Give the files in pairs: an FAQ file, then its queries file.")
        folder = Path(output).resolve().parent
        if not folder.is_dir():  # found out before the evaluations, not after them
            raise CommandError(f"Cannot write {output}: no folder {folder}.")
        pairs = [(sets[i], sets[i + 1]) for i in range(0, len(sets), 2)]
        loaded = [(read_jsonl(faq, required=("question",)), read_jsonl(queries, required=("query",)), queries)
                  for faq, queries in pairs]
        for faq_rows, query_rows, queries in loaded:
            if not faq_rows or not query_rows:
                raise CommandError(f"{queries}: both files of a pair need at least one row.")
        record_sets, embedder = [], None
        for faq_rows, query_rows, queries in loaded:
            progress = Progress.for_command(self, quiet=options["no_progress"])
            try:
                summary, records = run_evaluation(faq_rows=faq_rows, query_rows=query_rows, progress=progress)
            except KnowledgeError as exc:
                raise CommandError(f"{queries}: {exc.message}") from exc
            finally:
                progress.close()
            embedder = summary["embedder"]
            record_sets.append((queries, records))
            self.stdout.write(f"{queries}: {len(records)} queries, hit@1 {summary['hit_at_1']:.3f}")
        try:
            fitted = fit_calibration(record_sets, embedder)
        except KnowledgeError as exc:
            raise CommandError(exc.message) from exc
        save_calibration(fitted, output)
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {output}: fitted on {fitted['n_fit']} queries for {embedder['name']} {embedder['version']}."
        ))
        for name, records in record_sets:
            confidences = [float(calibration.predict(fitted, r["features"])) if r["features"] is not None else 0.0
                           for r in records]
            in_sample = metrics.ece(confidences, [metrics.is_correct(r) for r in records])
            # On the very queries it was fitted on: a floor for the calibration error, not a measurement.
            self.stdout.write(f"  {name}: calibration error on its own queries {in_sample:.3f}")
