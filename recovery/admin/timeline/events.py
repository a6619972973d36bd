"""The timeline's values, its query, the registry of event sources and the pain statistics."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db.models import Avg, Count, FloatField, Max, Min, Q
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from accounts.models import PatientProfile, Role
from recovery.record.models import (
    PainLog,
)

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
    image_url: str = ""  # a signed URL of a picture to show with the event (wound photos)


@dataclass(frozen=True)
class PainDay:
    day: date
    location: str
    mean: float
    low: int
    high: int
    count: int
    medicated: int
    by_caregiver: int = 0  # logs a caregiver entered on the patient's behalf


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
            by_caregiver=Count("id", filter=Q(created_by__role=Role.CAREGIVER)),
        )
        .order_by("day", "location")
        .values_list("day", "location", "mean", "low", "high", "count", "medicated", "by_caregiver")
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
