from smtplib import SMTPException

from celery import shared_task

from reminders.channels import TransientDeliveryError

from .alerts import ALERT_NOTIFY_TASK, alert_notification_send, alerts_escalate_due


@shared_task(
    name=ALERT_NOTIFY_TASK,
    autoretry_for=(SMTPException, ConnectionError, TimeoutError, TransientDeliveryError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    time_limit=60,
    soft_time_limit=50,
)
def alert_notify(alert_id: int, escalation: bool = False) -> None:
    """Tells the care team about an alert. Safe to run twice (it re-reads the alert's state)."""
    alert_notification_send(alert_id=alert_id, escalation=escalation)


@shared_task(name="recovery.escalate_alerts", time_limit=60, soft_time_limit=50)
def escalate_alerts() -> None:
    """Beat, every minute: escalates alerts still open at their tier's deadline."""
    alerts_escalate_due()
