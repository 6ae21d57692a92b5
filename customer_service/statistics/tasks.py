from celery import shared_task

# Yesterday and today, every ten minutes: late review outcomes and receipts reach yesterday's row too.
BEAT_SCHEDULE = {
    "statistics-rollup-recent": {
        "task": "statistics.rollup_recent",
        "schedule": 600.0,
        "options": {"queue": "default", "expires": 600},
    },
}


@shared_task(name="statistics.rollup_recent")
def statistics_rollup_recent_task() -> int:
    """Recompute yesterday's and today's figures of every shop."""
    from .services import daily_statistics_rollup_recent

    return daily_statistics_rollup_recent()
