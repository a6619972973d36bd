"""Timeline events of wound photos: one per photo, when it was taken, with the patient's note,
the review state and a thumbnail by a signed URL. One query."""

from recovery.photos.models import WoundPhoto
from recovery.photos.storage import signed_url

from .events import TimelineEvent, TimelineQuery, register_event_source


@register_event_source("wound_photo", "Wound photos")
def _wound_photo_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = (
        WoundPhoto.objects.filter(patient=q.patient)
        .filter(q.in_range("taken_at"))
        .select_related("reviewed_by")
    )
    events = []
    for p in rows:
        if p.reviewed:
            who = p.reviewed_by.full_name if p.reviewed_by else "the care team"
            review = f"Reviewed by {who}: {p.get_review_outcome_display().lower()}"
            if p.review_comment:
                review += f" ({p.review_comment[:200]})"
        else:
            review = "Not reviewed yet"
        events.append(
            TimelineEvent(
                at=p.taken_at,
                day=q.local_day(p.taken_at),
                type="wound_photo",
                title="Wound photo" + (f": {p.note[:120]}" if p.note else ""),
                detail=review,
                status=p.review_outcome or "to_review",
                record_id=p.pk,
                url_name="admin:recovery_woundphoto_change",
                image_url=signed_url(p.thumbnail.name or p.image.name) or "",
            )
        )
    return events
