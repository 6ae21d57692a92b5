from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# A safety net behind the after-commit reindex task: vectors missed by a failed
# task (a provider outage, a worker killed mid-task) are rebuilt within this time.
STALE_SWEEP_SECONDS = 6 * 3600


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = _("Knowledge base")
    diagnostic_checks = ("knowledge.diagnostics.check_calibration",)

    def ready(self):
        from kefu.celery import app

        app.conf.beat_schedule.update({
            "knowledge-reindex-stale": {"task": "knowledge.reindex_stale", "schedule": float(STALE_SWEEP_SECONDS)},
        })
