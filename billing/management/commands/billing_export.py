import json

from django.core.management.base import BaseCommand

from billing.services import billing_export


class Command(BaseCommand):
    help = "Print providers, models, prices and configs as JSON (never API keys or extra headers)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, output=None, **options):
        text = json.dumps(billing_export(), ensure_ascii=False, indent=2)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            self.stderr.write(f"billing_export: written to {output}")
        else:
            self.stdout.write(text)
