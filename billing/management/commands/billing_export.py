from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.services import billing_export
from kefu import transfer


class Command(BaseCommand):
    help = "Print providers, models, prices and configs as JSON (never API keys or extra headers)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, output=None, **options):
        data = transfer.write_document(billing_export())
        if output:
            try:
                transfer.write_output(output, data, error=BillingError)
            except BillingError as exc:
                raise CommandError(exc.message) from None
            self.stderr.write(f"billing_export: written to {output}")
        else:
            self.stdout.write(data.decode("utf-8"), ending="")
