"""``manage.py kb_export --shop NAME FILE``: write a shop's items as CSV, XLSX or JSON Lines."""

from django.core.management.base import BaseCommand, CommandError

from kefu import transfer
from knowledge.exceptions import KnowledgeError
from knowledge.models import KnowledgeItem
from knowledge.transfer import FORMATS, format_of, knowledge_export

from ._shops import shop_by_name


class Command(BaseCommand):
    help = "Export knowledge items (deleted ones excluded) in a form kb_import reads back unchanged."

    def add_arguments(self, parser):
        parser.add_argument("file", help="output file; '-' writes JSON Lines or CSV to stdout")
        parser.add_argument("--shop", help="the shop's name")
        parser.add_argument("--shared", action="store_true", help="export the items shared by every shop")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file name")

    def handle(self, *args, **options):
        shop = shop_by_name(options["shop"], shared=options["shared"])
        items = KnowledgeItem.objects.filter(shop=shop) if shop else KnowledgeItem.objects.filter(shop__isnull=True)
        try:
            fmt = format_of(options["file"], options["format"]) if options["file"] != "-" else (
                options["format"] or "jsonl")
            data = knowledge_export(items=items, fmt=fmt)
        except KnowledgeError as exc:
            for problem in exc.detail or []:
                self.stderr.write(problem["message"])
            raise CommandError(exc.message) from exc
        if options["file"] == "-":
            if fmt == "xlsx":
                raise CommandError("Write XLSX to a file, not to stdout.")
            self.stdout.write(data.decode("utf-8").lstrip("\ufeff"), ending="")
            return
        try:
            transfer.write_output(options["file"], data, error=KnowledgeError)
        except KnowledgeError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{items.count()} items written to {options['file']}")
