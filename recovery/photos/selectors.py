"""Reads of wound photos, scoped to the caller first."""

from django.db.models import QuerySet

from accounts.models import User
from recovery.record.selectors import record_get, records_for

from .kinds import WOUND_PHOTOS
from .models import WoundPhoto


def wound_photos_for(user: User) -> QuerySet[WoundPhoto]:
    """Live photos the user may see (a patient's own; a clinician's care-team patients')."""
    return records_for(user, WOUND_PHOTOS)


def wound_photo_get(user: User, photo_id: str) -> WoundPhoto:
    """One photo in the caller's scope; another patient's is a 404."""
    return record_get(user, WOUND_PHOTOS, photo_id)
