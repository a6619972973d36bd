"""Reads behind the care team's dashboard, the admin's index page (``/admin/``).

What needs the care team now, across the patients in the user's scope
(``accounts.selectors.patients_for``): unresolved alerts grouped by tier (emergency first) with
their escalation state, patients with overdue items (appointments still scheduled after their
time, milestones past target, planned PT sessions in the past; these are not alerts), and the
outcome scores completed in the last ``NEW_SCORES_DAYS`` days with their change from baseline.

A fixed number of queries whatever the number of patients: every section is one query (counts
are aggregates, overdue items are subquery counts per patient), and each list is capped.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.selectors import patients_for
from recovery.care.models import Alert, AlertStatus
from recovery.outcomes.models import OutcomeScore
from recovery.outcomes.scoring import score_band
from recovery.outcomes.selectors import OutcomeChange, outcome_changes_for
from recovery.record.models import (
    Appointment,
    AppointmentStatus,
    Milestone,
    PTSession,
    PTStatus,
)

from .timeline import TIER_ORDER, AlertLine, alert_lines, tier_name

ALERTS_LIMIT = 100  # alert lines shown (the tier counts are exact)
OVERDUE_LIMIT = 50  # patients with overdue items shown
NEW_SCORES_DAYS = 7  # "new" outcome scores: completed in the last week
NEW_SCORES_LIMIT = 50


@dataclass
class TierGroup:
    tier: str
    name: str
    alerts: int  # unresolved alerts of this tier in scope
    patients: int  # patients with one
    lines: list[AlertLine] = field(default_factory=list)  # the first ``ALERTS_LIMIT`` overall


@dataclass(frozen=True)
class OverduePatient:
    patient: PatientProfile
    appointments: int
    milestones: int
    pt_sessions: int

    @property
    def total(self) -> int:
        return self.appointments + self.milestones + self.pt_sessions


@dataclass(frozen=True)
class NewScore:
    score: OutcomeScore
    band: str | None
    change: OutcomeChange | None  # this time point's change from baseline, if it is a follow-up


@dataclass
class CareDashboard:
    now: datetime
    scores_since: datetime
    tiers: list[TierGroup]
    overdue: list[OverduePatient]
    overdue_patients: int  # patients with anything overdue (the list shows ``OVERDUE_LIMIT``)
    scores: list[NewScore]
    scores_total: int

    @property
    def open_alerts(self) -> int:
        return sum(t.alerts for t in self.tiers)

    def patient_ids(self) -> set[int]:
        """Every patient the page names (for the PHI access log)."""
        ids = {line.alert.patient_id for t in self.tiers for line in t.lines}
        ids |= {o.patient.pk for o in self.overdue}
        ids |= {s.score.patient_id for s in self.scores}
        return ids


def _count_per_patient(qs: QuerySet) -> Coalesce:
    """The number of rows of ``qs`` belonging to the outer patient row (a subquery)."""
    counted = (
        qs.filter(patient=OuterRef("pk"))
        .order_by()
        .values("patient")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _milestones_past_target(scope: QuerySet[PatientProfile], now: datetime) -> Q:
    """Past target in each patient's own local day: one term per time zone in scope."""
    zones = scope.order_by().values_list("time_zone", flat=True).distinct()
    terms = Q(pk__in=[])
    for zone in zones:
        today = timezone.localdate(now, timezone=zoneinfo.ZoneInfo(zone))
        terms |= Q(patient__time_zone=zone, target_on__lt=today)
    return terms


def care_dashboard(*, user: User, now: datetime | None = None) -> CareDashboard:
    """What needs the care team, over the patients ``user`` may see (nine queries at most)."""
    now = now or timezone.now()
    scope = patients_for(user)
    in_scope = Q(patient__in=scope.values("pk"))
    unresolved = Alert.objects.filter(in_scope).exclude(status=AlertStatus.RESOLVED)

    counts = {
        row["tier"]: row
        for row in unresolved.order_by()
        .values("tier")
        .annotate(alerts=Count("pk"), patients=Count("patient", distinct=True))
    }
    rank = Case(
        *(When(tier=t, then=Value(n)) for n, t in enumerate(TIER_ORDER)),
        output_field=IntegerField(),
    )
    shown = list(
        unresolved.select_related("patient__user", "acknowledged_by").order_by(rank, "opened_at")[
            :ALERTS_LIMIT
        ]
    )
    groups = {
        t: TierGroup(
            tier=t,
            name=tier_name(t),
            alerts=counts.get(t, {}).get("alerts", 0),
            patients=counts.get(t, {}).get("patients", 0),
        )
        for t in TIER_ORDER
    }
    for line in alert_lines(shown, now=now):
        groups[line.tier].lines.append(line)

    overdue_qs = (
        scope.annotate(
            n_appointments=_count_per_patient(
                Appointment.objects.filter(status=AppointmentStatus.SCHEDULED, starts_at__lt=now)
            ),
            n_milestones=_count_per_patient(
                Milestone.objects.filter(achieved_on__isnull=True).filter(
                    _milestones_past_target(scope, now)
                )
            ),
            n_pt=_count_per_patient(
                PTSession.objects.filter(status=PTStatus.PLANNED, scheduled_for__lt=now)
            ),
        )
        .annotate(n_total=F("n_appointments") + F("n_milestones") + F("n_pt"))
        .filter(n_total__gt=0)
        .order_by("-n_total", "user__last_name", "user__first_name", "pk")
    )
    overdue = [
        OverduePatient(p, p.n_appointments, p.n_milestones, p.n_pt)
        for p in overdue_qs.select_related("user")[:OVERDUE_LIMIT]
    ]
    overdue_patients = len(overdue) if len(overdue) < OVERDUE_LIMIT else overdue_qs.count()

    since = now - timedelta(days=NEW_SCORES_DAYS)
    recent = OutcomeScore.objects.filter(in_scope, completed_at__gte=since)
    scores = list(
        recent.select_related("patient__user").order_by("-completed_at")[:NEW_SCORES_LIMIT]
    )
    scores_total = len(scores) if len(scores) < NEW_SCORES_LIMIT else recent.count()
    changes = (
        outcome_changes_for({s.patient_id: s.patient for s in scores}.values()) if scores else {}
    )
    new_scores = [
        NewScore(
            score=s,
            band=score_band(s.instrument, s.score),
            change=next(
                (
                    c
                    for c in changes.get(s.patient_id, [])
                    if c.instrument == s.instrument and c.timepoint == s.timepoint
                ),
                None,
            ),
        )
        for s in scores
    ]
    return CareDashboard(
        now=now,
        scores_since=since,
        tiers=list(groups.values()),
        overdue=overdue,
        overdue_patients=overdue_patients,
        scores=new_scores,
        scores_total=scores_total,
    )
