from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import EndpointConnectionError
from celery import shared_task

from .services import THUMBNAIL_TASK, wound_photo_thumbnail_store

# Storage that is briefly unreachable (object storage restarting, a network blip).
TRANSIENT_STORAGE_ERRORS = (BotoConnectionError, EndpointConnectionError, ConnectionError)


@shared_task(
    name=THUMBNAIL_TASK,
    autoretry_for=TRANSIENT_STORAGE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    time_limit=60,
    soft_time_limit=50,
)
def wound_photo_thumbnail(photo_id: str) -> str | None:
    """Makes a wound photo's thumbnail after its upload committed. Idempotent by state: a
    photo that is gone or already has one is left alone."""
    return wound_photo_thumbnail_store(photo_id=photo_id)
