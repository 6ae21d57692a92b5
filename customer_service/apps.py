from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomerServiceConfig(AppConfig):
    name = "customer_service"
    verbose_name = _("Customer service")

    def ready(self):
        from kefu.scoping import roles_install

        from .shops import roles

        roles_install(roles.ShopRoles())
        roles.connect_signals()

        from kefu.celery import app

        from .desktop import signals as desktop_signals
        from .desktop import tasks as desktop_tasks

        desktop_signals.connect()
        app.conf.beat_schedule.update(desktop_tasks.BEAT_SCHEDULE)

        from .alerts import tasks as alerts_tasks
        from .outbox import tasks as outbox_tasks
        from .pipeline import tasks as pipeline_tasks
        from .review import tasks as review_tasks
        from .statistics import tasks as statistics_tasks
        from .suggestions import tasks as suggestions_tasks  # noqa: F401 (registers the task with the worker)

        app.conf.beat_schedule.update(outbox_tasks.BEAT_SCHEDULE)
        app.conf.beat_schedule.update(review_tasks.BEAT_SCHEDULE)
        app.conf.beat_schedule.update(statistics_tasks.BEAT_SCHEDULE)
        app.conf.beat_schedule.update(alerts_tasks.BEAT_SCHEDULE)
        app.conf.beat_schedule.update(pipeline_tasks.BEAT_SCHEDULE)
