"""``manage.py kb_calibrate OUTPUT FAQ QUERIES [FAQ QUERIES ...] [--held-out FAQ QUERIES]``: fit the confidence
calibration on labelled sets, and say how it does on queries it was not fitted on."""

import argparse
import math
import shlex
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kefu.progress import Progress, add_progress_argument
from knowledge.engine import calibration
from knowledge.evaluation import (
    DEFAULT_FOLDS,
    confidences,
    fit_calibration,
    measured,
    out_of_sample,
    run_evaluation,
)
from knowledge.exceptions import KnowledgeError

from .kb_eval import (
    CONFIDENCE_HEADER,
    RANKING_NOTE,
    confidence_cells,
    model_label,
    read_jsonl,
    save_calibration,
)

# Figures stored in the calibration file: rounded, so a refit on the same data writes the same file.
DIGITS = 4


def _rounded(value):
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _template(features: list[str], monotone: bool = True, knots: tuple = (), link_on: tuple = ()) -> dict:
    template = {"features": features, "l2": 1.0, "gates": {"smalltalk": 0.01}, "monotone": monotone}
    if knots:
        template["link"] = {"knots": list(knots), **({"sets": list(link_on)} if link_on else {})}
    return template


def _knots(value: str) -> tuple:
    """``--knots``: comma-separated numbers, or ``none``."""
    if value.strip().lower() == "none":
        return ()
    try:
        knots = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {value!r} (give e.g. 1.5 or 1,2.5, or none)") from None
    if not all(math.isfinite(knot) for knot in knots) or list(knots) != sorted(set(knots)):
        raise argparse.ArgumentTypeError(f"the knots must be finite and increasing: {value!r}")
    return knots


def _knots_text(knots: tuple) -> str:
    return ",".join(f"{knot:g}" for knot in knots) or "none"


class Command(BaseCommand):
    help = (
        "Fit the search confidence calibration on one or more labelled data sets (pairs of FAQ and query files, "
        "as kb_eval reads them) and write it to OUTPUT, for KEFU_KNOWLEDGE_CALIBRATION. Each set is loaded into "
        "its own throw-away shops, like kb_eval. Prints, and records in OUTPUT, the figures on queries the model "
        "was not fitted on: cross-validation grouped by FAQ item, new phrasings of known items (each item's queries "
        "split in two halves), each set fitted on another, and the --held-out sets; beside the baseline (the fused "
        "top-two margin alone). In-sample figures are printed as such."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", help="where to write the parameters (JSON)")
        parser.add_argument("sets", nargs="+", metavar="FAQ QUERIES", help="FAQ and query JSON Lines files, in pairs")
        parser.add_argument("--held-out", nargs=2, action="append", default=[], metavar=("FAQ", "QUERIES"),
                            help="a set measured with the final calibration and never fitted on (repeatable)")
        parser.add_argument("--features", default=",".join(calibration.FEATURES),
                            help=f"the hit features the model reads, comma-separated (default "
                                 f"{','.join(calibration.FEATURES)})")
        parser.add_argument("--monotone", action=argparse.BooleanOptionalAction, default=True,
                            help="let no feature lower the confidence as it grows (default; --no-monotone: any sign)")
        parser.add_argument("--knots", type=_knots, default=calibration.LINK_KNOTS,
                            help=f"knots of the monotone link over the features' log-odds, comma-separated "
                                 f"(default {_knots_text(calibration.LINK_KNOTS)}; none: a plain logistic regression)")
        parser.add_argument("--link-on", action="append", default=[], metavar="QUERIES",
                            help="fit the link on the queries of this set only (one of the QUERIES files above; "
                                 "repeatable); the features' weights are still fitted on every set. By default the "
                                 "link is fitted on every set")
        parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                            help=f"cross-validation folds (default {DEFAULT_FOLDS})")
        add_progress_argument(parser)

    def handle(self, *args, output, sets, **options):
        if len(sets) % 2:
            raise CommandError("Give the files in pairs: an FAQ file, then its queries file.")
        if options["folds"] < 2:
            raise CommandError("--folds must be 2 or more.")
        features = [name.strip() for name in options["features"].split(",") if name.strip()]
        if not features:
            raise CommandError("--features names no feature.")
        folder = Path(output).resolve().parent
        if not folder.is_dir():  # found out before the evaluations, not after them
            raise CommandError(f"Cannot write {output}: no folder {folder}.")
        pairs = [(sets[i], sets[i + 1]) for i in range(0, len(sets), 2)]
        named = [queries for _, queries in pairs] + [queries for _, queries in options["held_out"]]
        repeated = sorted({name for name in named if named.count(name) > 1})
        if repeated:
            # A set is known by its queries file: fitted twice, or both fitted and held out, it would be
            # measured on queries the model was fitted on.
            raise CommandError(f"Each queries file may be given once: {', '.join(repeated)}.")
        link_on = tuple(dict.fromkeys(options["link_on"]))
        strangers = [name for name in link_on if name not in [queries for _, queries in pairs]]
        if strangers:
            raise CommandError(f"--link-on names a set that is not fitted: {', '.join(strangers)} (give one of the "
                               f"QUERIES files above).")
        if link_on and not options["knots"]:
            raise CommandError("--link-on needs a link: give --knots too, or leave --knots at its default.")
        fitted_sets, embedder = self.evaluate(pairs, options)
        held_out, _ = self.evaluate([tuple(pair) for pair in options["held_out"]], options)
        record_sets = [(name, records) for name, _, records in fitted_sets]
        unknown = sorted({name for _, records in record_sets for r in records if r["features"] is not None
                          for name in features if name not in r["features"]})
        if unknown:
            raise CommandError(f"Search gives no feature called {', '.join(unknown)}.")
        models = {"baseline": _template(calibration.BASELINE_FEATURES),
                  "model": _template(features, monotone=options["monotone"], knots=options["knots"], link_on=link_on)}
        try:
            fitted = {label: fit_calibration(record_sets, embedder, template=template)
                      for label, template in models.items()}
        except KnowledgeError as exc:
            raise CommandError(exc.message) from exc
        reports = {label: out_of_sample(record_sets, template, folds=options["folds"])
                   for label, template in models.items()}
        for label in models:
            reports[label]["held_out"] = {name: measured(records, confidences(fitted[label], records))
                                          for name, _, records in held_out}
        self.write_tables(reports, models)
        params = fitted["model"]
        params["fit_on"] = [{"faq": faq, "queries": name, "queries_count": len(records)}
                            for name, faq, records in fitted_sets]
        params["command"] = shlex.join([
            "manage.py", "kb_calibrate", output, *sets,
            *[arg for pair in options["held_out"] for arg in ("--held-out", *pair)],
            *(["--features", ",".join(features)] if features != calibration.FEATURES else []),
            *([] if options["monotone"] else ["--no-monotone"]),
            *(["--knots", _knots_text(options["knots"])] if options["knots"] != calibration.LINK_KNOTS else []),
            *[arg for name in link_on for arg in ("--link-on", name)],
            *(["--folds", str(options["folds"])] if options["folds"] != DEFAULT_FOLDS else []),
        ])
        params["out_of_sample"] = _rounded({
            "method": f"grouped {options['folds']}-fold cross-validation by FAQ item (each fold fitted on the "
                      "other folds and on every other set); phrasing halves (each item's queries and the "
                      "out-of-scope ones dealt alternately to two halves, each measured with the model fitted on "
                      "the other half and every other set); each set fitted alone and measured on another; and "
                      "held-out sets measured with this calibration",
            **{label: {key: value for key, value in report.items() if key != "in_sample"}
               for label, report in (("model", reports["model"]), ("baseline_margin", reports["baseline"]))},
            "held_out": [{"faq": faq, "queries": name} for name, faq, _ in held_out],
        })
        save_calibration(params, output)
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {output}: {' + '.join(features)}, fitted on {params['n_fit']} queries for {embedder['name']} "
            f"{embedder['version']}."
        ))

    def evaluate(self, pairs, options) -> tuple[list, dict | None]:
        """Each pair loaded into throw-away shops and searched: ``[(queries path, faq path, records)]``."""
        loaded = []
        for faq, queries in pairs:
            faq_rows, query_rows = read_jsonl(faq, required=("question",)), read_jsonl(queries, required=("query",))
            if not faq_rows or not query_rows:
                raise CommandError(f"{queries}: both files of a pair need at least one row.")
            loaded.append((faq, queries, faq_rows, query_rows))
        out, embedder = [], None
        for faq, queries, faq_rows, query_rows in loaded:
            progress = Progress.for_command(self, quiet=options["no_progress"])
            try:
                summary, records = run_evaluation(faq_rows=faq_rows, query_rows=query_rows, progress=progress)
            except KnowledgeError as exc:
                raise CommandError(f"{queries}: {exc.message}") from exc
            finally:
                progress.close()
            embedder = summary["embedder"]
            out.append((queries, faq, records))
            self.stdout.write(f"{queries}: {len(records)} queries, hit@1 {summary['hit_at_1']:.3f}, "
                              f"hit@5 {summary['hit_at_5']:.3f}")
        return out, embedder

    def write_tables(self, reports: dict, models: dict) -> None:
        labels = {"baseline": model_label(models["baseline"]) + " (baseline)", "model": model_label(models["model"])}
        header = f"| set | model | hit@1 | {CONFIDENCE_HEADER} |"

        def table(title, rows):
            if not rows:
                return
            self.stdout.write("")
            self.stdout.write(title)
            self.stdout.write(header)
            self.stdout.write("|---|---|---|---|---|---|")
            for name, label, figures in rows:
                self.stdout.write(f"| {name} | {labels[label]} | {figures['hit_at_1']:.3f} | "
                                  f"{confidence_cells(figures)} |")

        self.stdout.write("")
        self.stdout.write(RANKING_NOTE)
        folds = reports["model"]["folds"]
        table(f"Out of sample: grouped {folds}-fold cross-validation by FAQ item (each fold's model fitted on the "
              "other folds and on the other sets):",
              [(name, label, reports[label]["cross_validation"][name])
               for name in reports["model"]["cross_validation"] for label in ("baseline", "model")])
        table("Out of sample: new phrasings of known items — each item's queries (and the out-of-scope ones) dealt "
              "alternately to two halves, each half measured with the model fitted on the other half and the other "
              "sets:",
              [(name, label, reports[label]["phrasing_halves"][name])
               for name in reports["model"]["phrasing_halves"] for label in ("baseline", "model")])
        table("Out of sample: fitted on one set, measured on another:",
              [(f"{row['fit_on']} → {row['measured_on']}", label, row)
               for n, row in enumerate(reports["model"]["cross_set"])
               for label, row in (("baseline", reports["baseline"]["cross_set"][n]), ("model", row))])
        table("Out of sample: held-out sets, measured with the calibration fitted on every set above:",
              [(name, label, reports[label]["held_out"][name])
               for name in reports["model"]["held_out"] for label in ("baseline", "model")])
        table("In sample (fitted on these very queries; for comparison only, not a measurement):",
              [(name, label, reports[label]["in_sample"][name])
               for name in reports["model"]["in_sample"] for label in ("baseline", "model")])
