"""``manage.py kb_reindex [--shop NAME] [--stale-only]``: rebuild stored vectors, with a progress bar."""

import json

from django.core.management.base import BaseCommand

from kefu.progress import Progress, add_progress_argument
from knowledge.models import KnowledgeItem
from knowledge.services import knowledge_reindex

from ._shops import shop_by_name


class Command(BaseCommand):
    help = "Rebuild the vectors of knowledge items (all, one shop's, or the shared ones); --stale-only skips fresh."

    def add_arguments(self, parser):
        parser.add_argument("--shop", help="only this shop's items")
        parser.add_argument("--shared", action="store_true", help="only the shared items")
        parser.add_argument("--stale-only", action="store_true", help="skip items whose vectors are up to date")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        items = KnowledgeItem.all_objects.all()
        if options["shop"] or options["shared"]:
            shop = shop_by_name(options["shop"], shared=options["shared"])
            items = items.filter(shop=shop) if shop else items.filter(shop__isnull=True)
        with Progress.for_command(self, quiet=options["no_progress"]) as progress:
            totals = knowledge_reindex(items=items, stale_only=options["stale_only"],
                                       progress=progress.counter("reindex", items.count()))
        self.stdout.write(json.dumps(totals))
