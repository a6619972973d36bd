"""Reads behind the patient timeline of the admin (design.md section 7).

One screen per patient: a banner of the open alerts (most urgent first, with their escalation
state), a header (surgery, post-op day, every hospital stay of that surgery, restrictions, next
appointment, overdue items, which are not alerts), daily pain statistics for the chart, and the events in time order. Every read
runs a fixed number of queries whatever the length of the history: pain is aggregated in SQL
(one row per local day and location), each event source is one query, and nothing is loaded per
row. Callers have already looked the patient up through their scope
(``accounts.selectors.patients_for``); these functions read that one patient's record.

Days are the patient's local days (``PatientProfile.time_zone``).

The package: ``events`` (values, the query, the registry of event sources, pain statistics),
``record_sources`` and ``care_sources`` (one function per event type, each one query, registered
with ``register_event_source``), and this module, which builds the timeline and its header.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from accounts.models import PatientProfile
from recovery.care.models import Alert, AlertStatus, Tier
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Milestone,
    PTSession,
    PTStatus,
    Surgery,
)
from recovery.record.selectors import current_surgery

from . import (  # noqa: F401 - register the event sources
    care_sources,
    photo_sources,
    record_sources,
    sync_sources,
)
from .events import (
    EVENT_SOURCES,
    OVERDUE_LIMIT,
    PainDay,
    TimelineEvent,
    TimelineQuery,
    _label,
    pain_trend,
)

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


@dataclass(frozen=True)
class StayLine:
    """One hospital stay of the current surgery: the first is the index stay, later ones are
    readmissions."""

    stay: HospitalStay
    readmission: int  # 0: the index stay; 1, 2, ...: the first, second readmission
    length_of_stay: int | None  # nights (None while inpatient)
    inpatient_days: int | None  # days since admission while inpatient

    @property
    def label(self) -> str:
        return "Index stay" if self.readmission == 0 else f"Readmission {self.readmission}"


@dataclass
class TimelineHeader:
    patient: PatientProfile
    today: date
    age: int
    surgery: Surgery | None
    post_op_day: int | None
    stays: list[StayLine]
    restrictions: list[ActiveRestriction]
    next_appointment: Appointment | None
    overdue_appointments: list[Appointment]
    overdue_milestones: list[Milestone]
    overdue_pt_sessions: list[PTSession]

    @property
    def revision_reasons(self) -> list[str]:
        return [_label(r) for r in self.surgery.revision_reasons] if self.surgery else []

    @property
    def overdue_count(self) -> int:
        """How many appointments, milestones and PT sessions are overdue. These are not alerts:
        open alerts are read apart (``alert_banner``) and shown above everything."""
        return (
            len(self.overdue_appointments)
            + len(self.overdue_milestones)
            + len(self.overdue_pt_sessions)
        )


def timeline_header(
    *, patient: PatientProfile, today: date | None = None, now: datetime | None = None
) -> TimelineHeader:
    """The summary beside the chart (a fixed seven queries). Every hospital stay of the current
    surgery is listed (the index stay and each readmission), oldest first; with no surgery
    recorded, every stay of the patient."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, timezone=patient.tz)
    surgery = current_surgery(patient=patient, related=("prior_surgery", "surgeon"))
    stays = HospitalStay.objects.filter(patient=patient)
    if surgery is not None:
        stays = stays.filter(surgery=surgery)
    stay_lines = [
        StayLine(
            stay=stay,
            readmission=n,
            length_of_stay=stay.nights_in(patient.tz),
            inpatient_days=(
                (today - timezone.localtime(stay.admitted_at, patient.tz).date()).days
                if stay.discharged_at is None
                else None
            ),
        )
        for n, stay in enumerate(stays.order_by("admitted_at"))
    ]
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
        stays=stay_lines,
        restrictions=[
            ActiveRestriction(r, (r.ends_on - today).days if r.ends_on else None) for r in active
        ],
        next_appointment=next_appt,
        overdue_appointments=overdue_appts,
        overdue_milestones=overdue_milestones,
        overdue_pt_sessions=overdue_pt,
    )


# --- the alert banner --------------------------------------------------------------------------

TIER_ORDER = list(Tier.values)  # emergency, same day, within 24 hours


def tier_name(tier: str) -> str:
    """The short name of a tier ("Emergency", "Same day", "Within 24 hours")."""
    return Tier(tier).label.split(":")[0]


def duration_text(delta: timedelta) -> str:
    """``3 d 4 h``, ``2 h 5 min``, ``12 min`` (never negative)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@dataclass(frozen=True)
class AlertLine:
    """An unresolved alert as the banner shows it: its tier and how far it is along the
    escalation path (open and waiting, past its acknowledgement deadline, escalated to the
    surgeon, acknowledged by whom)."""

    alert: Alert
    now: datetime

    @property
    def tier(self) -> str:
        return self.alert.tier

    @property
    def tier_name(self) -> str:
        return tier_name(self.alert.tier)

    @property
    def open_for(self) -> str:
        return duration_text(self.now - self.alert.opened_at)

    @property
    def acknowledged(self) -> bool:
        return self.alert.status == AlertStatus.ACKNOWLEDGED

    @property
    def state(self) -> str:
        """``acknowledged``, ``escalated``, ``overdue`` (past the deadline, escalation under
        way) or ``waiting``."""
        a = self.alert
        if self.acknowledged:
            return "acknowledged"
        if a.escalated_at is not None:
            return "escalated"
        if a.acknowledge_by <= self.now:
            return "overdue"
        return "waiting"

    @property
    def time_left(self) -> str:
        return duration_text(self.alert.acknowledge_by - self.now)

    @property
    def acknowledged_after(self) -> str:
        a = self.alert
        return duration_text(a.acknowledged_at - a.opened_at) if a.acknowledged_at else ""


def alert_lines(alerts: list[Alert], *, now: datetime | None = None) -> list[AlertLine]:
    """Unresolved alerts in the order the banner shows them: by tier (emergency first), then
    the longest open first. No query (the alerts come with ``acknowledged_by`` joined)."""
    now = now or timezone.now()
    unresolved = [a for a in alerts if a.status != AlertStatus.RESOLVED]
    unresolved.sort(key=lambda a: (TIER_ORDER.index(a.tier), a.opened_at))
    return [AlertLine(alert=a, now=now) for a in unresolved]
