from celery import shared_task

from .rejections import rejected_records_purge


@shared_task(name="recovery.purge_rejected_records", time_limit=300, soft_time_limit=280)
def purge_rejected_records() -> int:
    """Beat, daily: deletes refused pushed records older than SYNC_REJECTED_RETENTION_DAYS.
    Safe to run twice (a delete by age)."""
    return rejected_records_purge()
