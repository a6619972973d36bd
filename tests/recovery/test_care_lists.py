"""``GET /api/v1/check-ins/`` (the patient's own) and ``GET /api/v1/alerts/`` (the care team's),
paged like every list: ``{"next", "results"}``, a keyset cursor, scoped to the caller first."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ANSWERS = [{"cannot_move_limb": True}, {"wound_opening": True}, {"fell": True}]


def _check_in(api, patient, at, **answers):
    response = api(patient.user).post(
        "/api/v1/check-ins/", {"answered_at": at.isoformat(), **answers}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["check_in"]["id"]


def _all_pages(client, url):
    pages, seen = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "results"}
        pages.append(body["results"])
        seen += body["results"]
        url = body["next"]
    return pages, seen


def test_check_ins_list_is_the_patients_own_newest_first(api, patient, other_patient):
    start = timezone.now() - timedelta(days=10)
    own = [_check_in(api, patient, start + timedelta(days=i)) for i in range(5)]
    _check_in(api, other_patient, start + timedelta(days=2))
    pages, seen = _all_pages(api(patient.user), "/api/v1/check-ins/?page_size=2")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row["id"] for row in seen] == list(reversed(own))


def test_check_ins_list_reads_in_a_fixed_number_of_queries(
    api, patient, django_assert_max_num_queries
):
    start = timezone.now() - timedelta(days=40)
    for i in range(30):
        _check_in(api, patient, start + timedelta(days=i))
    client = api(patient.user)
    with django_assert_max_num_queries(3):  # the user (token), the page
        response = client.get("/api/v1/check-ins/?page_size=25")
    assert response.status_code == 200 and len(response.json()["results"]) == 25


def test_check_ins_list_refuses_staff_unknown_parameters_and_damaged_cursors(api, patient, surgeon):
    assert api(surgeon).get("/api/v1/check-ins/").status_code == 403
    unknown = api(patient.user).get("/api/v1/check-ins/?patient=1")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["attr"] == "patient"
    damaged = api(patient.user).get("/api/v1/check-ins/?cursor=nonsense")
    assert damaged.status_code == 400
    assert damaged.json()["errors"][0]["code"] == "invalid_cursor"


@pytest.fixture
def second_patient(clinic, surgeon):
    return PatientFactory(clinic=clinic, surgeon=surgeon)


def test_alerts_are_paged_most_urgent_first_then_oldest(
    api, patient, second_patient, surgeon, other_patient
):
    start = timezone.now() - timedelta(hours=6)
    for offset, person in enumerate((patient, second_patient)):
        for answers in ANSWERS:
            _check_in(api, person, start + timedelta(minutes=offset), **answers)
    _check_in(api, other_patient, start, cannot_move_limb=True)  # another surgeon's patient
    pages, seen = _all_pages(api(surgeon), "/api/v1/alerts/?page_size=2")
    assert [len(page) for page in pages] == [2, 2, 2]
    assert [a["tier"] for a in seen] == [
        "emergency",
        "emergency",
        "same_day",
        "same_day",
        "within_24h",
        "within_24h",
    ]
    assert {a["patient"] for a in seen} == {patient.pk, second_patient.pk}
    for first, second in zip(seen[::2], seen[1::2], strict=True):
        assert (first["opened_at"], first["id"]) <= (second["opened_at"], second["id"])


def test_alerts_list_reads_in_a_fixed_number_of_queries(
    api, patient, second_patient, surgeon, django_assert_max_num_queries
):
    start = timezone.now() - timedelta(hours=6)
    for person in (patient, second_patient):
        for answers in ANSWERS:
            _check_in(api, person, start, **answers)
    client = api(surgeon)
    # the user (token), the care-team scope inside the page query, the PHI log write
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/alerts/")
    assert response.status_code == 200 and len(response.json()["results"]) == 6


def test_alerts_list_filters_by_status_and_refuses_bad_parameters(api, patient, surgeon):
    _check_in(api, patient, timezone.now(), wound_opening=True)
    assert api(surgeon).get("/api/v1/alerts/?status=resolved").json()["results"] == []
    assert len(api(surgeon).get("/api/v1/alerts/?status=open").json()["results"]) == 1
    huge = base64.urlsafe_b64encode(b'[0,"2026-05-01T00:00:00+00:00",99999999999999999999]')
    for query in (
        "status=closed",
        "page_size=0",
        "cursor=nonsense",
        f"cursor={huge.decode().rstrip('=')}",
        "patient=1",
    ):
        response = api(surgeon).get(f"/api/v1/alerts/?{query}")
        assert response.status_code == 400, (query, response.content)
    assert api(patient.user).get("/api/v1/alerts/").status_code == 403
