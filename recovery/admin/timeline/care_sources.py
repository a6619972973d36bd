"""Timeline additions: red-flag alerts, reminders sent, imaging, complications, the
preparation checklist and outcome scores (event sources), and the header's care summary
(open alerts, open complications, the checklist before surgery, outcome change vs. MCID).
Each source runs one query; the summary a fixed number."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from accounts.models import PatientProfile
from recovery.care.models import (
    Alert,
    AlertStatus,
    Tier,
)
from recovery.outcomes.models import (
    OutcomeScore,
)
from recovery.outcomes.scoring import score_band
from recovery.outcomes.selectors import OutcomeChange, outcome_changes_for
from recovery.preparation.models import (
    Complication,
    ImagingStudy,
    PrepItem,
    PrepStatus,
)
from recovery.record.models import (
    Surgery,
)
from reminders.selectors import reminders_sent_for_patient

from .events import TimelineEvent, TimelineQuery, _label, register_event_source

CHECKLIST_HORIZON_DAYS = 60  # show what is open on the checklist this close to the surgery


@register_event_source("alert", "Red-flag alerts")
def _alert_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = Alert.objects.filter(patient=q.patient).filter(q.in_range("opened_at"))
    return [
        TimelineEvent(
            at=a.opened_at,
            day=q.local_day(a.opened_at),
            type="alert",
            title=f"Alert ({Tier(a.tier).label.split(':')[0].lower()}): {a.title}",
            detail=a.detail,
            status=a.status,
            record_id=str(a.pk),
            url_name="admin:recovery_alert_change",
        )
        for a in rows
    ]


@register_event_source("reminder", "Reminders sent")
def _reminder_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = reminders_sent_for_patient(patient=q.patient, since=q.start, until=q.end)
    return [
        TimelineEvent(
            at=r.sent_at,
            day=q.local_day(r.sent_at),
            type="reminder",
            title=f"Reminder sent ({r.get_channel_display().lower()}): {r.title or r.get_kind_display()}",
            status="sent",
            record_id=str(r.pk),
            url_name="admin:reminders_reminder_change",
        )
        for r in rows
    ]


def _at_noon(q: TimelineQuery, day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=q.tz)


@register_event_source("imaging", "Imaging studies")
def _imaging_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = ImagingStudy.objects.filter(patient=q.patient).filter(q.days_in_range("performed_on"))
    events = []
    for s in rows:
        findings = ", ".join(
            f"{_label(name)}: {_label(value)}"
            for name, value in (("fusion", s.fusion_status), ("hardware", s.hardware_status))
            if value
        )
        events.append(
            TimelineEvent(
                at=_at_noon(q, s.performed_on),
                day=s.performed_on,
                type="imaging",
                title=f"{s.get_modality_display()} {s.levels} ({_label(s.purpose)})",
                detail="; ".join(filter(None, [findings, s.reading[:200]])),
                record_id=s.pk,
                url_name="admin:recovery_imagingstudy_change",
            )
        )
    return events


@register_event_source("complication", "Complications")
def _complication_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = Complication.objects.filter(patient=q.patient).filter(
        q.days_in_range("noticed_on") | q.days_in_range("resolved_on")
    )
    events = []
    for c in rows:
        if q.since is None or q.since <= c.noticed_on <= q.until:
            events.append(
                TimelineEvent(
                    at=_at_noon(q, c.noticed_on),
                    day=c.noticed_on,
                    type="complication",
                    title=f"Complication: {c.get_kind_display()} ({c.severity})",
                    detail=c.treatment[:200],
                    status="open" if c.resolved_on is None else "resolved",
                    record_id=c.pk,
                    url_name="admin:recovery_complication_change",
                )
            )
        if (
            c.resolved_on
            and (q.since is None or q.since <= c.resolved_on)
            and c.resolved_on <= q.until
        ):
            events.append(
                TimelineEvent(
                    at=_at_noon(q, c.resolved_on) + timedelta(hours=1),
                    day=c.resolved_on,
                    type="complication",
                    title=f"Complication resolved: {c.get_kind_display()}",
                    status="resolved",
                    record_id=c.pk,
                    url_name="admin:recovery_complication_change",
                )
            )
    return events


@register_event_source("prep", "Preparation checklist")
def _prep_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = PrepItem.objects.filter(patient=q.patient, status=PrepStatus.DONE).filter(
        q.days_in_range("completed_on")
    )
    return [
        TimelineEvent(
            at=_at_noon(q, p.completed_on),
            day=p.completed_on,
            type="prep",
            title=f"Checklist done: {p}",
            record_id=p.pk,
            status="done",
            url_name="admin:recovery_prepitem_change",
        )
        for p in rows
    ]


@register_event_source("outcome", "Outcome scores")
def _outcome_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = OutcomeScore.objects.filter(patient=q.patient).filter(q.in_range("completed_at"))
    events = []
    for s in rows:
        band = score_band(s.instrument, s.score)
        events.append(
            TimelineEvent(
                at=s.completed_at,
                day=q.local_day(s.completed_at),
                type="outcome",
                title=f"{s.get_instrument_display()} ({s.get_timepoint_display()}): {float(s.score):g}{'%' if band else ''}"
                + (f", {band}" if band else ""),
                record_id=s.pk,
                url_name="admin:recovery_outcomescore_change",
            )
        )
    return events


@dataclass
class CareSummary:
    open_alerts: list[Alert] = field(default_factory=list)
    open_complications: list[Complication] = field(default_factory=list)
    open_checklist: list[PrepItem] = field(default_factory=list)
    next_surgery: Surgery | None = None
    outcome_changes: list[OutcomeChange] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.open_alerts) + len(self.open_complications) + len(self.open_checklist)


def care_summary(*, patient: PatientProfile, today: date | None = None) -> CareSummary:
    """Open alerts (most urgent first), open complications, what is still open on the checklist
    of a surgery in the next ``CHECKLIST_HORIZON_DAYS``, and the outcome changes. Seven queries."""
    today = today or timezone.localdate(timezone=patient.tz)
    tiers = list(Tier.values)
    alerts = sorted(
        Alert.objects.filter(patient=patient)
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("acknowledged_by"),
        key=lambda a: (tiers.index(a.tier), a.opened_at),
    )
    complications = list(
        Complication.objects.filter(patient=patient, resolved_on__isnull=True).order_by(
            "noticed_on"
        )
    )
    upcoming = (
        Surgery.objects.filter(
            patient=patient,
            performed_on__gte=today,
            performed_on__lte=today + timedelta(days=CHECKLIST_HORIZON_DAYS),
        )
        .order_by("performed_on")
        .first()
    )
    checklist = (
        list(PrepItem.objects.filter(surgery=upcoming, status=PrepStatus.OPEN).order_by("due_on"))
        if upcoming
        else []
    )
    return CareSummary(
        open_alerts=alerts,
        open_complications=complications,
        open_checklist=checklist,
        next_surgery=upcoming,
        outcome_changes=outcome_changes_for([patient])[patient.pk],
    )
