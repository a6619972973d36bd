"""Who looked at my record: the patient reads their own PHI access log, as JSON and as FHIR
AuditEvents (IHE BALP), and finds it in their FHIR Bundle too."""

import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from accounts.break_glass import break_glass_open
from tests import factories as f
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

LOG = "/api/v1/me/access-log/"
REASON = "Seen in the emergency department tonight with new numbness in both legs."


def read_by_care_team(api, patient, surgeon):
    f.pain_log(patient)
    assert api(surgeon).get(f"/api/v1/pain-logs/?patient={patient.pk}").status_code == 200
    assert api(surgeon).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 200


def test_the_patient_reads_who_looked_newest_first(api, patient, surgeon, other_patient):
    read_by_care_team(api, patient, surgeon)
    response = api(patient.user).get(LOG)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [(r["action"], r["resource"]) for r in rows] == [
        ("export", "fhir"),
        ("list", "pain_logs"),
    ]
    assert rows[0]["reader"] == {"name": surgeon.full_name, "role": "surgeon"}
    assert rows[0]["summary"] == f"{surgeon.full_name} (surgeon) exported your fhir"
    assert rows[0]["emergency_reason"] is None
    assert "ip_address" not in rows[0]
    # Another patient's history is their own.
    assert api(other_patient.user).get(LOG).json()["results"] == []


def test_staff_have_no_access_history_of_their_own(api, surgeon):
    response = api(surgeon).get(LOG)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert api(surgeon).get(LOG + "fhir/").status_code == 403
    assert api(None).get(LOG).status_code == 401


def test_a_read_under_emergency_access_says_why(api, patient, clinic):
    outsider = StaffFactory(clinic=clinic, role="nurse")
    break_glass_open(user=outsider, mrn=patient.mrn, reason=REASON)
    assert api(outsider).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 200
    rows = api(patient.user).get(LOG).json()["results"]
    assert [r["action"] for r in rows] == ["export", "break_glass"]
    assert {r["emergency_reason"] for r in rows} == {REASON}


def test_one_query_per_page_whatever_its_length(api, patient, surgeon, django_assert_num_queries):
    client = api(patient.user)
    read_by_care_team(api, patient, surgeon)
    with django_assert_num_queries(2):  # the user (authentication), the page
        client.get(LOG)
    for _ in range(20):
        api(surgeon).get(f"/api/v1/pain-logs/?patient={patient.pk}")
    with django_assert_num_queries(2):
        assert len(client.get(LOG).json()["results"]) == 22


def fhir(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    return json.loads(b"".join(response.streaming_content))


def test_the_access_history_as_balp_audit_events(api, patient, surgeon, clinic):
    read_by_care_team(api, patient, surgeon)
    outsider = StaffFactory(clinic=clinic, role="physical_therapist")
    break_glass_open(user=outsider, mrn=patient.mrn, reason=REASON)
    data = fhir(api(patient.user), LOG + "fhir/")
    Bundle.model_validate(data)  # the R4B models validate every resource
    events = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    assert len(events) == 3
    listing, export, glass = events  # oldest first
    assert listing["meta"]["profile"][0].endswith("IHE.BasicAudit.PatientQuery")
    assert listing["action"] == "E" and listing["subtype"][0]["code"] == "search-type"
    assert export["action"] == "R" and export["subtype"][0]["code"] == "read"
    patient_entry = data["entry"][0]
    assert patient_entry["resource"]["resourceType"] == "Patient"
    assert all(e["entity"][0]["what"]["reference"] == patient_entry["fullUrl"] for e in events)
    [requestor] = [a for a in export["agent"] if a["requestor"]]
    assert requestor["who"]["display"] == surgeon.full_name
    assert glass["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert glass["purposeOfEvent"][0]["text"] == REASON
    assert "purposeOfEvent" not in export


def test_the_patient_bundle_carries_the_audit_events(api, patient, surgeon):
    read_by_care_team(api, patient, surgeon)
    data = fhir(api(patient.user), "/api/v1/me/fhir/")
    Bundle.model_validate(data)
    kinds = [e["resource"]["resourceType"] for e in data["entry"]]
    assert kinds.count("AuditEvent") == 2
