from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from recovery.models import MinimalImportantDifference, OutcomeScore
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.outcomes.scoring import score_band, score_questionnaire
from recovery.outcomes.selectors import outcome_changes_for
from recovery.record.kinds import SURGERIES
from recovery.record.writes import record_create

pytestmark = pytest.mark.django_db


def odi(values):
    return {f"s{i}": v for i, v in enumerate(values, start=1)}


@pytest.mark.parametrize(
    ("answers", "sections", "percent"),
    [
        (odi([5] * 10), 10, Decimal("100.0")),
        (odi([0] * 10), 10, Decimal("0.0")),
        (odi([2, 3, 1, 0, 4, 2, 3, 1, 2, 2]), 10, Decimal("40.0")),
        # Nine answered: 100 x 20 / 45 = 44.4
        ({**odi([2, 3, 1, 0, 4, 2, 3, 1, 4]), "s10": None}, 9, Decimal("44.4")),
        (odi([1, 1, 1, 1, 1, 1, 1, 1]), 8, Decimal("20.0")),
    ],
)
def test_questionnaire_scoring(answers, sections, percent):
    assert score_questionnaire(answers) == (sections, percent)


@pytest.mark.parametrize(
    "answers",
    [
        odi([1] * 7),
        odi([6] * 10),
        {**odi([1] * 10), "s11": 1},
        odi(["2"] * 10),
        odi([True] * 10),
        [1, 2],
    ],
)
def test_questionnaire_refuses_bad_or_incomplete_answers(answers):
    with pytest.raises(ValidationError) as exc:
        score_questionnaire(answers)
    assert "answers" in exc.value.message_dict


@pytest.mark.parametrize(
    ("instrument", "score", "band"),
    [
        ("odi", 20, "minimal"),
        ("odi", Decimal("20.1"), "moderate"),
        ("odi", 40, "moderate"),
        ("odi", 41, "severe"),
        ("odi", 61, "crippled"),
        ("odi", 81, "bed-bound"),
        ("odi", 100, "bed-bound"),
        ("ndi", 8, "none"),
        ("ndi", 10, "mild"),
        ("ndi", 30, "moderate"),
        ("ndi", 50, "severe"),
        ("ndi", 70, "complete"),
        ("nrs_back", 5, None),
    ],
)
def test_bands(instrument, score, band):
    assert score_band(instrument, score) == band


def _score(patient, instrument, timepoint, answers, days_ago=0):
    return record_create(
        OUTCOME_SCORES,
        actor=patient.user,
        patient=patient,
        instrument=instrument,
        timepoint=timepoint,
        completed_at=timezone.now() - timedelta(days=days_ago),
        answers=answers,
        version="2.1a",
    )[0]


def test_scores_are_computed_by_the_server_and_change_is_judged_against_the_mcid(patient, surgeon):
    record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() - timedelta(days=400),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
    )
    baseline = _score(patient, "odi", "baseline", odi([3] * 10), days_ago=410)  # 60%
    assert baseline.score == Decimal("60.0") and baseline.sections_answered == 10
    _score(
        patient, "odi", "3m", odi([3, 3, 3, 2, 2, 2, 3, 3, 3, 2]), days_ago=300
    )  # 52%: -8 < 11.79
    _score(patient, "odi", "12m", odi([1, 2, 1, 2, 1, 2, 1, 2, 1, 2]), days_ago=30)  # 30%: -30
    _score(patient, "nrs_leg", "baseline", {"nrs": 7}, days_ago=410)
    _score(patient, "nrs_leg", "3m", {"nrs": 6}, days_ago=300)  # 1 < 1.28

    changes = {(c.instrument, c.timepoint): c for c in outcome_changes_for([patient])[patient.pk]}
    assert (
        changes[("odi", "3m")].change == Decimal("8.0")
        and changes[("odi", "3m")].meets_mcid is False
    )
    assert (
        changes[("odi", "12m")].change == Decimal("30.0")
        and changes[("odi", "12m")].meets_mcid is True
    )
    assert changes[("odi", "12m")].mcid == Decimal("11.79")
    assert changes[("nrs_leg", "3m")].meets_mcid is False


def test_a_clinic_value_overrides_the_default(patient, surgeon):
    record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() - timedelta(days=100),
        region="cervical",
        levels="C5-C6",
        procedure="fusion",
    )
    _score(patient, "ndi", "baseline", odi([2] * 10), days_ago=110)  # 40%
    _score(patient, "ndi", "3m", odi([1] * 10) | {"s1": 2}, days_ago=5)  # 22%: change 18
    assert outcome_changes_for([patient])[patient.pk][0].mcid == Decimal("10.00")
    MinimalImportantDifference.objects.create(
        clinic=patient.clinic,
        instrument="ndi",
        population="cervical",
        value=10,
        unit="points",
        source="clinic's cervical fusion cohort",
    )
    change = outcome_changes_for([patient])[patient.pk][0]
    assert change.mcid == Decimal(20) and change.meets_mcid is False


def test_outcome_changes_use_three_queries_for_many_patients(
    patient, other_patient, django_assert_num_queries
):
    for p in (patient, other_patient):
        _score(p, "nrs_back", "baseline", {"nrs": 8}, days_ago=100)
        _score(p, "nrs_back", "3m", {"nrs": 3}, days_ago=5)
    with django_assert_num_queries(3):
        result = outcome_changes_for([patient, other_patient])
    assert (
        len(result[patient.pk]) == 1 and result[patient.pk][0].meets_mcid is None
    )  # no surgery: no population


def test_unscorable_questionnaire_writes_nothing(patient):
    with pytest.raises(ValidationError):
        _score(patient, "odi", "baseline", odi([1] * 5))
    assert OutcomeScore.all_objects.count() == 0
