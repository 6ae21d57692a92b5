from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConfigsConfig(AppConfig):
    name = "configs"
    verbose_name = _("Configuration")
    # Secrets inside JSON documents are not model columns: `rotate_encryption_key` calls this too.
    encrypted_value_rotator = "configs.services.secrets_reencrypt"

    def ready(self):
        from kefu.celery import app

        from .conf import expiry_interval_seconds
        from .tasks import EXPIRE_TASK

        app.conf.beat_schedule.update({
            "configs-expire-temporary-configs": {
                "task": EXPIRE_TASK,
                "schedule": float(expiry_interval_seconds()),
            },
        })
