"""``manage.py kb_import --shop NAME FILE``: load FAQ items from CSV, XLSX or JSON Lines."""

import json

from django.core.management.base import BaseCommand, CommandError

from kefu import transfer
from kefu.progress import Progress, add_progress_argument
from knowledge.exceptions import KnowledgeError
from knowledge.transfer import DUPLICATE_POLICIES, FORMATS, format_of, knowledge_import

from ._shops import shop_by_name


class Command(BaseCommand):
    help = ("Import knowledge items. Every bad row is reported by number and nothing is written, unless "
            "--skip-invalid loads the good rows.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the file, or - for standard input (give --format then)")
        parser.add_argument("--shop", help="the shop's name")
        parser.add_argument("--shared", action="store_true", help="import as items shared by every shop")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file name")
        parser.add_argument("--skip-invalid", action="store_true", help="load the good rows, report the bad ones")
        parser.add_argument("--on-duplicate", choices=DUPLICATE_POLICIES, default="error",
                            help="an id or question already in the shop: error (default), skip, or update it")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        shop = shop_by_name(options["shop"], shared=options["shared"])
        try:
            data = transfer.read_input(options["file"], error=KnowledgeError)
        except KnowledgeError as exc:
            raise CommandError(exc.message) from exc
        progress = Progress.for_command(self, quiet=options["no_progress"])
        try:
            report = knowledge_import(actor=None, shop=shop, data=data, fmt=format_of(options["file"],
                                                                                      options["format"]),
                                      skip_invalid=options["skip_invalid"], on_duplicate=options["on_duplicate"],
                                      progress=progress)
        except KnowledgeError as exc:
            for problem in exc.detail or []:
                self.stderr.write(transfer.problem_line(problem))
            raise CommandError(exc.message) from exc
        finally:
            progress.close()
        for problem in report.errors:
            self.stderr.write(f"{transfer.problem_line(problem)} (skipped)")
        self.stdout.write(json.dumps({k: v for k, v in report.as_dict().items() if k != "errors"}))
