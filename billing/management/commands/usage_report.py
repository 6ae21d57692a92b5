import argparse
import csv
import json
from datetime import date
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from billing import selectors


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = ("Usage report: totals, by model, top configs, most active users, and rows grouped --by "
            "model|shop|user|day|config|status, over local dates --from .. --to (both included).")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", type=_date)
        parser.add_argument("--to", dest="date_to", type=_date)
        parser.add_argument("--by", choices=sorted(selectors.GROUPS), default="model")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
        parser.add_argument("--shop", type=int, help="only this shop id")
        parser.add_argument("--top", type=int, default=10)

    def handle(self, *args, date_from, date_to, by, format, shop, top, **options):
        if date_from and date_to and date_to < date_from:
            raise CommandError("--to is before --from.")
        start, end = selectors.period_bounds(date_from, date_to)
        queryset = selectors.usage_filter(date_from=start, date_to=end, shop=shop)
        report = selectors.usage_report(queryset, by=by, top=top)
        if format == "json":
            self.stdout.write(json.dumps(report, default=lambda v: str(v) if isinstance(v, Decimal) else v,
                                         ensure_ascii=False, indent=2))
        elif format == "csv":
            writer = csv.writer(self.stdout)
            writer.writerow([by, "label", "calls", "errors", "input_tokens", "output_tokens", "cost_cny"])
            for row in report["rows"]:
                writer.writerow([row["key"], row["label"], row["calls"], row["errors"], row["input_tokens"],
                                 row["output_tokens"], row["cost"]])
            totals = report["totals"]
            writer.writerow(["TOTAL", "", totals["calls"], totals["errors"], totals["input_tokens"],
                             totals["output_tokens"], totals["cost"]])
        else:
            self._table(report, by)

    def _table(self, report, by):
        totals = report["totals"]
        self.stdout.write(
            f"Total: {totals['calls']} calls, {totals['errors']} errors, {totals['input_tokens']} input + "
            f"{totals['output_tokens']} output tokens, {totals['cost']} CNY"
        )
        for title, rows in ((f"By {by}", report["rows"]), ("By model", report["by_model"]),
                            ("Top configs", report["top_configs"]), ("Most active users", report["top_users"])):
            self.stdout.write(f"\n{title}")
            self.stdout.write(f"  {'label':<40} {'calls':>9} {'errors':>7} {'in tok':>11} {'out tok':>11} "
                              f"{'cost CNY':>16}")
            for row in rows:
                self.stdout.write(
                    f"  {str(row['label'])[:40]:<40} {row['calls']:>9} {row['errors']:>7} "
                    f"{row['input_tokens']:>11} {row['output_tokens']:>11} {row['cost']!s:>16}"
                )
