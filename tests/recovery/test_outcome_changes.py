"""Change from baseline and MCID at every timepoint; the instrument fits the surgery's region;
each timepoint has a window after the surgery (issue 19 item 6)."""

import json
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from recovery.api.views import API_KINDS, wire
from recovery.models import OutcomeScore
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.outcomes.selectors import (
    outcome_changes_for,
    outcome_rows_with_change,
    outcome_score_changes,
)
from recovery.record.kinds import SURGERIES
from recovery.record.writes import record_create, record_update
from tests.factories import PatientFactory

from .sync.helpers import changes, ms, pull, push

pytestmark = pytest.mark.django_db


def odi(value):
    return {f"s{i}": value for i in range(1, 11)}


def _surgery(patient, actor, *, days_ago=200, region="lumbar", **values):
    values = {
        "performed_on": timezone.localdate(timezone=patient.tz) - timedelta(days=days_ago),
        "region": region,
        "levels": "C5-C6" if region == "cervical" else "L4-L5",
        "procedure": "fusion",
        "is_revision": True,
        "revision_reasons": ["pseudarthrosis"],
        **values,
    }
    return record_create(SURGERIES, actor=actor, patient=patient, **values)[0]


def _on_day(patient, surgery, day):
    """Noon of the surgery's day + ``day``, in the patient's zone (never in the future)."""
    noon = datetime.combine(surgery.performed_on + timedelta(days=day), time(12), tzinfo=patient.tz)
    return min(noon, timezone.now() - timedelta(minutes=1))


def _score(patient, surgery, instrument, timepoint, answers, day, **values):
    return record_create(
        OUTCOME_SCORES,
        actor=patient.user,
        patient=patient,
        instrument=instrument,
        timepoint=timepoint,
        surgery=surgery,
        completed_at=_on_day(patient, surgery, day),
        answers=answers,
        **values,
    )[0]


def _history(patient, surgeon):
    """ODI 60% at baseline, then 52% (6w), 40% (3m), 30% (6m); leg pain 7 -> 6 (6w)."""
    surgery = _surgery(patient, surgeon)
    scores = {
        "baseline": _score(patient, surgery, "odi", "baseline", odi(3), -7),
        "6w": _score(patient, surgery, "odi", "6w", odi(3) | {"s1": 1, "s2": 2, "s3": 2}, 42),
        "3m": _score(patient, surgery, "odi", "3m", odi(2), 84),
        "6m": _score(patient, surgery, "odi", "6m", odi(2) | {"s1": 0, "s2": 0, "s3": 1}, 180),
        "leg0": _score(patient, surgery, "nrs_leg", "baseline", {"nrs": 7}, -7),
        "leg6w": _score(patient, surgery, "nrs_leg", "6w", {"nrs": 6}, 42),
    }
    return surgery, scores


def test_every_timepoint_has_its_change_from_baseline_and_mcid(patient, surgeon):
    _, scores = _history(patient, surgeon)
    result = outcome_score_changes(scores.values())
    assert result[scores["baseline"].pk] is None and result[scores["leg0"].pk] is None
    assert [
        (result[scores[t].pk].change, result[scores[t].pk].meets_mcid) for t in ("6w", "3m", "6m")
    ] == [(Decimal("8.0"), False), (Decimal("20.0"), True), (Decimal("30.0"), True)]
    assert result[scores["6w"].pk].mcid == Decimal("11.79")  # revision lumbar fusion
    assert (result[scores["leg6w"].pk].change, result[scores["leg6w"].pk].meets_mcid) == (
        Decimal(1),
        False,
    )  # 1 < 1.28
    # The per-patient summary has every follow-up too (the admin list and the timeline header).
    summary = [(c.instrument, c.timepoint) for c in outcome_changes_for([patient])[patient.pk]]
    assert summary == [("nrs_leg", "6w"), ("odi", "6w"), ("odi", "3m"), ("odi", "6m")]


def test_a_follow_up_is_compared_with_the_baseline_of_its_own_surgery(patient, surgeon):
    first = _surgery(patient, surgeon, days_ago=700, is_revision=False, revision_reasons=[])
    _score(patient, first, "odi", "baseline", odi(4), -5)  # 80% before the first operation
    second = _surgery(patient, surgeon, days_ago=90, prior_surgery=first)
    _score(patient, second, "odi", "baseline", odi(3), -5)  # 60% before the revision
    follow_up = _score(patient, second, "odi", "3m", odi(2), 84)  # 40%
    assert outcome_score_changes([follow_up])[follow_up.pk].change == Decimal("20.0")


def test_changes_of_a_page_take_four_queries_however_many_scores_and_patients(
    patient, surgeon, clinic, django_assert_num_queries
):
    _history(patient, surgeon)
    many = []
    for _ in range(4):
        other = PatientFactory(clinic=clinic, surgeon=surgeon)
        _history(other, surgeon)
        many.append(other)
    one = list(OutcomeScore.objects.filter(patient=patient))
    every = list(OutcomeScore.objects.all())
    assert len(every) == 30
    with django_assert_num_queries(4):
        outcome_score_changes(one)
    with django_assert_num_queries(4):
        result = outcome_score_changes(every)
    assert sum(1 for c in result.values() if c is not None) == 20
    with django_assert_num_queries(3):
        outcome_changes_for([patient, *many])


def test_api_wire_rows_get_change_from_baseline_and_mcid_reached(
    patient, surgeon, django_assert_num_queries
):
    _, scores = _history(patient, surgeon)
    kind = API_KINDS["outcome-scores"]
    rows = [wire(kind, s) for s in OutcomeScore.objects.filter(patient=patient).order_by("id")]
    with django_assert_num_queries(4):
        outcome_rows_with_change(rows)
    by_id = {r["id"]: r for r in rows}
    assert (
        by_id[scores["3m"].pk]["change_from_baseline"],
        by_id[scores["3m"].pk]["mcid_reached"],
    ) == (
        Decimal("20.0"),
        True,
    )
    assert by_id[scores["6w"].pk]["mcid_reached"] is False
    assert by_id[scores["baseline"].pk]["change_from_baseline"] is None


# --- the instrument fits the surgery's region -------------------------------------------------


def test_an_ndi_for_a_lumbar_patient_is_a_400(api, patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=84)
    response = api(patient.user).post(
        "/api/v1/outcome-scores/",
        {
            "instrument": "ndi",
            "timepoint": "3m",
            "surgery": surgery.pk,
            "completed_at": timezone.now().isoformat(),
            "answers": odi(2),
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("instrument", "instrument_region")
    assert "cervical" in error["detail"] and "use odi" in error["detail"]
    assert not OutcomeScore.objects.exists()


@pytest.mark.parametrize(
    ("region", "instrument", "ok"),
    [
        ("cervical", "ndi", True),
        ("cervical", "odi", False),
        ("thoracic", "odi", True),
        ("sacral", "odi", True),
        ("lumbar", "ndi", False),
        ("cervical", "nrs_back", True),
    ],
)
def test_instrument_and_region(patient, surgeon, region, instrument, ok):
    surgery = _surgery(patient, surgeon, days_ago=84, region=region)
    answers = {"nrs": 3} if instrument.startswith("nrs") else odi(2)
    if ok:
        _score(patient, surgery, instrument, "3m", answers, 84)
    else:
        with pytest.raises(ValidationError) as refused:
            _score(patient, surgery, instrument, "3m", answers, 84)
        assert "instrument" in refused.value.message_dict


def test_without_a_named_surgery_the_current_one_is_checked(patient, surgeon):
    _surgery(patient, surgeon, days_ago=56, region="cervical")
    with pytest.raises(ValidationError) as refused:
        record_create(
            OUTCOME_SCORES,
            actor=patient.user,
            patient=patient,
            instrument="odi",
            timepoint="6w",
            completed_at=timezone.now(),
            answers=odi(2),
        )
    assert "instrument" in refused.value.message_dict


def test_with_no_surgery_at_all_there_is_nothing_to_check(patient):
    record_create(
        OUTCOME_SCORES,
        actor=patient.user,
        patient=patient,
        instrument="ndi",
        timepoint="3m",
        completed_at=timezone.now(),
        answers=odi(1),
    )


# --- timepoint windows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timepoint", "day", "ok"),
    [
        ("baseline", -90, True),
        ("baseline", 0, True),
        ("baseline", -91, False),
        ("baseline", 1, False),
        ("6w", 27, False),
        ("6w", 28, True),
        ("6w", 56, True),
        ("3m", 56, False),  # the "3m" score at 8 weeks
        ("3m", 69, False),
        ("3m", 70, True),
        ("3m", 112, True),
        ("3m", 113, False),
        ("6m", 182, True),
        ("12m", 365, True),
        ("12m", 200, False),
        ("24m", 730, True),
        ("24m", 911, False),
    ],
)
def test_timepoint_windows(patient, surgeon, timepoint, day, ok):
    surgery = _surgery(patient, surgeon, days_ago=1000)
    if ok:
        _score(patient, surgery, "nrs_back", timepoint, {"nrs": 4}, day)
    else:
        with pytest.raises(ValidationError) as refused:
            _score(patient, surgery, "nrs_back", timepoint, {"nrs": 4}, day)
        assert "timepoint" in refused.value.message_dict


def test_a_3m_score_at_8_weeks_is_a_400_that_says_which_timepoint_fits(api, patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=56)
    response = api(patient.user).post(
        "/api/v1/outcome-scores/",
        {
            "instrument": "odi",
            "timepoint": "3m",
            "surgery": surgery.pk,
            "completed_at": timezone.now().isoformat(),
            "answers": odi(2),
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("timepoint", "timepoint_window")
    assert "10-16 weeks after the surgery" in error["detail"] and "it fits 6w" in error["detail"]


def test_moving_a_score_out_of_its_window_is_refused(patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=200)
    score = _score(patient, surgery, "nrs_back", "3m", {"nrs": 4}, 84)
    with pytest.raises(ValidationError):
        record_update(OUTCOME_SCORES, actor=patient.user, record=score, timepoint="6m")


def test_sync_push_refuses_a_score_out_of_its_window_by_record(api, patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=56, region="cervical")
    client = api(patient.user)
    since = pull(client, schema_version=3).json()["timestamp"]
    raw = {
        "id": "ndi-early",
        "instrument": "ndi",
        "version": "",
        "timepoint": "3m",
        "completed_at": ms(timezone.now() - timedelta(minutes=5)),
        "surgery": surgery.pk,
        "answers": json.dumps(odi(2)),
        "score": 0,
        "sections_answered": 0,
        "_status": "created",
        "_changed": "",
    }
    response = push(client, changes(outcome_scores={"created": [raw]}), since)
    assert response.status_code == 200, response.content  # refused and kept, the rest applied
    (refused,) = response.json()["rejected"]
    assert (refused["table"], refused["id"]) == ("outcome_scores", "ndi-early")
    error = refused["errors"][0]
    assert error["attr"].endswith("timepoint")
    assert "it fits 6w" in error["detail"]
    assert not OutcomeScore.objects.exists()


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_list_shows_the_change_at_6_weeks(
    client, patient, surgeon, django_assert_max_num_queries
):
    _, scores = _history(patient, surgeon)
    client.force_login(surgeon)
    url = reverse("admin:recovery_outcomescore_changelist")
    with django_assert_max_num_queries(30) as few:
        html = client.get(url).content.decode()
    assert "+8.0 (baseline 60.0)" in html  # 6w
    assert "+30.0 (baseline 60.0)" in html and "reached (11.79)" in html
    assert "not reached (1.28)" in html  # leg pain 7 -> 6
    # Twice the rows: the same number of queries.
    other = PatientFactory(clinic=patient.clinic, surgeon=surgeon, care_team=())
    _history(other, surgeon)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)
    page = client.get(reverse("admin:recovery_outcomescore_change", args=[scores["6w"].pk]))
    assert "+8.0 (baseline 60.0)" in page.content.decode()
