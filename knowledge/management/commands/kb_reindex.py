"""``manage.py kb_reindex [--shop NAME] [--stale-only]``: rebuild stored vectors, with a progress bar."""

import json
import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from knowledge.models import KnowledgeItem
from knowledge.services import knowledge_reindex

from ._shops import shop_by_name


class Command(BaseCommand):
    help = "Rebuild the vectors of knowledge items (all, one shop's, or the shared ones); --stale-only skips fresh."

    def add_arguments(self, parser):
        parser.add_argument("--shop", help="only this shop's items")
        parser.add_argument("--shared", action="store_true", help="only the shared items")
        parser.add_argument("--stale-only", action="store_true", help="skip items whose vectors are up to date")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        items = KnowledgeItem.all_objects.all()
        if options["shop"] or options["shared"]:
            shop = shop_by_name(options["shop"], shared=options["shared"])
            items = items.filter(shop=shop) if shop else items.filter(shop__isnull=True)
        bar = tqdm(total=items.count(), desc="reindex", file=sys.stderr,
                   disable=options["no_progress"] or not sys.stderr.isatty())
        try:
            totals = knowledge_reindex(items=items, stale_only=options["stale_only"], progress=bar.update)
        finally:
            bar.close()
        self.stdout.write(json.dumps(totals))
