from celery import shared_task
from django.core.management import call_command


@shared_task(name="accounts.flush_expired_tokens", time_limit=300)
def flush_expired_tokens() -> None:
    """Deletes expired refresh tokens and their blacklist entries (simplejwt keeps them)."""
    call_command("flushexpiredtokens")
