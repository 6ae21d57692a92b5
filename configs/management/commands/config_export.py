from django.core.management.base import BaseCommand, CommandError

from configs.exceptions import ConfigError
from configs.transfer import configs_export
from kefu import transfer


class Command(BaseCommand):
    help = ("Write categories, templates, configs and system configs as JSON. Secrets are left out unless "
            "--with-secrets, which keeps them encrypted (importable only where the same key is configured).")

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")
        parser.add_argument("--with-secrets", action="store_true", help="Include secrets, as ciphertext.")
        parser.add_argument("--template", action="append", dest="templates", metavar="CODE",
                            help="Only this template's configs (repeatable).")

    def handle(self, *args, output=None, with_secrets=False, templates=None, **options):
        document = configs_export(with_secrets=with_secrets, template_codes=templates)
        data = transfer.write_document(document, sort_keys=True)
        if not output:
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        try:
            transfer.write_output(output, data, error=ConfigError)
        except ConfigError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"{len(document['configs'])} configs, {len(document['templates'])} templates, "
                          f"{len(document['system_configs'])} system configs written to {output}"
                          f"{' (secrets included, encrypted)' if with_secrets else ' (secrets left out)'}.")
