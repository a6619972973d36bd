"""Writes of wound photos: the upload (checked, cleaned, stored, then recorded), the care
team's review, and the thumbnail a Celery task adds.

Storage is network I/O (S3 in production), so it never happens inside a transaction: the file
is stored first under a key derived from the record id and the upload's digest, the row is
written in one transaction, and a refused write deletes the file it had stored. A retried
upload with the same id and the same bytes answers the stored photo (nothing new is kept);
the same id with other bytes is a 409.
"""

import hashlib
import logging

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.services import patient_clock_tick
from config.errors import Conflict, Forbidden, Invalid, PayloadTooLarge
from recovery.record.models import new_record_id
from recovery.record.writes import record_create, record_delete, record_update

from .images import THUMBNAIL_TYPE, image_clean, thumbnail_make
from .kinds import WOUND_PHOTOS
from .models import ReviewOutcome, WoundPhoto
from .storage import photo_storage

logger = logging.getLogger(__name__)

THUMBNAIL_TASK = "recovery.wound_photo_thumbnail"  # the task in recovery.photos.tasks
OTHER_BYTES = "A photo with this id was uploaded before with other content."


def photo_too_large() -> PayloadTooLarge:
    limit = settings.WOUND_PHOTO_MAX_BYTES
    return PayloadTooLarge(
        f"A photo may be at most {limit} bytes.",
        code="file_too_large",
        attr="image",
        extra={"max_bytes": limit},
    )


def _same_upload(record_id: str, patient: PatientProfile, digest: str) -> WoundPhoto | None:
    """The stored photo this upload repeats, or None; a 409 for other bytes under the id."""
    existing = WoundPhoto.all_objects.filter(pk=record_id, patient=patient).first()
    if existing is None or existing.deleted_at is not None:
        return None  # record_create answers a deleted id or another patient's id itself
    if existing.upload_sha256 == digest:
        return existing
    raise Conflict(OTHER_BYTES, code="conflict", attr="id")


def wound_photo_upload(
    *,
    actor: User,
    patient: PatientProfile,
    data: bytes,
    content_type: str,
    id: str | None = None,
    note: str = "",
    taken_at=None,
) -> tuple[WoundPhoto, bool]:
    """Stores a photo of the incision. Returns ``(photo, created)``."""
    if len(data) > settings.WOUND_PHOTO_MAX_BYTES:
        raise photo_too_large()
    digest = hashlib.sha256(data).hexdigest()
    if id is not None and (stored := _same_upload(id, patient, digest)) is not None:
        return stored, False
    clean = image_clean(data=data, declared_type=content_type)
    record_id = id or new_record_id()
    storage = photo_storage()
    name = storage.save(
        f"{patient.pk}/{record_id}/{digest[:32]}.{clean.extension}", ContentFile(clean.data)
    )
    try:
        with transaction.atomic():
            photo, created = record_create(
                WOUND_PHOTOS,
                actor=actor,
                patient=patient,
                id=record_id,
                taken_at=taken_at or timezone.now(),
                note=note,
                image=name,
                content_type=clean.content_type,
                width=clean.width,
                height=clean.height,
                byte_size=len(clean.data),
                upload_sha256=digest,
            )
            transaction.on_commit(lambda: current_app.send_task(THUMBNAIL_TASK, args=(photo.pk,)))
    except Conflict:
        storage.delete(name)
        # Two uploads of the same photo raced: the other one's row is the photo.
        if id is not None and (stored := _same_upload(id, patient, digest)) is not None:
            return stored, False
        raise
    except BaseException:
        storage.delete(name)  # nothing refers to the file: the row was not written
        raise
    return photo, created


def wound_photo_review(
    *, actor: User, photo: WoundPhoto, outcome: str, comment: str = "", require=None
) -> WoundPhoto:
    """The care team's review of a photo ("looks fine" or "come in", with a comment). The
    reviewer and the time are the server's: ``actor`` and now. A later review replaces it.
    ``require``: as for ``record_update`` (the admin's "unchanged since the form opened")."""
    if actor.is_patient:
        raise Forbidden("Only the care team reviews wound photos.", code="permission_denied")
    if outcome not in ReviewOutcome.values:
        raise Invalid("Choose looks_fine or come_in.", code="invalid_choice", attr="review_outcome")
    return record_update(
        WOUND_PHOTOS,
        actor=actor,
        record=photo,
        require=require,
        review_outcome=outcome,
        review_comment=comment,
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )


def wound_photo_delete(*, actor: User, photo: WoundPhoto) -> None:
    """The patient withdraws a photo (or a caregiver one they uploaded): a tombstone, as every
    record's deletion. The row leaves the patient's lists, the care team's pages and every
    phone (the next pull lists it under ``deleted``); the row and its files stay in storage
    with the rest of the clinical record (its retention: ``CLINICAL_RECORD_RETENTION_YEARS``
    after an account's deletion), never served again: no signed URL is made for a tombstone."""
    record_delete(WOUND_PHOTOS, actor=actor, record=photo)


def wound_photo_thumbnail_store(*, photo_id: str) -> str | None:
    """Makes and stores the photo's thumbnail, once: returns its name, or None when the photo
    is gone or already has one. Reading and writing the files happens outside the transaction;
    the row is then stamped under the patient's clock, so the next pull sends the thumbnail."""
    photo = WoundPhoto.all_objects.filter(pk=photo_id).first()
    if photo is None or photo.deleted_at is not None or photo.thumbnail or not photo.image:
        return None
    storage = photo_storage()
    with storage.open(photo.image.name, "rb") as source:
        data = source.read()
    thumb = thumbnail_make(data, settings.WOUND_PHOTO_THUMBNAIL_PX)
    stem = photo.image.name.rsplit(".", 1)[0]
    name = storage.save(f"{stem}-thumb.jpg", ContentFile(thumb))
    with transaction.atomic():
        version = patient_clock_tick(patient_id=photo.patient_id)
        row = WoundPhoto.all_objects.select_for_update().get(pk=photo_id)
        if row.thumbnail or row.deleted_at is not None:
            transaction.on_commit(lambda: storage.delete(name))  # another run was first
            return None
        row.thumbnail = name
        row.sync_version = version
        row.updated_at = timezone.now()
        row.save(update_fields=["thumbnail", "sync_version", "updated_at"])
    logger.info("wound photo %s: thumbnail %s (%s)", photo_id, name, THUMBNAIL_TYPE)
    return name
