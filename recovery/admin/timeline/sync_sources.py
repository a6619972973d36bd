"""Timeline addition: records the app pushed and the server refused (quarantined, docs/sync.md
"Refused records"), so the care team sees what the patient entered and did not arrive. One
query."""

from recovery.sync.models import RejectedRecord

from .events import TimelineEvent, TimelineQuery, register_event_source


@register_event_source("rejected", "Refused from the app")
def _rejected_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = RejectedRecord.objects.filter(patient=q.patient).filter(q.in_range("rejected_at"))
    return [
        TimelineEvent(
            at=r.rejected_at,
            day=q.local_day(r.rejected_at),
            type="rejected",
            title=f"Refused from the app: {r.table_name.replace('_', ' ')} {r.record_id}",
            detail="; ".join(str(e.get("detail", "")) for e in r.errors or [])[:500],
            status=r.status,
            record_id=str(r.pk),
            url_name="admin:recovery_rejectedrecord_change",
        )
        for r in rows
    ]
