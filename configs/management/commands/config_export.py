import json

from django.core.management.base import BaseCommand

from configs.transfer import configs_export


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
        text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            self.stderr.write(f"{len(document['configs'])} configs, {len(document['templates'])} templates, "
                              f"{len(document['system_configs'])} system configs written to {output}"
                              f"{' (secrets included, encrypted)' if with_secrets else ' (secrets left out)'}.")
        else:
            self.stdout.write(text)
