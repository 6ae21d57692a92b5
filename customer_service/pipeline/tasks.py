"""Celery tasks of the reply pipeline: thin, each calls one service."""

from celery import shared_task
from celery.schedules import crontab

# Added to Celery beat in CustomerServiceConfig.ready (django-celery-beat syncs it into its tables).
BEAT_SCHEDULE = {
    "pipeline-sweep-leases": {
        "task": "pipeline.sweep_leases",
        "schedule": 30.0,
        "options": {"queue": "default", "expires": 30},
    },
    "pipeline-purge-expired": {
        "task": "pipeline.purge_expired",
        "schedule": crontab(hour=4, minute=23),
        "options": {"queue": "default"},
    },
}


# Nothing reads these tasks' results: not storing them saves the result backend a write per line.
@shared_task(bind=True, name="pipeline.process_message", acks_late=True, queue="default", ignore_result=True)
def message_process_task(self, message_id: int):
    """Answer the burst ``message_id`` belongs to; come back at its answer time when it is not ready.

    Run eagerly (tests, no worker) there is no coming back later: the burst is answered as it stands.
    """
    from .processing import message_process

    outcome = message_process(message_id=message_id, force=bool(self.request.is_eager))
    if outcome.action == "wait":
        from django.utils import timezone

        countdown = max(0.0, (outcome.answer_at - timezone.now()).total_seconds())
        message_process_task.apply_async(args=(message_id,), countdown=countdown)
    return outcome.action


@shared_task(name="pipeline.draft_reply", acks_late=True, queue="llm", ignore_result=True)
def message_draft_task(head_id: int, owner: str, text: str, decision: dict, seen_id: int = 0):
    """The LLM draft of a burst (queue ``llm``), then the burst goes to review with it."""
    from .processing import message_draft_finish

    return message_draft_finish(head_id=head_id, owner=owner, text=text, decision=decision, seen_id=seen_id)


@shared_task(name="pipeline.sweep_leases")
def message_leases_sweep_task():
    """Beat: bursts whose worker died go back to processing (or to review after the last attempt)."""
    from .processing import message_leases_sweep

    result = message_leases_sweep()
    return {"released": result.released, "failed": result.failed, "rescheduled": result.rescheduled}


@shared_task(name="pipeline.purge_expired")
def messages_purge_task():
    """Beat: messages and conversations past each shop's retention period are deleted, in batches."""
    from .retention import messages_purge

    return messages_purge()
