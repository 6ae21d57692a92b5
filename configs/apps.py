from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConfigsConfig(AppConfig):
    name = "configs"
    verbose_name = _("Configuration")
    # Secrets inside JSON documents are not model columns: `rotate_encryption_key` calls this too.
    encrypted_value_rotator = "configs.services.secrets_reencrypt"

    def ready(self):
        from celery.signals import task_postrun, task_prerun

        from kefu.celery import app

        from .cache import task_unit_begin, task_unit_end
        from .conf import expiry_interval_seconds

        task_prerun.connect(task_unit_begin, weak=False, dispatch_uid="configs-task-unit-begin")
        task_postrun.connect(task_unit_end, weak=False, dispatch_uid="configs-task-unit-end")
        from .tasks import EXPIRE_TASK

        app.conf.beat_schedule.update({
            "configs-expire-temporary-configs": {
                "task": EXPIRE_TASK,
                "schedule": float(expiry_interval_seconds()),
            },
        })
