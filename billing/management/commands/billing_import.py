import json
import sys

from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.services import billing_import


class Command(BaseCommand):
    help = ("Load a billing_export JSON file (or - for stdin). All or nothing; configs come back inactive "
            "until an API key is set.")

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            if path == "-":
                data = json.load(sys.stdin)
            else:
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise CommandError(f"{path} is not JSON: {exc}") from None
        try:
            counts = billing_import(data=data)
        except BillingError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS("billing_import: {created} created, {updated} updated.".format(**counts)))
