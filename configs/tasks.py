from celery import shared_task

EXPIRE_TASK = "configs.expire_temporary_configs"


@shared_task(name=EXPIRE_TASK)
def expire_temporary_configs_task() -> int:
    """Deactivate temporary configs past their expiry (each recorded in history). Run by beat."""
    from .services import config_expire_due

    return config_expire_due()
