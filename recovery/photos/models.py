"""Wound photos: a picture of the incision the patient takes between visits, with an optional
note, reviewed by the care team ("looks fine" / "come in").

The file itself is in object storage (``storage.py``); the row holds its storage key, what the
server learned from the bytes (type, size, pixels, digest) and the review. Every column but the
note is the server's: the phone uploads by REST (``api.py``) and reads the row by sync.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from recovery.record.models import FUTURE_TOLERANCE, ClinicalRecord

from .storage import photo_storage


class ReviewOutcome(models.TextChoices):
    LOOKS_FINE = "looks_fine", "Looks fine"
    COME_IN = "come_in", "Come in"


class WoundPhoto(ClinicalRecord):
    taken_at = models.DateTimeField(default=timezone.now, help_text="when the photo was taken")
    note = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    # The stored, cleaned image (re-encoded without EXIF/GPS) and its thumbnail (a Celery task
    # makes it after the upload commits; empty until then). Storage keys, never public URLs.
    image = models.FileField(max_length=255, blank=True, storage=photo_storage)
    thumbnail = models.FileField(max_length=255, blank=True, storage=photo_storage)
    content_type = models.CharField(max_length=40, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    byte_size = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    # SHA-256 of the bytes the phone sent (before cleaning): a retried upload with the same id
    # is recognised by it (same bytes: the stored photo; other bytes: a 409).
    upload_sha256 = models.CharField(max_length=64, blank=True)
    review_outcome = models.CharField(max_length=12, choices=ReviewOutcome.choices, blank=True)
    review_comment = models.TextField(
        max_length=2000, blank=True, validators=[MaxLengthValidator(2000)]
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "recovery_woundphoto"
        indexes = ClinicalRecord.sync_indexes("wound_photo", "taken_at")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(review_outcome="", reviewed_at__isnull=True)
                    | (~models.Q(review_outcome="") & models.Q(reviewed_at__isnull=False))
                ),
                name="wound_photo_review_complete",
                violation_error_code="review_incomplete",
                violation_error_message="A review needs both its outcome and its time.",
            ),
        ]

    def __str__(self) -> str:
        return f"Wound photo {timezone.localtime(self.taken_at):%Y-%m-%d %H:%M}"

    def clean(self):
        if self.taken_at and self.taken_at > timezone.now() + FUTURE_TOLERANCE:
            raise ValidationError(
                {"taken_at": ValidationError("This is in the future.", code="in_future")}
            )

    @property
    def reviewed(self) -> bool:
        return bool(self.review_outcome)
