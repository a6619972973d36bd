"""Reads of daily steps: the pre-operative baseline, and each day after surgery against it and
against the expected recovery curve (``docs/clinical-defaults.md``, "Daily steps").

The baseline is the median of the patient's daily steps over the ``BASELINE_DAYS`` days before
the day of surgery (the day itself excluded: it is spent in hospital). With fewer than
``BASELINE_MIN_DAYS`` days counted in that window there is no baseline: no percentages, no
expected curve for this patient and no steps triage (a median of two days says nothing of a
patient's usual walking).

The expected curve is the fraction of baseline a patient typically walks on post-operative day
N after lumbar fusion: about 30% in week 1 (a fall of about 70%), 63% in week 2, 77% in week 4,
back at baseline by week 12. Between the anchors it is a straight line; from the last anchor on
it stays at 100%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from statistics import median

from accounts.models import PatientProfile
from recovery.record.models import Surgery

from .models import DailySteps

BASELINE_DAYS = 14
BASELINE_MIN_DAYS = 7

# (post-operative day, expected fraction of the pre-operative baseline). Sources and reasoning:
# docs/clinical-defaults.md ("Daily steps"). Stienen et al. 2020: -71% in week 1, -37% in week
# 2, -23% in week 4, recovery over the first eight weeks.
EXPECTED_CURVE: tuple[tuple[int, float], ...] = (
    (1, 0.29),
    (7, 0.29),
    (14, 0.63),
    (28, 0.77),
    (56, 0.90),
    (84, 1.00),
)


def expected_fraction(post_op_day: int) -> float | None:
    """The fraction of baseline expected on ``post_op_day`` (None before day 1: no curve)."""
    if post_op_day < EXPECTED_CURVE[0][0]:
        return None
    for (day_a, frac_a), (day_b, frac_b) in pairwise(EXPECTED_CURVE):
        if post_op_day <= day_b:
            return frac_a + (frac_b - frac_a) * (post_op_day - day_a) / (day_b - day_a)
    return EXPECTED_CURVE[-1][1]


@dataclass(frozen=True)
class Baseline:
    steps: float  # the median
    days: int  # days counted in the window
    first: date
    last: date


def baseline_from(rows: list[tuple[date, int]], surgery_on: date) -> Baseline | None:
    """The baseline of ``(day, steps)`` rows (any days: those outside the window are
    ignored)."""
    first, last = surgery_on - timedelta(days=BASELINE_DAYS), surgery_on - timedelta(days=1)
    window = [steps for day, steps in rows if first <= day <= last]
    if len(window) < BASELINE_MIN_DAYS:
        return None
    return Baseline(steps=float(median(window)), days=len(window), first=first, last=last)


def steps_baseline(*, patient: PatientProfile, surgery: Surgery | None) -> Baseline | None:
    """The pre-operative baseline of the patient for ``surgery`` (one query)."""
    if surgery is None:
        return None
    first = surgery.performed_on - timedelta(days=BASELINE_DAYS)
    rows = list(
        DailySteps.objects.filter(
            patient=patient, day__gte=first, day__lt=surgery.performed_on
        ).values_list("day", "steps")
    )
    return baseline_from(rows, surgery.performed_on)


@dataclass(frozen=True)
class StepsDay:
    day: date
    steps: int
    post_op_day: int | None
    percent: float | None  # of the baseline
    expected_percent: float | None  # of the baseline, from the expected curve


@dataclass(frozen=True)
class StepsCurve:
    baseline: Baseline | None
    surgery_on: date | None
    days: list[StepsDay]

    def expected_line(self, since: date, until: date) -> list[tuple[date, float]]:
        """The expected curve as (day, percent of baseline) for the post-operative days in
        ``[since, until]`` (empty without a baseline)."""
        if self.baseline is None or self.surgery_on is None:
            return []
        start = max(since, self.surgery_on + timedelta(days=1))
        line = []
        day = start
        while day <= until:
            fraction = expected_fraction((day - self.surgery_on).days)
            if fraction is not None:
                line.append((day, round(fraction * 100, 1)))
            day += timedelta(days=1)
        return line


def curve_days(
    rows: list[tuple[date, int]], *, surgery_on: date | None, baseline: Baseline | None
) -> list[StepsDay]:
    days = []
    for day, steps in rows:
        pod = (day - surgery_on).days if surgery_on else None
        percent = expected = None
        if baseline is not None and baseline.steps > 0:
            percent = round(steps / baseline.steps * 100, 1)
            fraction = expected_fraction(pod) if pod is not None else None
            expected = round(fraction * 100, 1) if fraction is not None else None
        days.append(StepsDay(day, steps, pod, percent, expected))
    return days


def steps_curve(
    *,
    patient: PatientProfile,
    surgery: Surgery | None,
    since: date | None,
    until: date,
) -> StepsCurve:
    """The patient's daily steps in ``[since, until]`` in day order, each as a percentage of the
    baseline with the expected percentage beside it. Two queries (the baseline, the days)."""
    baseline = steps_baseline(patient=patient, surgery=surgery)
    rows = DailySteps.objects.filter(patient=patient, day__lte=until)
    if since is not None:
        rows = rows.filter(day__gte=since)
    surgery_on = surgery.performed_on if surgery else None
    return StepsCurve(
        baseline=baseline,
        surgery_on=surgery_on,
        days=curve_days(
            list(rows.order_by("day").values_list("day", "steps")),
            surgery_on=surgery_on,
            baseline=baseline,
        ),
    )
