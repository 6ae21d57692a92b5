from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from configs import conf, services
from configs.choices import ConfigScope
from configs.models import UserConfig


class Command(BaseCommand):
    help = ("Deactivate temporary configs past their expiry, delete those expired longer than --expired-days, "
            "and delete the history of deleted configs older than --history-days. Every step is counted.")

    def add_arguments(self, parser):
        parser.add_argument("--expired-days", type=int, default=None,
                            help="Delete temporary configs expired this many days ago "
                                 "(default KEFU_CONFIG_EXPIRED_RETENTION_DAYS, 30).")
        parser.add_argument("--history-days", type=int, default=None,
                            help="Delete orphaned history older than this (default "
                                 "KEFU_CONFIG_HISTORY_RETENTION_DAYS, 180).")
        parser.add_argument("--dry-run", action="store_true", help="Count only.")

    def handle(self, *args, expired_days=None, history_days=None, dry_run=False, **options):
        expired_days = conf.expired_retention_days() if expired_days is None else expired_days
        history_days = conf.history_retention_days() if history_days is None else history_days
        now = timezone.now()
        due = UserConfig.objects.due_to_expire(now)
        old = UserConfig.objects.filter(scope=ConfigScope.TEMPORARY, is_active=False,
                                        expires_at__lte=now - timedelta(days=expired_days))
        if dry_run:
            deactivated, deleted = due.count(), old.count()
        else:
            deactivated = services.config_expire_due(now=now)
            deleted = 0
            for config in old.select_related("template"):
                with transaction.atomic():
                    services.config_delete(config=config, actor=None, reason="config_cleanup: expired")
                deleted += 1
        purged = services.history_cleanup(older_than_days=history_days, dry_run=dry_run)
        self.stdout.write(
            f"{'Would deactivate' if dry_run else 'Deactivated'} {deactivated} expired config(s); "
            f"{'would delete' if dry_run else 'deleted'} {deleted} temporary config(s) expired over "
            f"{expired_days} days; {'would delete' if dry_run else 'deleted'} {purged} history row(s) of deleted "
            f"configs older than {history_days} days."
        )
