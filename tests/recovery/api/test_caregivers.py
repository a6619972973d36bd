"""A caregiver on the clinical record's REST API: every kind, list, retrieve, create and change,
in and out of the grant's scopes; another patient's record is a 404; what a caregiver enters
carries them as ``created_by``."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.caregivers import caregiver_grant_revoke
from accounts.models import PHIAccess
from recovery.api.views import API_KINDS
from tests.accounts.helpers import caregiver_of
from tests.conftest import client_for
from tests.factories import make_record

from .conftest import valid_values
from .test_permissions import PATCHES

pytestmark = pytest.mark.django_db

LOGGED = {"pain-logs", "pt-sessions"}  # check-ins: recovery/care (tested with sync)


@pytest.fixture
def carers(patient):
    reader, _ = caregiver_of(patient, "read", email="reader@example.test")
    logger, _ = caregiver_of(patient, "read", "log", email="logger@example.test")
    writer, _ = caregiver_of(patient, "log", email="writer@example.test")
    planner, _ = caregiver_of(patient, "plan", "reminders", email="planner@example.test")
    gone, grant = caregiver_of(patient, "read", "log", email="gone@example.test")
    caregiver_grant_revoke(grant=grant, actor=patient.user)
    return {"reader": reader, "logger": logger, "writer": writer, "planner": planner, "gone": gone}


def _body(prefix, patient, surgeon):
    body = {**valid_values(prefix, patient), "patient": patient.pk}
    if prefix == "hospital-stays":
        body["surgery"] = make_record("surgeries", patient, surgeon).pk
    if prefix == "prep-items":
        body["surgery"] = make_record(
            "surgeries",
            patient,
            surgeon,
            performed_on=timezone.localdate() + timedelta(days=30),
        ).pk
    return body


@pytest.mark.parametrize("prefix", list(API_KINDS))
def test_caregiver_matrix(prefix, carers, patient, other_patient, surgeon):
    model = API_KINDS[prefix].model
    mine = make_record(prefix, patient, surgeon)
    theirs = make_record(prefix, other_patient, other_patient.surgeon)
    wrong = []

    def check(who, op, got, want, detail=b""):
        if got != want:
            wrong.append(f"{who:8} {op:28} expected {want}, got {got} {detail[:200]}")

    for who, user in carers.items():
        client = client_for(user)
        reads = who in ("reader", "logger")
        response = client.get(f"/api/v1/{prefix}/")
        check(who, "list", response.status_code, 200)
        ids = {row["id"] for row in response.json()["results"]}
        check(who, "list shows the patient's", mine.pk in ids, reads)
        check(who, "list shows another's", theirs.pk in ids, False)
        response = client.get(f"/api/v1/{prefix}/?patient={other_patient.pk}")
        check(who, "list names another patient", response.status_code, 400)
        check(
            who,
            "retrieve",
            client.get(f"/api/v1/{prefix}/{mine.pk}/").status_code,
            200 if reads else 404,
        )
        check(
            who, "retrieve another's", client.get(f"/api/v1/{prefix}/{theirs.pk}/").status_code, 404
        )

        before = model.all_objects.count()
        response = client.post(f"/api/v1/{prefix}/", _body(prefix, patient, surgeon), format="json")
        logs = who in ("logger", "writer")
        want = (201 if prefix in LOGGED else 403) if logs else 400
        check(who, "create", response.status_code, want, response.content)
        check(who, "create rows", model.all_objects.count() - before, int(want == 201))
        if response.status_code == 201:
            body = response.json()
            check(who, "create created_by", body["created_by"], user.pk)
        response = client.post(
            f"/api/v1/{prefix}/", _body(prefix, other_patient, other_patient.surgeon), format="json"
        )
        check(who, "create for another patient", response.status_code, 400, response.content)

        # Changes: their own entries only (and only with read, to find them), never staff rows.
        patch = PATCHES[prefix]
        response = client.patch(f"/api/v1/{prefix}/{mine.pk}/", patch, format="json")
        check(who, "patch the care team's", response.status_code, 403 if reads else 404)
        if prefix in LOGGED:
            own = make_record(prefix, patient, user) if logs else None
            by_patient = make_record(prefix, patient, patient.user)
            response = client.patch(f"/api/v1/{prefix}/{by_patient.pk}/", patch, format="json")
            check(who, "patch the patient's", response.status_code, 403 if reads else 404)
            if own is not None:
                response = client.patch(f"/api/v1/{prefix}/{own.pk}/", patch, format="json")
                check(who, "patch their own", response.status_code, 200 if reads else 404)
                response = client.delete(f"/api/v1/{prefix}/{own.pk}/")
                check(who, "delete their own", response.status_code, 204 if reads else 404)
    assert not wrong, "\n" + "\n".join(wrong)


def test_caregiver_reads_are_logged_for_the_patient(api, patient, surgeon, carers):
    record = make_record("pain-logs", patient, patient.user)
    client = api(carers["reader"])
    assert client.get("/api/v1/pain-logs/").status_code == 200
    assert client.get(f"/api/v1/pain-logs/{record.pk}/").status_code == 200
    logged = list(
        PHIAccess.objects.filter(user=carers["reader"]).values_list("action", "patient_id")
    )
    assert logged == [("list", patient.pk), ("retrieve", patient.pk)]
    # Nothing logged for what they could not see.
    assert api(carers["planner"]).get(f"/api/v1/pain-logs/{record.pk}/").status_code == 404
    assert not PHIAccess.objects.filter(user=carers["planner"]).exists()


def test_caregiver_list_query_count(api, patient, carers, django_assert_num_queries):
    for _ in range(3):
        make_record("pain-logs", patient, patient.user)
    client = api(carers["reader"])
    client.get("/api/v1/pain-logs/")  # warm
    # user (authentication), page, PHI log (clinics lookup, insert).
    with django_assert_num_queries(4):
        assert len(client.get("/api/v1/pain-logs/").json()["results"]) == 3


CHECK_INS = "/api/v1/check-ins/"


def _check_in(**extra):
    return {"answered_at": timezone.now().isoformat(), "wound_opening": False, **extra}


def test_check_ins_by_a_caregiver(api, patient, other_patient, carers):
    from recovery.care.models import CheckIn

    logger, reader, planner = carers["logger"], carers["reader"], carers["planner"]
    response = api(logger).post(CHECK_INS, _check_in(patient=patient.pk), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["check_in"]["created_by"] == logger.pk
    stored = CheckIn.objects.get(pk=body["check_in"]["id"])
    assert (stored.patient, stored.created_by) == (patient, logger)
    # Without the log scope, or for another patient: refused, nothing written.
    for user, target in ((reader, patient), (planner, patient), (logger, other_patient)):
        response = api(user).post(CHECK_INS, _check_in(patient=target.pk), format="json")
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0]["attr"] == "patient"
    assert CheckIn.objects.count() == 1
    # Lists: with read, the patient's; without, nothing of theirs; another patient: 400.
    listed = api(reader).get(CHECK_INS).json()["results"]
    assert [row["id"] for row in listed] == [stored.pk]
    assert PHIAccess.objects.filter(user=reader, resource="check_ins").exists()
    assert api(planner).get(CHECK_INS).status_code == 400
    assert api(reader).get(f"{CHECK_INS}?patient={other_patient.pk}").status_code == 400
    # A patient never names a patient.
    response = api(patient.user).post(CHECK_INS, _check_in(patient=patient.pk), format="json")
    assert response.status_code == 400
    assert api(patient.user).get(CHECK_INS).json()["results"][0]["id"] == stored.pk
