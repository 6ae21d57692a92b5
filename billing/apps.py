from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("AI billing")

    def ready(self):
        from celery.schedules import crontab

        from . import routing

        routing.connect_signals()

        from kefu.celery import app

        # django-celery-beat's DatabaseScheduler syncs this entry into its tables.
        app.conf.beat_schedule.update(
            {
                "billing-purge-request-logs": {
                    "task": "billing.purge_request_logs",
                    "schedule": crontab(hour=3, minute=17),
                    "options": {"queue": "default"},
                },
            }
        )
