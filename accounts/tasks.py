from celery import shared_task
from django.core.management import call_command

from .erasure import erasure_deidentify_due


@shared_task(name="accounts.flush_expired_tokens", time_limit=300)
def flush_expired_tokens() -> None:
    """Deletes expired refresh tokens and their blacklist entries (simplejwt keeps them)."""
    call_command("flushexpiredtokens")


@shared_task(name="accounts.deidentify_erased_patients", time_limit=300)
def deidentify_erased_patients() -> int:
    """De-identifies deleted accounts whose clinical-record retention has ended."""
    return erasure_deidentify_due()
