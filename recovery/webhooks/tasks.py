from celery import shared_task
from django.conf import settings

from .delivery import deliveries_sweep, delivery_attempt
from .events import DELIVER_TASK


@shared_task(name=DELIVER_TASK, time_limit=120, soft_time_limit=100)
def webhook_deliver(delivery_id: int) -> None:
    """One attempt of a webhook delivery. Safe to run twice or late: the delivery is claimed in
    the database (status, schedule and lease), so a duplicate message does nothing; retries
    are scheduled in the row (``next_attempt_at``), not by Celery."""
    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="recovery.webhooks_sweep", time_limit=60, soft_time_limit=50)
def webhooks_sweep() -> None:
    """Beat, every ``WEBHOOK_SWEEP_INTERVAL`` seconds: enqueues due deliveries whose message was
    lost or that wait longer than a broker countdown."""
    deliveries_sweep(batch=settings.WEBHOOK_SWEEP_BATCH)
