"""Outcome scores over REST carry their change from baseline and whether it reaches the MCID, at
every timepoint, in lists and details, in a fixed number of queries (issue 19 item 6)."""

import pytest

from recovery.models import OutcomeScore
from tests.factories import PatientFactory
from tests.recovery.test_outcome_changes import _history, _score, _surgery, odi

pytestmark = pytest.mark.django_db

# The patient's own list: the user, the page; then the page's change from baseline: the
# patients' clinics, the baselines, the surgeries, the MCIDs.
PATIENT_LIST_QUERIES = 6
# A clinician's (no `patient` filter): the user, the page, the change from baseline (4), the
# PHI log (the patients' clinics, one insert).
STAFF_LIST_QUERIES = 8


def _by_id(response):
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_every_timepoint_has_its_change_and_mcid_in_the_list(api, patient, surgeon):
    _, scores = _history(patient, surgeon)
    rows = _by_id(api(patient.user).get("/api/v1/outcome-scores/"))
    got = {
        name: (rows[s.pk]["change_from_baseline"], rows[s.pk]["mcid_reached"])
        for name, s in scores.items()
    }
    assert got == {
        "baseline": (None, None),
        "6w": ("8.0", False),  # 60% -> 52%: better, not yet by the MCID (11.79)
        "3m": ("20.0", True),
        "6m": ("30.0", True),
        "leg0": (None, None),
        "leg6w": ("1.0", False),  # leg pain 7 -> 6, MCID 1.28
    }


def test_a_detail_and_a_create_answer_carry_them_too(api, patient, surgeon):
    surgery, scores = _history(patient, surgeon)
    client = api(patient.user)
    detail = client.get(f"/api/v1/outcome-scores/{scores['3m'].pk}/").json()
    assert (detail["change_from_baseline"], detail["mcid_reached"]) == ("20.0", True)

    staff = api(surgeon).get(f"/api/v1/outcome-scores/{scores['6w'].pk}/").json()
    assert (staff["change_from_baseline"], staff["mcid_reached"]) == ("8.0", False)

    created = client.post(
        "/api/v1/outcome-scores/",
        {
            "instrument": "nrs_leg",
            "timepoint": "6m",
            "surgery": surgery.pk,
            "completed_at": scores["6m"].completed_at.isoformat(),
            "answers": {"nrs": 2},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["change_from_baseline"], created.json()["mcid_reached"]) == (
        "5.0",
        True,
    )


def test_without_a_baseline_of_that_instrument_both_are_null(api, patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=100)
    _score(patient, surgery, "odi", "baseline", odi(3), -7)
    back = _score(patient, surgery, "nrs_back", "3m", {"nrs": 4}, 84)  # no back-pain baseline
    row = _by_id(api(patient.user).get("/api/v1/outcome-scores/"))[back.pk]
    assert (row["change_from_baseline"], row["mcid_reached"]) == (None, None)


def test_no_known_mcid_gives_the_change_and_a_null_flag(api, patient, surgeon):
    # A thoracic decompression belongs to no population with a published MCID.
    surgery = _surgery(
        patient,
        surgeon,
        days_ago=100,
        region="thoracic",
        levels="T11-T12",
        procedure="decompression",
    )
    _score(patient, surgery, "odi", "baseline", odi(3), -7)
    follow_up = _score(patient, surgery, "odi", "3m", odi(1), 84)
    row = _by_id(api(patient.user).get("/api/v1/outcome-scores/"))[follow_up.pk]
    assert (row["change_from_baseline"], row["mcid_reached"]) == ("40.0", None)


def test_a_worse_score_is_a_negative_change(api, patient, surgeon):
    surgery = _surgery(patient, surgeon, days_ago=100)
    _score(patient, surgery, "odi", "baseline", odi(2), -7)  # 40%
    worse = _score(patient, surgery, "odi", "3m", odi(3), 84)  # 60%
    row = _by_id(api(patient.user).get("/api/v1/outcome-scores/"))[worse.pk]
    assert (row["change_from_baseline"], row["mcid_reached"]) == ("-20.0", False)


def test_another_patients_baseline_is_never_used(api, patient, surgeon, clinic):
    other = PatientFactory(clinic=clinic, surgeon=surgeon)
    other_surgery = _surgery(other, surgeon, days_ago=100)
    _score(other, other_surgery, "odi", "baseline", odi(4), -7)
    surgery = _surgery(patient, surgeon, days_ago=100)
    mine = _score(patient, surgery, "odi", "3m", odi(2), 84)
    row = _by_id(api(patient.user).get("/api/v1/outcome-scores/"))[mine.pk]
    assert (row["change_from_baseline"], row["mcid_reached"]) == (None, None)
    assert api(patient.user).get(f"/api/v1/outcome-scores/{other_surgery.pk}/").status_code == 404


def test_the_patients_list_takes_the_same_queries_for_one_score_and_for_many(
    api, patient, surgeon, django_assert_num_queries
):
    client = api(patient.user)
    client.get("/api/v1/outcome-scores/")  # warm: the process's first request compiles its SQL
    surgery = _surgery(patient, surgeon, days_ago=200)
    _score(patient, surgery, "odi", "baseline", odi(3), -7)
    with django_assert_num_queries(PATIENT_LIST_QUERIES):
        assert len(client.get("/api/v1/outcome-scores/").json()["results"]) == 1
    for timepoint, day in (("6w", 42), ("3m", 84), ("6m", 180)):
        for instrument, answers in (("odi", odi(2)), ("nrs_back", {"nrs": 3})):
            _score(patient, surgery, instrument, timepoint, answers, day)
    _score(patient, surgery, "nrs_back", "baseline", {"nrs": 6}, -7)
    with django_assert_num_queries(PATIENT_LIST_QUERIES):
        rows = client.get("/api/v1/outcome-scores/?page_size=100").json()["results"]
    assert len(rows) == 8
    assert sum(1 for r in rows if r["change_from_baseline"] is not None) == 6


def test_a_clinicians_list_takes_the_same_queries_for_one_and_for_many_patients(
    api, patient, surgeon, clinic, django_assert_num_queries
):
    client = api(surgeon)
    client.get(f"/api/v1/outcome-scores/?patient={patient.pk}")  # warm (see above)
    surgery = _surgery(patient, surgeon, days_ago=200)
    _score(patient, surgery, "odi", "baseline", odi(3), -7)
    with django_assert_num_queries(STAFF_LIST_QUERIES):
        assert len(client.get("/api/v1/outcome-scores/").json()["results"]) == 1
    _history(patient, surgeon)
    for _ in range(3):
        _history(PatientFactory(clinic=clinic, surgeon=surgeon), surgeon)
    with django_assert_num_queries(STAFF_LIST_QUERIES):
        rows = client.get("/api/v1/outcome-scores/?page_size=100").json()["results"]
    assert len(rows) == OutcomeScore.objects.count() == 25
    assert {r["patient"] for r in rows if r["mcid_reached"] is True} == {
        s.patient_id for s in OutcomeScore.objects.filter(timepoint__in=["3m", "6m"])
    }


def test_an_empty_page_asks_nothing_more(api, patient, django_assert_num_queries):
    client = api(patient.user)
    client.get("/api/v1/outcome-scores/")
    with django_assert_num_queries(2):  # the user, the page
        assert client.get("/api/v1/outcome-scores/").json()["results"] == []


def test_the_schema_documents_both_fields(api, patient):
    schema = api(patient.user).get("/api/schema/?format=json").json()
    fields = schema["components"]["schemas"]["OutcomeScoreOutput"]["properties"]
    change, reached = fields["change_from_baseline"], fields["mcid_reached"]
    assert (change["type"], change["format"], change["nullable"]) == ("string", "decimal", True)
    assert "baseline" in change["description"]
    assert (reached["type"], reached["nullable"]) == ("boolean", True)
    assert "minimal clinically important difference" in reached["description"]
    assert {"change_from_baseline", "mcid_reached"} <= set(
        schema["components"]["schemas"]["OutcomeScoreOutput"]["required"]
    )
