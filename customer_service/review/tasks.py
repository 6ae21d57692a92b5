"""Celery tasks of the review queue: thin, each calls one service."""

from celery import shared_task

DEADLINE_CHECK_SECONDS = 10.0

# Registered in CustomerServiceConfig.ready(); django-celery-beat's DatabaseScheduler syncs it.
BEAT_SCHEDULE = {
    "review-deadlines-check": {
        "task": "review.deadlines_check",
        "schedule": DEADLINE_CHECK_SECONDS,
        "options": {"queue": "default", "expires": DEADLINE_CHECK_SECONDS},
    },
}


@shared_task(name="review.deadlines_check")
def review_deadlines_check_task():
    """Holding replies for items about to pass their deadline; the deadline and backlog alerts."""
    from .decisions import review_deadlines_check

    report = review_deadlines_check()
    return {"holding_sent": report.holding_sent, "deadline_shops": report.deadline_shops,
            "backlog_shops": report.backlog_shops}
