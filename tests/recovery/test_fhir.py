import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from accounts.models import PatientProfile, PHIAccess
from recovery.models import ActivityRestriction, PainLog
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def export(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content if hasattr(response, "content") else ""
    assert response["Content-Type"] == "application/fhir+json"
    return json.loads(b"".join(response.streaming_content))


def test_bundle_validates_and_every_reference_resolves(api, demo):
    data = export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    bundle = Bundle.model_validate(data)  # the R4B models validate every resource
    assert bundle.type == "collection"
    full_urls = {e["fullUrl"] for e in data["entry"]}
    assert len(full_urls) == len(data["entry"])  # stable, unique ids

    def references(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for item in node:
                yield from references(item)

    refs = set(references(data["entry"]))
    assert refs and refs <= full_urls

    by_type = {}
    for entry in data["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    assert len(by_type["Patient"]) == 1
    assert {
        "Practitioner",
        "Procedure",
        "Encounter",
        "Observation",
        "Appointment",
        "CarePlan",
        "Goal",
    } <= set(by_type)
    revision = next(p for p in by_type["Procedure"] if p.get("reasonCode"))
    assert {r["text"] for r in revision["reasonCode"]} == {
        "pseudarthrosis",
        "hardware complication",
    }
    assert revision["extension"][0]["valueReference"]["reference"] in full_urls
    assert by_type["Encounter"][0]["class"]["code"] == "IMP"
    pain = [
        o
        for o in by_type["Observation"]
        if o["code"].get("coding", [{}])[0].get("code") == "72514-3"
    ]
    assert len(pain) == PainLog.objects.filter(patient=demo).count()
    assert all(isinstance(o["valueInteger"], int) and "bodySite" in o for o in pain)
    activities = by_type["CarePlan"][0]["activity"]
    # The five restrictions seeded by hand and the plan's NSAID restriction.
    assert len(activities) == ActivityRestriction.objects.filter(patient=demo).count() == 6
    assert all(a["detail"]["doNotPerform"] is True for a in activities)


def test_export_ids_are_stable_between_exports(api, demo):
    first = export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    second = export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    urls = [e["fullUrl"] for e in first["entry"]]
    assert [e["fullUrl"] for e in second["entry"]][: len(urls)] == urls
    # The one more entry is the first export itself, in the record's access history.
    [new] = second["entry"][len(urls) :]
    assert new["resource"]["resourceType"] == "AuditEvent"


def test_outcome_scores_export_as_questionnaire_response_and_observation(api, demo):
    from django.utils import timezone

    from recovery.outcomes.kinds import OUTCOME_SCORES
    from recovery.record.writes import record_create

    record_create(
        OUTCOME_SCORES,
        actor=demo.user,
        patient=demo,
        id="test-odi",
        instrument="odi",
        timepoint="6w",  # the demo is 8 weeks after its surgery
        version="2.1a",
        completed_at=timezone.now(),
        answers={f"s{i}": 2 for i in range(1, 11)},
    )
    data = export(api(demo.user), "/api/v1/me/fhir/")
    Bundle.model_validate(data)
    qr = [
        e
        for e in data["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
        and e["resource"]["identifier"]["value"] == "test-odi"
    ]
    assert len(qr) == 1 and len(qr[0]["resource"]["item"]) == 10
    assert qr[0]["resource"]["questionnaire"].endswith("/odi|2.1a")
    score = [
        e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"].get("derivedFrom", [{}])[0].get("reference") == qr[0]["fullUrl"]
    ]
    assert score[0]["valueQuantity"]["value"] == 40.0


def test_export_is_scoped_and_audited(api, demo):
    outsider = StaffFactory(clinic=demo.clinic, role="surgeon")
    assert api(outsider).get(f"/api/v1/patients/{demo.pk}/fhir/").status_code == 404
    other = PatientProfile.objects.get(user__email="patient2@demo.test")
    assert api(demo.user).get(f"/api/v1/patients/{other.pk}/fhir/").status_code == 404
    assert api(None).get("/api/v1/me/fhir/").status_code == 401
    assert api(demo.surgeon).get("/api/v1/me/fhir/").status_code == 403
    export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    log = PHIAccess.objects.get()
    assert (log.user, log.patient, log.action, log.resource) == (
        demo.surgeon,
        demo,
        "export",
        "fhir",
    )


def test_export_streams_in_bounded_queries(api, demo, django_assert_max_num_queries):
    client = api(demo.surgeon)
    # one query per table (daily steps, wound photos and their reviewers, the access log: 24),
    # the PHI log's savepoint and release
    with django_assert_max_num_queries(26):
        response = client.get(f"/api/v1/patients/{demo.pk}/fhir/")
        chunks = list(response.streaming_content)
    assert len(chunks) > 100  # one piece per resource, not one big string


def test_open_alerts_export_as_flags(api, demo):
    api(demo.user).post(
        "/api/v1/check-ins/", {"answered_at": "2026-01-01T10:00:00Z", "fell": True}, format="json"
    )
    data = export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    Bundle.model_validate(data)
    flags = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Flag"]
    assert (
        len(flags) == 1
        and flags[0]["status"] == "active"
        and "fall" in flags[0]["code"]["text"].lower()
    )


def _resources(data, resource_type):
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type]


def _add_preparation_and_care(patient, surgeon, n=1, tag="x"):
    """Complications, imaging, PT sessions (completed and planned), prep items and check-ins."""
    from datetime import timedelta

    from django.utils import timezone

    from recovery.care.kinds import CHECK_INS
    from recovery.record.models import Surgery
    from recovery.record.writes import record_create
    from tests import factories

    surgery = Surgery.objects.filter(patient=patient).order_by("-performed_on").first()
    for i in range(n):
        factories.complication(
            patient,
            surgeon,
            id=f"{tag}-cx{i}",
            surgery=surgery,
            severity="severe",
            treatment="Oral antibiotics",
            resolved_on=timezone.localdate() - timedelta(days=1),
        )
        factories.imaging_study(
            patient,
            surgeon,
            id=f"{tag}-im{i}",
            surgery=surgery,
            modality="ct",
            purpose="fusion_assessment",
            fusion_status="partial",
            reading="Bridging bone on the left.",
        )
        factories.pt_session(
            patient,
            surgeon,
            id=f"{tag}-pt{i}",
            status="completed",
            performed_at=timezone.now() - timedelta(days=1),
            pain_before=6,
            pain_after=4,
        )
        factories.pt_session(patient, surgeon, id=f"{tag}-planned{i}")
        factories.prep_item(
            patient,
            surgeon,
            id=f"{tag}-prep{i}",
            surgery=surgery,
            kind="stop_smoking",
            owner="patient",
            status="done",
            due_on=surgery.performed_on - timedelta(days=7),
            completed_on=surgery.performed_on - timedelta(days=10),
            quit_on=surgery.performed_on - timedelta(days=40),
        )
        record_create(
            CHECK_INS,
            actor=patient.user,
            patient=patient,
            id=f"{tag}-ci{i}",
            answered_at=timezone.now() - timedelta(hours=i + 1),
            temperature_c="37.2",
            wound_redness=False,
            notes="Feeling better",
        )
    return surgery


def test_preparation_pt_and_check_ins_export_as_r4_resources(api, demo):
    from recovery.care.models import CheckIn
    from recovery.preparation.models import Complication, ImagingStudy, PrepItem
    from recovery.record.models import PTSession

    surgery = _add_preparation_and_care(demo, demo.surgeon)
    data = export(api(demo.surgeon), f"/api/v1/patients/{demo.pk}/fhir/")
    Bundle.model_validate(data)

    conditions = _resources(data, "Condition")
    assert len(conditions) == Complication.objects.filter(patient=demo).count()
    ours = next(c for c in conditions if c["identifier"][0]["value"] == "x-cx0")
    assert ours["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert ours["severity"]["coding"][0]["code"] == "24484000"
    assert "abatementDateTime" in ours
    operation = next(
        p for p in _resources(data, "Procedure") if p["identifier"][0]["value"] == surgery.pk
    )
    condition_url = next(
        e["fullUrl"] for e in data["entry"] if e["resource"] is ours or e["resource"] == ours
    )
    assert {"reference": condition_url} in [d for d in operation["complicationDetail"]]

    studies = _resources(data, "ImagingStudy")
    assert len(studies) == ImagingStudy.objects.filter(patient=demo).count()
    ct = next(s for s in studies if s["identifier"][0]["value"] == "x-im0")
    assert ct["modality"][0]["code"] == "CT" and ct["status"] == "available"

    sessions = [
        p
        for p in _resources(data, "Procedure")
        if p["identifier"][0]["system"].endswith("/pt_sessions")
    ]
    assert len(sessions) == PTSession.objects.filter(patient=demo, status="completed").count()
    assert "x-planned0" not in {p["identifier"][0]["value"] for p in sessions}
    assert sessions and all(p["code"]["coding"][0]["code"] == "91251008" for p in sessions)

    tasks = _resources(data, "Task")
    assert len(tasks) == PrepItem.objects.filter(patient=demo).count()
    quit_smoking = next(t for t in tasks if t["identifier"][0]["value"] == "x-prep0")
    assert quit_smoking["status"] == "completed" and quit_smoking["intent"] == "plan"
    assert quit_smoking["owner"] == quit_smoking["for"]

    check_ins = [
        r
        for r in _resources(data, "QuestionnaireResponse")
        if r["questionnaire"].endswith("/check-in")
    ]
    assert len(check_ins) == CheckIn.objects.filter(patient=demo).count() == 1
    answers = {item["linkId"]: item["answer"][0] for item in check_ins[0]["item"]}
    assert answers["wound_redness"] == {"valueBoolean": False}
    assert answers["temperature_c"] == {"valueDecimal": 37.2}
    assert "fell" not in answers  # unanswered questions are left out


def test_bundle_queries_do_not_grow_with_the_new_tables(api, demo):
    """One query per table however many complications, studies, sessions, items, check-ins."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(demo.surgeon)
    url = f"/api/v1/patients/{demo.pk}/fhir/"
    _add_preparation_and_care(demo, demo.surgeon, n=1, tag="a")
    with CaptureQueriesContext(connection) as few:
        export(client, url)
    _add_preparation_and_care(demo, demo.surgeon, n=6, tag="b")
    with CaptureQueriesContext(connection) as many:
        export(client, url)
    assert len(many) == len(few) <= 25


def test_every_record_table_reaches_the_bundle(api, patient, surgeon):
    """A table registered with the write path and left out of the FHIR export fails here."""
    from django.utils import timezone

    from recovery.care.kinds import CHECK_INS
    from recovery.record.writes import RECORD_KINDS, record_create
    from tests.factories import BUILDERS

    for table, build in BUILDERS.items():
        if table == "pt_sessions":  # only completed sessions are procedures
            build(patient, surgeon, status="completed", performed_at=timezone.now())
        elif table == "pain_logs":  # the patient's own
            build(patient)
        else:
            build(patient, surgeon)
    record_create(
        CHECK_INS, actor=patient.user, patient=patient, answered_at=timezone.now(), fell=False
    )
    data = export(api(surgeon), f"/api/v1/patients/{patient.pk}/fhir/")
    Bundle.model_validate(data)
    systems = set()
    for entry in data["entry"]:
        identifiers = entry["resource"].get("identifier", [])
        for identifier in identifiers if isinstance(identifiers, list) else [identifiers]:
            systems.add(identifier["system"].rsplit("/", 1)[-1])
    types = {e["resource"]["resourceType"] for e in data["entry"]}
    # Restrictions travel together, as the activities of one CarePlan.
    missing = set(RECORD_KINDS) - systems - ({"restrictions"} if "CarePlan" in types else set())
    assert missing == set()


def test_daily_steps_export_as_loinc_observations(api, patient, surgeon):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import daily_steps

    today = timezone.localdate(timezone=patient.tz)
    rows = [
        daily_steps(patient, id=f"st{n}", day=today - timedelta(days=n), steps=1000 * n)
        for n in (1, 2)
    ]
    data = export(api(surgeon), f"/api/v1/patients/{patient.pk}/fhir/")
    Bundle.model_validate(data)
    steps = [
        e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "41950-7"
    ]
    assert [s["identifier"][0]["value"] for s in steps] == ["st2", "st1"]  # in day order
    first = steps[0]
    assert first["code"]["coding"][0]["system"] == "http://loinc.org"
    assert first["valueQuantity"] == {
        "value": 2000,
        "unit": "steps/day",
        "system": "http://unitsofmeasure.org",
        "code": "/d",
    }
    assert first["effectiveDateTime"] == str(rows[1].day)
    assert first["subject"]["reference"] == next(
        e["fullUrl"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
