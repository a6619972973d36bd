from celery import shared_task

from .alerts import (
    ALERT_NOTIFY_TASK,
    TRANSIENT_NOTIFY_ERRORS,
    alert_notification_send,
    alerts_escalate_due,
)


@shared_task(
    name=ALERT_NOTIFY_TASK,
    autoretry_for=TRANSIENT_NOTIFY_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    time_limit=60,
    soft_time_limit=50,
)
def alert_notify(alert_id: int, escalation: bool = False) -> None:
    """Tells the care team about an alert. Safe to run twice: each recipient is told once per
    alert and kind (``AlertNotification``); a retry tells only those not told yet."""
    alert_notification_send(alert_id=alert_id, escalation=escalation)


@shared_task(name="recovery.escalate_alerts", time_limit=60, soft_time_limit=50)
def escalate_alerts() -> None:
    """Beat, every minute: escalates alerts still open at their tier's deadline."""
    alerts_escalate_due()
