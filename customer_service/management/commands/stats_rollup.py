from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customer_service.models import Shop
from customer_service.statistics.services import daily_statistics_rollup
from kefu.exceptions import KefuError
from kefu.progress import Progress, add_progress_argument


def local_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"'{text}' is not a date like 2026-01-31.") from None


class Command(BaseCommand):
    help = ("Recompute the daily statistics of every shop (or --shop) for the local (Asia/Shanghai) days "
            "--from..--to, both included (default: yesterday and today). Running it again gives the same rows.")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (default: today)")
        parser.add_argument("--shop", action="append", default=[], help="shop name or id (repeatable)")
        add_progress_argument(parser)

    def handle(self, *args, date_from=None, date_to=None, shop=(), no_progress=False, **options):
        today = timezone.localdate()
        last = local_date(date_to) if date_to else today
        first = local_date(date_from) if date_from else last - timedelta(days=1)
        shops = None
        if shop:
            shops = []
            for name in shop:
                by_id = name.isdigit() and len(name) < 19  # longer: no id, and past a 64-bit column
                found = Shop.objects.filter(pk=int(name)) if by_id else Shop.objects.filter(name=name)
                if not found:
                    raise CommandError(f"No shop '{name}'.")
                shops.extend(found)
        try:
            with Progress.for_command(self, quiet=no_progress) as progress:
                written = daily_statistics_rollup(date_from=first, date_to=last, shops=shops, progress=progress)
        except KefuError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Rolled up {first}..{last}: {written} shop-day rows written.")
