"""Reads behind the patient timeline of the admin (design.md section 7).

One screen per patient: a header (surgery, post-op day, stay, restrictions, next appointment,
overdue items), daily pain statistics for the chart, and the events in time order. Every read
runs a fixed number of queries whatever the length of the history: pain is aggregated in SQL
(one row per local day and location), each event source is one query, and nothing is loaded per
row. Callers have already looked the patient up through their scope
(``accounts.selectors.patients_for``); these functions read that one patient's record.

Days are the patient's local days (``PatientProfile.time_zone``).

Extension point: ``EVENT_SOURCES`` lists the callables that produce events. Each takes a
``TimelineQuery`` and returns a list of ``TimelineEvent``; each must run one query (or a fixed
number). When the reminders app lands, add a source for reminders sent (``recovery`` may import
``reminders``; the reverse is not allowed) with ``register_event_source("reminder", "Reminders")``.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db.models import Avg, Count, F, FloatField, Max, Min, Q
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from accounts.models import PatientProfile

from ..models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    PTStatus,
    Surgery,
)
from .records import current_surgery

DEFAULT_WINDOW_DAYS = 90
OVERDUE_LIMIT = 10


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime  # aware; orders the events
    day: date  # the patient's local day
    type: str  # a key of EVENT_SOURCES
    title: str
    detail: str = ""
    status: str = ""
    record_id: str = ""
    url_name: str = ""  # admin URL name of the record's change page, if it has one


@dataclass(frozen=True)
class PainDay:
    day: date
    location: str
    mean: float
    low: int
    high: int
    count: int
    medicated: int


@dataclass
class TimelineQuery:
    patient: PatientProfile
    since: date | None  # first local day shown (None: from the start of the record)
    until: date  # last local day shown

    @property
    def tz(self):
        return self.patient.tz

    @property
    def start(self) -> datetime | None:
        if self.since is None:
            return None
        return datetime.combine(self.since, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=self.tz)

    def in_range(self, lookup: str) -> Q:
        q = Q(**{f"{lookup}__lt": self.end})
        if self.start is not None:
            q &= Q(**{f"{lookup}__gte": self.start})
        return q

    def days_in_range(self, lookup: str) -> Q:
        q = Q(**{f"{lookup}__lte": self.until})
        if self.since is not None:
            q &= Q(**{f"{lookup}__gte": self.since})
        return q

    def local_day(self, value: datetime) -> date:
        return timezone.localtime(value, self.tz).date()

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.tz)

    @cached_property
    def pain_days(self) -> list[PainDay]:
        return pain_daily_stats(patient=self.patient, since=self.since, until=self.until)


EventSource = Callable[[TimelineQuery], list[TimelineEvent]]


@dataclass(frozen=True)
class SourceInfo:
    label: str
    source: EventSource


EVENT_SOURCES: dict[str, SourceInfo] = {}


def register_event_source(type_name: str, label: str):
    """Adds an event source to every timeline (decorator)."""

    def register(fn: EventSource) -> EventSource:
        EVENT_SOURCES[type_name] = SourceInfo(label, fn)
        return fn

    return register


def event_types() -> list[tuple[str, str]]:
    return [(name, info.label) for name, info in EVENT_SOURCES.items()]


# --- pain, aggregated in SQL ---------------------------------------------------------------------


def pain_daily_stats(*, patient: PatientProfile, since: date | None, until: date) -> list[PainDay]:
    """Mean, min, max and count of live pain logs per local day and location (one query)."""
    q = TimelineQuery(patient=patient, since=since, until=until)
    rows = (
        PainLog.objects.filter(q.in_range("recorded_at"), patient=patient)
        .annotate(day=TruncDate("recorded_at", tzinfo=patient.tz))
        .values("day", "location")
        .annotate(
            # A float from the database: numeric would be converted row by row in Python.
            mean=Cast(Avg("intensity"), FloatField()),
            low=Min("intensity"),
            high=Max("intensity"),
            count=Count("id"),
            medicated=Count("id", filter=Q(medication_taken=True)),
        )
        .order_by("day", "location")
        .values_list("day", "location", "mean", "low", "high", "count", "medicated")
    )
    return [PainDay(*row) for row in rows]


def pain_trend(pain_days: list[PainDay], *, window: int = 7) -> list[tuple[date, float]]:
    """Trailing ``window``-day mean over all locations, weighted by the number of logs, for
    each day that has logs."""
    totals: dict[date, list[float]] = defaultdict(lambda: [0.0, 0])
    for p in pain_days:
        totals[p.day][0] += p.mean * p.count
        totals[p.day][1] += p.count
    days = sorted(totals)
    trend = []
    lo = 0
    running_sum, running_n = 0.0, 0
    for day in days:
        running_sum += totals[day][0]
        running_n += totals[day][1]
        while days[lo] <= day - timedelta(days=window):
            running_sum -= totals[days[lo]][0]
            running_n -= totals[days[lo]][1]
            lo += 1
        if running_n:
            trend.append((day, round(running_sum / running_n, 2)))
    return trend


# --- event sources ---------------------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("_", " ")


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
            los = s.length_of_stay
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
        events.append(
            TimelineEvent(
                # End of the local day: a day's summary sorts after that day's other events.
                at=q.day_start(day + timedelta(days=1)) - timedelta(microseconds=1),
                day=day,
                type="pain",
                title=f"Pain {mean:.1f}/10 average, {count} log{'s' if count != 1 else ''}",
                detail=parts + (f"; medication taken {medicated}x" if medicated else ""),
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
            "pk", "when", "status", "setting", "duration_minutes", "pain_before", "pain_after",
            "exercises",
        )
    )
    events = []
    for pk, when, status, setting, minutes, before, after, exercises in rows:
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
        "pk", "starts_at", "purpose", "status", "location", "imaging",
        "clinician__first_name", "clinician__last_name", "clinician__email",
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
                    for x in [clinician, location, f"imaging {imaging}" if imaging != "none" else ""]
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
    rows = ActivityRestriction.objects.filter(patient=q.patient).annotate(
        end=Coalesce("lifted_on", "ends_on")
    ).filter(q.days_in_range("starts_on") | q.days_in_range("end"))
    events = []
    for r in rows:
        name = _label(r.activity)
        limit = f" over {r.limit_value.normalize():f} {r.limit_unit}" if r.limit_value is not None else ""
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


# --- the whole timeline ----------------------------------------------------------------------


@dataclass
class Timeline:
    query: TimelineQuery
    types: list[str]
    events: list[TimelineEvent]
    pain_days: list[PainDay]
    trend: list[tuple[date, float]]
    surgeries: list[TimelineEvent] = field(default_factory=list)
    appointments: list[TimelineEvent] = field(default_factory=list)


def patient_today(patient: PatientProfile) -> date:
    return timezone.localdate(timezone=patient.tz)


def timeline_for_patient(
    *,
    patient: PatientProfile,
    since: date | None = None,
    until: date | None = None,
    types: list[str] | None = None,
    newest_first: bool = True,
) -> Timeline:
    """Events of one patient between two local days (inclusive), of the given types (all by
    default). Runs one query per event source plus one for pain, whatever the history length.
    The chart's surgery and appointment markers are read whatever ``types`` says."""
    until = until or patient_today(patient)
    q = TimelineQuery(patient=patient, since=since, until=until)
    wanted = [t for t in (types or EVENT_SOURCES) if t in EVENT_SOURCES]
    by_type = {name: info.source(q) for name, info in EVENT_SOURCES.items()}
    events = [e for name in wanted for e in by_type[name]]
    events.sort(key=lambda e: (e.at, e.type), reverse=newest_first)
    return Timeline(
        query=q,
        types=wanted,
        events=events,
        pain_days=q.pain_days,
        trend=pain_trend(q.pain_days),
        surgeries=sorted(by_type.get("surgery", []), key=lambda e: e.at),
        appointments=sorted(by_type.get("appointment", []), key=lambda e: e.at),
    )


# --- the header ------------------------------------------------------------------------------


@dataclass
class ActiveRestriction:
    restriction: ActivityRestriction
    days_left: int | None  # None: until the surgeon lifts it


@dataclass
class TimelineHeader:
    patient: PatientProfile
    today: date
    age: int
    surgery: Surgery | None
    post_op_day: int | None
    stay: HospitalStay | None
    length_of_stay: int | None
    inpatient_days: int | None
    restrictions: list[ActiveRestriction]
    next_appointment: Appointment | None
    overdue_appointments: list[Appointment]
    overdue_milestones: list[Milestone]
    overdue_pt_sessions: list[PTSession]

    @property
    def revision_reasons(self) -> list[str]:
        return [_label(r) for r in self.surgery.revision_reasons] if self.surgery else []

    @property
    def alerts(self) -> int:
        return (
            len(self.overdue_appointments)
            + len(self.overdue_milestones)
            + len(self.overdue_pt_sessions)
        )


def timeline_header(
    *, patient: PatientProfile, today: date | None = None, now: datetime | None = None
) -> TimelineHeader:
    """The summary above the chart (a fixed seven queries)."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, timezone=patient.tz)
    surgery = current_surgery(patient=patient, related=("prior_surgery", "surgeon"))
    stays = HospitalStay.objects.filter(patient=patient)
    if surgery is not None:
        stays = stays.filter(surgery=surgery)
    stay = stays.order_by("-admitted_at").first()
    inpatient_days = None
    if stay is not None and stay.discharged_at is None:
        inpatient_days = (today - timezone.localtime(stay.admitted_at, patient.tz).date()).days
    active = (
        ActivityRestriction.objects.filter(patient=patient, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .filter(Q(lifted_on__isnull=True) | Q(lifted_on__gt=today))
        .order_by(F("ends_on").asc(nulls_last=True), "activity")
    )
    next_appt = (
        Appointment.objects.filter(
            patient=patient, status=AppointmentStatus.SCHEDULED, starts_at__gte=now
        )
        .select_related("clinician")
        .order_by("starts_at")
        .first()
    )
    overdue_appts = list(
        Appointment.objects.filter(
            patient=patient, status=AppointmentStatus.SCHEDULED, starts_at__lt=now
        ).order_by("starts_at")[:OVERDUE_LIMIT]
    )
    overdue_milestones = list(
        Milestone.objects.filter(
            patient=patient, achieved_on__isnull=True, target_on__lt=today
        ).order_by("target_on")[:OVERDUE_LIMIT]
    )
    overdue_pt = list(
        PTSession.objects.filter(
            patient=patient, status=PTStatus.PLANNED, scheduled_for__lt=now
        ).order_by("scheduled_for")[:OVERDUE_LIMIT]
    )
    return TimelineHeader(
        patient=patient,
        today=today,
        age=patient.age_on(today),
        surgery=surgery,
        post_op_day=(today - surgery.performed_on).days if surgery else None,
        stay=stay,
        length_of_stay=stay.length_of_stay if stay else None,
        inpatient_days=inpatient_days,
        restrictions=[
            ActiveRestriction(r, (r.ends_on - today).days if r.ends_on else None) for r in active
        ],
        next_appointment=next_appt,
        overdue_appointments=overdue_appts,
        overdue_milestones=overdue_milestones,
        overdue_pt_sessions=overdue_pt,
    )


from . import timeline_care  # noqa: F401 - registers the care event sources
