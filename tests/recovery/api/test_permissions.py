"""The permission matrix: every endpoint and method of the clinical record, for every kind of
caller (design.md section 3), with the outcome and the database state asserted for each cell.

Callers: the patient, another patient, the surgeon of record, a nurse on the team, a surgeon of
the clinic not on the team, a clinic admin of another clinic, and anonymous.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.api.views import API_KINDS
from tests.conftest import client_for
from tests.factories import make_record

from .conftest import valid_values

pytestmark = pytest.mark.django_db

ACTORS = ("patient", "other_patient", "surgeon", "nurse", "outsider", "foreign_admin", "anonymous")
PATCHES = {
    "surgeries": {"notes": "Uneventful."},
    "hospital-stays": {"facility": "General Hospital"},
    "medications": {"dose": "10 mg at night"},
    "pain-logs": {"notes": "Worse after sitting."},
    "pt-sessions": {"notes": "Felt fine."},
    "restrictions": {"instructions": "Nothing heavier than a milk jug."},
    "appointments": {"location": "Room 2"},
    "milestones": {"notes": "Almost there."},
    "outcome-scores": {"version": "2.1b"},
    "prep-items": {"notes": "Daughter will help."},
    "imaging-studies": {"reading": "Hardware intact."},
    "complications": {"treatment": "Dressing changes."},
    "daily-steps": {"steps": 6012},
}


def _actions(prefix):
    now = timezone.now().replace(microsecond=0)
    return {
        "restrictions": {"lift": {}},
        "appointments": {
            "reschedule": {"starts_at": (now + timedelta(days=9)).isoformat()},
            "cancel": {},
            "complete": {},
        },
        "milestones": {"achieve": {}},
        "hospital-stays": {
            "discharge": {"discharged_at": now.isoformat(), "discharge_disposition": "home"}
        },
        "pt-sessions": {"complete": {"performed_at": now.isoformat(), "pain_after": 2}},
    }.get(prefix, {})


# Who may change a record (PATCH, DELETE, actions), by who created it.
def expected_change(prefix, actor, owner, op):
    kind = API_KINDS[prefix]
    if actor == "anonymous":
        return 401
    if actor in ("other_patient", "outsider", "foreign_admin"):
        return 404  # scope first: as if it did not exist
    ok = 204 if op == "delete" else 200
    if actor == "patient":
        if not kind.patients_write:
            return 403
        if owner == "patient":
            return ok
        if prefix == "milestones" and op == "achieve":
            return ok  # a patient marks any of their milestones achieved
        return 403  # set by the care team
    # surgeon or nurse on the team
    if prefix in ("pain-logs", "daily-steps") and owner == "patient":
        return 403  # the patient's own entry
    return ok


def expected_create(prefix, actor):
    if actor == "anonymous":
        return 401
    if actor in ("patient", "other_patient"):
        return 201 if API_KINDS[prefix].patients_write else 403
    if actor in ("outsider", "foreign_admin"):
        return 400  # the patient is not theirs to name
    return 201


@pytest.fixture
def cast(patient, other_patient, surgeon, nurse, outsider, foreign_admin):
    return {
        "patient": patient.user,
        "other_patient": other_patient.user,
        "surgeon": surgeon,
        "nurse": nurse,
        "outsider": outsider,
        "foreign_admin": foreign_admin,
        "anonymous": None,
    }


def _state(record):
    fresh = type(record).all_objects.get(pk=record.pk)
    return (fresh.updated_at, fresh.sync_version, fresh.deleted_at)


@pytest.mark.parametrize("prefix", list(API_KINDS))
def test_permission_matrix(prefix, cast, patient, surgeon):
    kind = API_KINDS[prefix]
    model = kind.model
    owners = ["care_team"] + (["patient"] if kind.patients_write else [])
    author = {"care_team": surgeon, "patient": patient.user}
    wrong = []

    def check(actor, op, got, want, detail=""):
        if got != want:
            wrong.append(f"{actor:14} {op:24} expected {want}, got {got} {detail}")

    for actor in ACTORS:
        client = client_for(cast[actor])
        seen = make_record(prefix, patient, surgeon)

        # list
        response = client.get(f"/api/v1/{prefix}/")
        want = 401 if actor == "anonymous" else 200
        check(actor, "list", response.status_code, want)
        if response.status_code == 200:
            ids = {row["id"] for row in response.json()["results"]}
            visible = actor in ("patient", "surgeon", "nurse")
            check(actor, "list shows the record", seen.pk in ids, visible)

        # retrieve
        response = client.get(f"/api/v1/{prefix}/{seen.pk}/")
        want = (
            401
            if actor == "anonymous"
            else 200
            if actor in ("patient", "surgeon", "nurse")
            else 404
        )
        check(actor, "retrieve", response.status_code, want)
        if want == 200 and response.status_code == 200:
            check(actor, "retrieve body", response.json()["id"], seen.pk)

        # create
        body = valid_values(prefix, patient)
        if prefix == "hospital-stays":
            body["surgery"] = make_record("surgeries", patient, surgeon).pk
        if prefix == "prep-items":
            body["surgery"] = make_record(
                "surgeries",
                patient,
                surgeon,
                performed_on=timezone.localdate() + timedelta(days=30),
            ).pk
        if prefix == "daily-steps":  # one row per day: each actor a day of its own
            body["day"] = str(timezone.localdate() - timedelta(days=200 + ACTORS.index(actor)))
        if cast[actor] is not None and not cast[actor].is_patient:
            body["patient"] = patient.pk
        before = model.all_objects.count()
        response = client.post(f"/api/v1/{prefix}/", body, format="json")
        want = expected_create(prefix, actor)
        check(actor, "create", response.status_code, want, response.content[:200])
        check(
            actor,
            "create rows written",
            model.all_objects.count() - before,
            1 if want == 201 else 0,
        )
        if want == 400:
            check(actor, "create names patient", response.json()["errors"][0]["attr"], "patient")

        # change: PATCH, actions, DELETE, on a record of each author
        for owner in owners:
            ops = [("patch", PATCHES[prefix]), *_actions(prefix).items(), ("delete", None)]
            for op, payload in ops:
                record = make_record(prefix, patient, author[owner])
                state = _state(record)
                url = f"/api/v1/{prefix}/{record.pk}/"
                if op == "patch":
                    response = client.patch(url, payload, format="json")
                elif op == "delete":
                    response = client.delete(url)
                else:
                    response = client.post(f"{url}{op}/", payload, format="json")
                want = expected_change(prefix, actor, owner, op)
                label = f"{op} ({owner}'s)"
                check(actor, label, response.status_code, want, response.content[:200])
                changed = _state(record) != state
                check(actor, f"{label} wrote", changed, want in (200, 204))
                if response.status_code >= 400:
                    body = response.json()
                    check(actor, f"{label} error shape", set(body), {"type", "errors"})

    assert not wrong, "\n" + "\n".join(wrong)


@pytest.mark.parametrize("prefix", ["pain-logs", "pt-sessions", "milestones"])
def test_a_patient_never_names_a_patient(prefix, api, patient, other_patient):
    body = {**valid_values(prefix, other_patient), "patient": patient.pk}
    model = API_KINDS[prefix].model
    response = api(other_patient.user).post(f"/api/v1/{prefix}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "patient"
    assert model.all_objects.count() == 0


def test_a_clinician_must_name_the_patient(api, surgeon):
    response = api(surgeon).post(
        "/api/v1/pain-logs/", valid_values("pain-logs", None), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "required", "detail": "This field is required.", "attr": "patient"}
    ]


def test_clinic_admin_of_the_clinic_reads_and_writes(api, patient, clinic_admin, surgeon):
    record = make_record("appointments", patient, surgeon)
    client = api(clinic_admin)
    assert client.get(f"/api/v1/appointments/{record.pk}/").status_code == 200
    response = client.post(f"/api/v1/appointments/{record.pk}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
