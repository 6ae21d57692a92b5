from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.services import billing_import
from kefu import transfer


class Command(BaseCommand):
    help = ("Load a billing_export JSON file (or - for stdin). All or nothing: every bad entry is named; configs "
            "come back inactive until an API key is set.")

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            report = billing_import(data=transfer.read_input(path, error=BillingError))
        except BillingError as exc:
            for problem in (exc.detail if isinstance(exc.detail, list) else [])[1:]:
                self.stderr.write(transfer.problem_line(problem))
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"billing_import: {report.created} created, {report.updated} updated."))
