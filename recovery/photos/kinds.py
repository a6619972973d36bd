"""The write path's description of wound photos (``recovery.record.writes``).

A photo is created only with its file, by the upload service (``services.wound_photo_upload``,
behind ``POST /api/v1/wound-photos/``); sync carries the row to the phones, and from a phone
only the note changes. The review columns are the care team's, set by
``services.wound_photo_review`` from the reviewer and the clock.

Deleting (``DELETE /api/v1/wound-photos/{id}/`` or a sync deletion) is a tombstone, as for
every record: the patient deletes any photo of theirs (one a caregiver uploaded for them too),
a caregiver with ``log`` only the photos they uploaded (``check_change``'s caregiver rule).
"""

from django.core.exceptions import ValidationError

from recovery.record.writes import RecordKind, created_by_actor, register

from .models import WoundPhoto

WRITABLE = (
    "taken_at",
    "note",
    "image",
    "thumbnail",
    "content_type",
    "width",
    "height",
    "byte_size",
    "upload_sha256",
    "review_outcome",
    "review_comment",
    "reviewed_by",
    "reviewed_at",
)
PATIENT_FIELDS = frozenset({"note"})
UPLOAD_REQUIRED = (
    "A wound photo is created by uploading its file (POST /api/v1/wound-photos/), not by sync."
)


def patients_photo(record: WoundPhoto, actor) -> bool:
    """Any photo of the patient's record (``check_change`` has checked it is theirs)."""
    return True


def _uploaded_only(record: WoundPhoto) -> None:
    if not record.image:
        raise ValidationError({"image": ValidationError(UPLOAD_REQUIRED, code="upload_required")})


WOUND_PHOTOS = register(
    RecordKind(
        WoundPhoto,
        "wound_photos",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        patient_fields=PATIENT_FIELDS,
        patient_may_delete=patients_photo,
        prepare=_uploaded_only,
        writable_fields=WRITABLE,
        sort="taken_at",
        device_read_only=frozenset(WRITABLE) - PATIENT_FIELDS,
        sync_since=6,
        rest_collection=False,  # its own endpoints: recovery/photos/api.py (multipart upload)
    )
)
