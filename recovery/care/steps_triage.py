"""Triage of daily steps: a patient walking far below their expected recovery curve for several
days in a row is flagged to the care team, with the alert lifecycle of every red flag
(``recovery.care.alerts``: one unresolved alert per cause, the care team told after commit,
escalation when not acknowledged).

The rule is data (``TriageRule``, source ``steps_curve``, default key ``steps-below-curve``):
a day counts as low when its steps are below ``threshold`` percent of the steps expected that
day (the pre-operative baseline times the expected curve, ``recovery.activity.selectors``);
``count`` low days in a row (calendar days, each with a count: a day the phone did not send
breaks the run, as it says nothing of the walking) raise the alert. Judged when steps arrive
(the write hook in ``care/kinds.py``), for the post-operative days 1 to ``TRIAGE_UNTIL_DAY``,
and only for a run that ends within the last ``RECENT_DAYS`` days of the patient's today (a
history backfilled from months ago is no news for the care team). No baseline, no surgery, no
alert.
"""

from __future__ import annotations

from datetime import timedelta

from recovery.activity.models import DailySteps
from recovery.activity.selectors import expected_fraction, steps_baseline
from recovery.record.selectors import current_surgery, patient_today

from .alerts import Triage, alert_open, rules_for
from .models import TriageRule

TRIAGE_UNTIL_DAY = 90  # the expected curve is back at baseline by day 84
RECENT_DAYS = 7


def _low_runs(days: dict, rule: TriageRule, surgery_on, baseline) -> list[list]:
    """Runs of at least ``rule.count`` consecutive low days, as lists of (day, steps, percent
    of expected)."""
    runs, run, previous = [], [], None
    for day in sorted(days):
        pod = (day - surgery_on).days
        fraction = expected_fraction(pod) if 1 <= pod <= TRIAGE_UNTIL_DAY else None
        low = None
        if fraction is not None:
            expected = baseline.steps * fraction
            percent = days[day] / expected * 100 if expected > 0 else None
            if percent is not None and percent < float(rule.threshold):
                low = (day, days[day], percent)
        if low is None or (previous is not None and day - previous != timedelta(days=1)):
            if len(run) >= rule.count:
                runs.append(run)
            run = []
        if low is not None:
            run.append(low)
        previous = day
    if len(run) >= rule.count:
        runs.append(run)
    return runs


def triage_daily_steps(*, rows: list[DailySteps]) -> Triage:
    """Judges newly written days of steps (many at once: a sync push) against the rule. A few
    queries per patient whatever the number of days: the rules, the current surgery, the
    baseline, the days around those written, and one ``alert_open`` per rule that fires."""
    by_patient: dict[int, list[DailySteps]] = {}
    for row in rows:
        by_patient.setdefault(row.patient_id, []).append(row)
    alerts = []
    for written in by_patient.values():
        patient = written[0].patient
        rules = [
            r
            for r in rules_for(patient.clinic_id).values()
            if r.source == TriageRule.Source.STEPS_CURVE and r.threshold is not None and r.count
        ]
        if not rules:
            continue
        surgery = current_surgery(patient=patient)
        if surgery is None:
            continue
        surgery_on = surgery.performed_on
        recent_from = patient_today(patient) - timedelta(days=RECENT_DAYS)
        days_written = [
            r.day
            for r in written
            if r.day >= recent_from and 1 <= (r.day - surgery_on).days <= TRIAGE_UNTIL_DAY
        ]
        if not days_written:
            continue
        baseline = steps_baseline(patient=patient, surgery=surgery)
        if baseline is None or baseline.steps <= 0:
            continue
        deepest = max(r.count for r in rules)
        first = min(days_written) - timedelta(days=deepest - 1)
        last = max(days_written) + timedelta(days=deepest - 1)
        days = dict(
            DailySteps.objects.filter(patient=patient, day__gte=first, day__lte=last).values_list(
                "day", "steps"
            )
        )
        written_set = set(days_written)
        for rule in rules:
            for run in _low_runs(days, rule, surgery_on, baseline):
                if run[-1][0] < recent_from or not written_set & {d for d, _, _ in run}:
                    continue
                detail = "; ".join(
                    f"{day}: {steps} steps ({percent:.0f}% of expected)"
                    for day, steps, percent in run[-rule.count :]
                )
                source = next(r for r in written if r.day in {d for d, _, _ in run})
                alerts.append(
                    alert_open(
                        patient=patient,
                        rule=rule,
                        source_table="daily_steps",
                        source_id=source.pk,
                        detail=f"Baseline {baseline.steps:.0f} steps/day; {detail}"[:2000],
                    )
                )
                break  # one alert per rule (alert_open returns the unresolved one anyway)
    return Triage(alerts=alerts)
