"""Timeline event sources of the record: surgeries, stays, pain per day, PT sessions,
appointments, milestones, restriction starts and ends, medications started and stopped. One
query each."""

from collections import defaultdict
from datetime import date, timedelta

from django.db.models.functions import Coalesce

from accounts.models import Role
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    HospitalStay,
    Medication,
    Milestone,
    PTSession,
    Surgery,
)

from .events import PainDay, TimelineEvent, TimelineQuery, _label, register_event_source


def _entered_by(role, first_name, last_name) -> str:
    """Who entered a row, when it was a caregiver on the patient's behalf (else nothing)."""
    if role != Role.CAREGIVER:
        return ""
    return f"entered by caregiver {first_name} {last_name}".strip()


@register_event_source("surgery", "Surgeries")
def _surgery_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = Surgery.objects.filter(q.days_in_range("performed_on"), patient=q.patient)
    events = []
    for s in rows:
        reasons = ", ".join(_label(r) for r in s.revision_reasons)
        events.append(
            TimelineEvent(
                at=q.day_start(s.performed_on),
                day=s.performed_on,
                type="surgery",
                title=f"{'Revision ' if s.is_revision else ''}{_label(s.procedure)} {s.levels}",
                detail=f"Revision for: {reasons}" if reasons else s.facility,
                record_id=s.pk,
                url_name="admin:recovery_surgery_change",
            )
        )
    return events


@register_event_source("stay", "Admission and discharge")
def _stay_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = HospitalStay.objects.filter(
        q.in_range("admitted_at") | q.in_range("discharged_at"), patient=q.patient
    )
    events = []
    for s in rows:
        if q.start is None or q.start <= s.admitted_at < q.end:
            events.append(
                TimelineEvent(
                    at=s.admitted_at,
                    day=q.local_day(s.admitted_at),
                    type="stay",
                    title="Admitted",
                    detail=s.facility,
                    record_id=s.pk,
                    url_name="admin:recovery_hospitalstay_change",
                )
            )
        if s.discharged_at and (q.start is None or q.start <= s.discharged_at < q.end):
            los = s.nights_in(q.tz)
            events.append(
                TimelineEvent(
                    at=s.discharged_at,
                    day=q.local_day(s.discharged_at),
                    type="stay",
                    title=f"Discharged {_label(s.discharge_disposition) or ''}".strip(),
                    detail=f"length of stay {los} night{'s' if los != 1 else ''}",
                    record_id=s.pk,
                    url_name="admin:recovery_hospitalstay_change",
                )
            )
    return events


@register_event_source("pain", "Pain logs (per day)")
def _pain_events(q: TimelineQuery) -> list[TimelineEvent]:
    by_day: dict[date, list[PainDay]] = defaultdict(list)
    for p in q.pain_days:  # the chart's query, reused
        by_day[p.day].append(p)
    events = []
    for day, rows in by_day.items():
        count = sum(r.count for r in rows)
        mean = sum(r.mean * r.count for r in rows) / count
        parts = ", ".join(
            f"{r.location} {r.mean:.1f}" + (f" ({r.low}-{r.high})" if r.low != r.high else "")
            for r in rows
        )
        medicated = sum(r.medicated for r in rows)
        by_caregiver = sum(r.by_caregiver for r in rows)
        events.append(
            TimelineEvent(
                # End of the local day: a day's summary sorts after that day's other events.
                at=q.day_start(day + timedelta(days=1)) - timedelta(microseconds=1),
                day=day,
                type="pain",
                title=f"Pain {mean:.1f}/10 average, {count} log{'s' if count != 1 else ''}",
                detail=parts
                + (f"; medication taken {medicated}x" if medicated else "")
                + (f"; {by_caregiver} entered by a caregiver" if by_caregiver else ""),
                status="high" if max(r.high for r in rows) >= 8 else "",
            )
        )
    return events


@register_event_source("pt_session", "PT sessions")
def _pt_events(q: TimelineQuery) -> list[TimelineEvent]:
    # Plain values, not model instances: a long history has hundreds of sessions.
    rows = (
        PTSession.objects.filter(patient=q.patient)
        .annotate(when=Coalesce("performed_at", "scheduled_for"))
        .filter(q.in_range("when"))
        .values_list(
            "pk",
            "when",
            "status",
            "setting",
            "duration_minutes",
            "pain_before",
            "pain_after",
            "exercises",
            "created_by__role",
            "created_by__first_name",
            "created_by__last_name",
        )
    )
    events = []
    for row in rows:
        pk, when, status, setting, minutes, before, after, exercises = row[:8]
        entered_by = _entered_by(*row[8:])
        pain = ""
        if before is not None or after is not None:
            pain = f"pain {before if before is not None else '?'}"
            pain += f" -> {after if after is not None else '?'}"
        detail = ", ".join(
            x
            for x in [
                setting,
                f"{minutes} min" if minutes else "",
                pain,
                f"{len(exercises)} exercises" if exercises else "",
                entered_by,
            ]
            if x
        )
        events.append(
            TimelineEvent(
                at=when,
                day=q.local_day(when),
                type="pt_session",
                title=f"PT session {status}",
                detail=detail,
                status=status,
                record_id=pk,
                url_name="admin:recovery_ptsession_change",
            )
        )
    return events


@register_event_source("appointment", "Appointments")
def _appointment_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = Appointment.objects.filter(q.in_range("starts_at"), patient=q.patient).values_list(
        "pk",
        "starts_at",
        "purpose",
        "status",
        "location",
        "imaging",
        "clinician__first_name",
        "clinician__last_name",
        "clinician__email",
    )
    events = []
    for pk, starts_at, purpose, status, location, imaging, first, last, email in rows:
        clinician = f"{first} {last}".strip() or (email or "")
        events.append(
            TimelineEvent(
                at=starts_at,
                day=q.local_day(starts_at),
                type="appointment",
                title=f"Appointment: {_label(purpose)}",
                detail=", ".join(
                    x
                    for x in [
                        clinician,
                        location,
                        f"imaging {imaging}" if imaging != "none" else "",
                    ]
                    if x
                ),
                status=status,
                record_id=pk,
                url_name="admin:recovery_appointment_change",
            )
        )
    return events


@register_event_source("milestone", "Milestones")
def _milestone_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = (
        Milestone.objects.filter(patient=q.patient)
        .annotate(when=Coalesce("achieved_on", "target_on"))
        .filter(q.days_in_range("when"))
    )
    events = []
    for m in rows:
        achieved = m.achieved_on is not None
        events.append(
            TimelineEvent(
                at=q.day_start(m.when) + timedelta(hours=12),
                day=m.when,
                type="milestone",
                title=f"Milestone {'achieved' if achieved else 'due'}: {m.title}",
                detail=f"target {m.target_on}" if achieved and m.target_on else "",
                status="achieved" if achieved else "due",
                record_id=m.pk,
                url_name="admin:recovery_milestone_change",
            )
        )
    return events


@register_event_source("restriction", "Restriction starts and ends")
def _restriction_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = (
        ActivityRestriction.objects.filter(patient=q.patient)
        .annotate(end=Coalesce("lifted_on", "ends_on"))
        .filter(q.days_in_range("starts_on") | q.days_in_range("end"))
    )
    events = []
    for r in rows:
        name = _label(r.activity)
        limit = (
            f" over {r.limit_value.normalize():f} {r.limit_unit}"
            if r.limit_value is not None
            else ""
        )
        if q.since is None or q.since <= r.starts_on <= q.until:
            events.append(
                TimelineEvent(
                    at=q.day_start(r.starts_on),
                    day=r.starts_on,
                    type="restriction",
                    title=f"Restriction starts: no {name}{limit}",
                    detail=r.instructions[:200],
                    status="start",
                    record_id=r.pk,
                    url_name="admin:recovery_activityrestriction_change",
                )
            )
        end = r.end
        if end and (q.since is None or q.since <= end) and end <= q.until:
            how = "lifted" if r.lifted_on else "ends"
            events.append(
                TimelineEvent(
                    at=q.day_start(end) + timedelta(hours=23, minutes=59),
                    day=end,
                    type="restriction",
                    title=f"Restriction {how}: {name}",
                    status="end",
                    record_id=r.pk,
                    url_name="admin:recovery_activityrestriction_change",
                )
            )
    return events


@register_event_source("medication", "Medications started and stopped")
def _medication_events(q: TimelineQuery) -> list[TimelineEvent]:
    rows = Medication.objects.filter(
        q.days_in_range("started_on") | q.days_in_range("stopped_on"), patient=q.patient
    ).values_list("pk", "name", "dose", "started_on", "stopped_on")
    events = []
    for pk, name, dose, started_on, stopped_on in rows:
        for day, what, status in ((started_on, "started", "start"), (stopped_on, "stopped", "end")):
            if day is None or not (q.since is None or q.since <= day) or day > q.until:
                continue
            events.append(
                TimelineEvent(
                    at=q.day_start(day)
                    + (timedelta(hours=23, minutes=59) if status == "end" else timedelta()),
                    day=day,
                    type="medication",
                    title=f"Medication {what}: {name}",
                    detail=dose,
                    status=status,
                    record_id=pk,
                    url_name="admin:recovery_medication_change",
                )
            )
    return events
