from celery import shared_task


@shared_task(name="billing.purge_request_logs")
def purge_request_logs() -> int:
    """Delete request-log rows past their config's retention (daily, from the beat schedule)."""
    from .services import request_log_purge

    return request_log_purge()
