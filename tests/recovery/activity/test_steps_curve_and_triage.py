"""The pre-operative baseline, the recovery curve against it, and the steps triage rule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.activity.selectors import (
    BASELINE_MIN_DAYS,
    EXPECTED_CURVE,
    baseline_from,
    expected_fraction,
    steps_baseline,
    steps_curve,
)
from recovery.activity.services import daily_steps_put
from recovery.care.alerts import alert_resolve
from recovery.models import Alert, TriageRule
from tests import factories

pytestmark = pytest.mark.django_db


def _today(patient):
    return timezone.localdate(timezone=patient.tz)


def _surgery(patient, surgeon, days_ago):
    return factories.surgery(
        patient, surgeon, performed_on=_today(patient) - timedelta(days=days_ago)
    )


def _steps(patient, rows):
    """``rows``: (day, steps); written as the phone would push them, in one batch."""
    result = daily_steps_put(
        actor=patient.user,
        patient=patient,
        items=[(None, {"day": day, "steps": steps}) for day, steps in rows],
    )
    assert not result.refused, result.refused
    return result


def test_expected_curve_falls_about_70_percent_in_week_one_and_recovers():
    assert expected_fraction(0) is None  # the day of surgery has no expectation
    assert expected_fraction(3) == pytest.approx(0.29)
    assert expected_fraction(14) == pytest.approx(0.63)
    assert expected_fraction(21) == pytest.approx((0.63 + 0.77) / 2)
    assert expected_fraction(84) == 1.0 and expected_fraction(400) == 1.0
    fractions = [expected_fraction(d) for d in range(1, 100)]
    assert fractions == sorted(fractions)  # never falls after the first week
    assert EXPECTED_CURVE[0][1] == pytest.approx(1 - 0.71)


def test_baseline_is_the_median_of_the_14_days_before_surgery():
    surgery_on = timezone.localdate()
    rows = [(surgery_on - timedelta(days=n), 1000 * n) for n in range(1, 15)]
    rows += [(surgery_on, 99_999), (surgery_on - timedelta(days=15), 99_999)]  # outside
    baseline = baseline_from(rows, surgery_on)
    assert baseline.days == 14
    assert baseline.steps == 7500  # median of 1000..14000


def test_no_baseline_with_fewer_than_seven_days():
    surgery_on = timezone.localdate()
    rows = [(surgery_on - timedelta(days=n), 5000) for n in range(1, BASELINE_MIN_DAYS)]
    assert baseline_from(rows, surgery_on) is None
    rows.append((surgery_on - timedelta(days=BASELINE_MIN_DAYS), 5000))
    assert baseline_from(rows, surgery_on).steps == 5000


def test_curve_gives_each_day_as_percent_of_baseline_with_the_expected(
    patient, surgeon, django_assert_num_queries
):
    surgery = _surgery(patient, surgeon, days_ago=10)
    on = surgery.performed_on
    _steps(patient, [(on - timedelta(days=n), 6000) for n in range(1, 15)])
    _steps(patient, [(on + timedelta(days=3), 1500), (on + timedelta(days=7), 3000)])
    with django_assert_num_queries(2):
        curve = steps_curve(patient=patient, surgery=surgery, since=on, until=_today(patient))
    assert curve.baseline.steps == 6000
    assert [(d.post_op_day, d.percent, d.expected_percent) for d in curve.days] == [
        (3, 25.0, 29.0),
        (7, 50.0, 29.0),
    ]
    line = curve.expected_line(on, on + timedelta(days=2))
    assert line == [(on + timedelta(days=1), 29.0), (on + timedelta(days=2), 29.0)]
    assert steps_baseline(patient=patient, surgery=None) is None


# --- triage -----------------------------------------------------------------------------------


def _recovering(patient, surgeon, *, baseline_days=14, days_ago=10):
    surgery = _surgery(patient, surgeon, days_ago=days_ago)
    on = surgery.performed_on
    _steps(patient, [(on - timedelta(days=n), 6000) for n in range(1, baseline_days + 1)])
    return on


def test_three_low_days_in_a_row_open_one_alert(patient, surgeon):
    on = _recovering(patient, surgeon)
    # Post-op days 8-10 (today is day 10): expected ~34-39% of 6000, i.e. ~2000-2300 steps.
    _steps(patient, [(on + timedelta(days=8), 300), (on + timedelta(days=9), 250)])
    assert not Alert.objects.filter(patient=patient).exists()  # two days are not a run
    _steps(patient, [(on + timedelta(days=10), 400)])
    alert = Alert.objects.get(patient=patient)
    assert (alert.rule_key, alert.tier, alert.status) == ("steps-below-curve", "within_24h", "open")
    assert alert.source_table == "daily_steps"
    assert "Baseline 6000" in alert.detail
    # A fourth low day, and the same day sent again: still one alert.
    _steps(patient, [(on + timedelta(days=10), 350)])
    assert Alert.objects.filter(patient=patient).count() == 1


def test_a_resolved_alert_can_open_again(patient, surgeon):
    on = _recovering(patient, surgeon)
    _steps(patient, [(on + timedelta(days=d), 200) for d in (8, 9, 10)])
    alert = Alert.objects.get(patient=patient)
    alert_resolve(actor=surgeon, alert=alert, note="Called: sore but fine, walking more.")
    _steps(patient, [(on + timedelta(days=10), 150)])
    assert Alert.objects.filter(patient=patient).exclude(status="resolved").count() == 1


def test_walking_as_expected_or_a_missing_day_raises_nothing(patient, surgeon):
    on = _recovering(patient, surgeon)
    _steps(patient, [(on + timedelta(days=8), 2500), (on + timedelta(days=9), 2600)])
    _steps(patient, [(on + timedelta(days=10), 2700)])
    assert not Alert.objects.filter(patient=patient).exists()
    # Low days with a gap between them (day 9 not sent this time): no run of three.
    other = factories.PatientFactory(clinic=patient.clinic, surgeon=surgeon)
    on = _recovering(other, surgeon)
    _steps(other, [(on + timedelta(days=7), 100), (on + timedelta(days=8), 100)])
    _steps(other, [(on + timedelta(days=10), 100)])
    assert not Alert.objects.filter(patient=other).exists()


def test_no_alert_without_a_baseline(patient, surgeon):
    on = _recovering(patient, surgeon, baseline_days=6)  # fewer than seven days
    _steps(patient, [(on + timedelta(days=d), 10) for d in (8, 9, 10)])
    assert not Alert.objects.filter(patient=patient).exists()


def test_an_old_low_run_backfilled_is_no_news(patient, surgeon):
    on = _recovering(patient, surgeon, days_ago=60)
    _steps(patient, [(on + timedelta(days=d), 10) for d in (8, 9, 10)])  # 50 days ago
    assert not Alert.objects.filter(patient=patient).exists()


def test_the_thresholds_are_data(patient, surgeon):
    on = _recovering(patient, surgeon)
    rule = TriageRule.objects.get(clinic=None, key="steps-below-curve")
    assert (rule.source, rule.threshold, rule.count) == ("steps_curve", 50, 3)
    TriageRule.objects.create(
        clinic=patient.clinic,
        key="steps-below-curve",
        source="steps_curve",
        threshold=10,
        count=2,
        tier="within_24h",
        title="Barely walking",
        patient_message="Your care team has been told.",
    )
    _steps(patient, [(on + timedelta(days=9), 300), (on + timedelta(days=10), 300)])
    assert not Alert.objects.filter(patient=patient).exists()  # ~14% of expected: above 10%
    _steps(patient, [(on + timedelta(days=9), 100), (on + timedelta(days=10), 100)])
    assert Alert.objects.get(patient=patient).title == "Barely walking"
