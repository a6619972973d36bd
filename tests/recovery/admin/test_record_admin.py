"""The record admin writes only through the services and turns refusals into messages."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from accounts.models import PatientClock, PHIAccess
from recovery.models import ActivityRestriction, Appointment, Milestone, PainLog
from recovery.record.kinds import APPOINTMENTS, MILESTONES, PAIN_LOGS, RESTRICTIONS
from recovery.record.services import milestone_achieve
from recovery.record.writes import record_create

pytestmark = pytest.mark.django_db


def clock(patient):
    return PatientClock.objects.get(patient=patient).value


def test_add_goes_through_the_service(client, surgeon, patient):
    client.force_login(surgeon)
    before = clock(patient)
    response = client.post(
        "/admin/recovery/milestone/add/",
        {"patient": patient.pk, "title": "First shower", "kind": "first_shower", "notes": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    milestone = Milestone.objects.get(patient=patient)
    assert milestone.created_by == surgeon
    assert milestone.sync_version > before  # the service stamped the patient's clock
    assert clock(patient) == milestone.sync_version


def test_change_goes_through_the_service(client, surgeon, patient):
    milestone, _ = record_create(
        MILESTONES, actor=surgeon, patient=patient, title="Drive", kind="drive"
    )
    client.force_login(surgeon)
    before = milestone.sync_version
    response = client.post(
        f"/admin/recovery/milestone/{milestone.pk}/change/",
        {"title": "Drive short distances", "kind": "drive", "notes": "", "record_version": before},
    )
    assert response.status_code == 302
    milestone.refresh_from_db()
    assert milestone.title == "Drive short distances"
    assert milestone.sync_version > before


def test_a_service_refusal_is_a_form_error_not_a_500(client, surgeon, patient):
    client.force_login(surgeon)
    response = client.post(
        "/admin/recovery/painlog/add/",
        {
            "patient": patient.pk,
            "recorded_at_0": (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%d"),
            "recorded_at_1": "10:00:00",
            "intensity": 4,
            "location": "back",
            "relief": "[]",
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "This is in the future." in response.content.decode()
    assert not PainLog.all_objects.exists()


def test_patients_own_pain_log_is_read_only(client, surgeon, patient):
    log, _ = record_create(
        PAIN_LOGS,
        actor=patient.user,
        patient=patient,
        recorded_at=timezone.now(),
        intensity=6,
        location="leg",
    )
    client.force_login(surgeon)
    page = client.get(f"/admin/recovery/painlog/{log.pk}/change/")
    assert page.status_code == 200
    assert 'name="intensity"' not in page.content.decode()  # no editable field
    assert 'name="_save"' not in page.content.decode()
    response = client.post(
        f"/admin/recovery/painlog/{log.pk}/change/",
        {"intensity": 1, "location": "leg", "relief": "[]", "notes": ""},
    )
    assert response.status_code == 403
    log.refresh_from_db()
    assert log.intensity == 6


def test_care_team_pain_log_is_editable(client, surgeon, patient):
    log, _ = record_create(
        PAIN_LOGS,
        actor=surgeon,
        patient=patient,
        recorded_at=timezone.now(),
        intensity=6,
        location="leg",
    )
    client.force_login(surgeon)
    assert (
        'name="intensity"'
        in client.get(f"/admin/recovery/painlog/{log.pk}/change/").content.decode()
    )


def test_delete_is_a_tombstone_and_hidden_afterwards(client, surgeon, patient):
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=timezone.now() + timedelta(days=3),
        purpose="wound_check",
    )
    client.force_login(surgeon)
    response = client.post(f"/admin/recovery/appointment/{appointment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    row = Appointment.all_objects.get(pk=appointment.pk)
    assert row.deleted_at is not None
    assert appointment.pk not in client.get("/admin/recovery/appointment/").content.decode()
    assert client.get(f"/admin/recovery/appointment/{appointment.pk}/change/").status_code == 404


def test_bulk_delete_skips_rows_the_service_refuses(client, surgeon, patient):
    own, _ = record_create(
        PAIN_LOGS,
        actor=patient.user,
        patient=patient,
        recorded_at=timezone.now(),
        intensity=3,
        location="back",
    )
    clinic_log, _ = record_create(
        PAIN_LOGS,
        actor=surgeon,
        patient=patient,
        recorded_at=timezone.now(),
        intensity=3,
        location="back",
    )
    client.force_login(surgeon)
    response = client.post(
        "/admin/recovery/painlog/",
        {"action": "delete_through_services", "_selected_action": [own.pk, clinic_log.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Deleted: 1." in text
    assert escape(f"Not deleted: {own}: This pain log is the patient's own entry.") in text
    assert PainLog.objects.filter(pk=own.pk).exists()
    assert not PainLog.objects.filter(pk=clinic_log.pk).exists()


def test_lift_restriction_action(client, surgeon, patient):
    restriction, _ = record_create(
        RESTRICTIONS,
        actor=surgeon,
        patient=patient,
        activity="driving",
        starts_on=timezone.localdate() - timedelta(days=10),
    )
    client.force_login(surgeon)
    response = client.post(
        "/admin/recovery/activityrestriction/",
        {"action": "lift", "_selected_action": [restriction.pk]},
        follow=True,
    )
    assert "Lifted: 1." in response.content.decode()
    restriction.refresh_from_db()
    assert restriction.lifted_by == surgeon and restriction.lifted_on is not None
    # Lifting again is refused by the service and reported, not a 500.
    again = client.post(
        "/admin/recovery/activityrestriction/",
        {"action": "lift", "_selected_action": [restriction.pk]},
        follow=True,
    )
    assert again.status_code == 200
    assert "already lifted" in again.content.decode()
    assert ActivityRestriction.objects.get(pk=restriction.pk).lifted_on == restriction.lifted_on


@pytest.mark.parametrize(("action", "status"), [("cancel", "cancelled"), ("complete", "completed")])
def test_appointment_actions(client, surgeon, patient, action, status):
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=timezone.now() + timedelta(days=2),
        purpose="follow_up",
    )
    client.force_login(surgeon)
    client.post(
        "/admin/recovery/appointment/",
        {"action": action, "_selected_action": [appointment.pk]},
    )
    appointment.refresh_from_db()
    assert appointment.status == status
    refused = client.post(
        "/admin/recovery/appointment/",
        {"action": "cancel", "_selected_action": [appointment.pk]},
        follow=True,
    )
    assert "not scheduled" in refused.content.decode()


def test_achieve_milestone_action(client, nurse, patient):
    milestone, _ = record_create(
        MILESTONES, actor=nurse, patient=patient, title="Walk", kind="walk_unaided"
    )
    client.force_login(nurse)
    client.post(
        "/admin/recovery/milestone/", {"action": "achieve", "_selected_action": [milestone.pk]}
    )
    milestone.refresh_from_db()
    assert milestone.achieved_on == timezone.localdate(timezone=patient.tz)


def test_actions_cannot_reach_out_of_scope_rows(client, surgeon, other_patient):
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=other_patient.surgeon,
        patient=other_patient,
        starts_at=timezone.now() + timedelta(days=2),
        purpose="follow_up",
    )
    client.force_login(surgeon)
    client.post(
        "/admin/recovery/appointment/", {"action": "cancel", "_selected_action": [appointment.pk]}
    )
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_change_pages_and_lists_write_phi_access_rows(client, surgeon, patient):
    log, _ = record_create(
        PAIN_LOGS,
        actor=patient.user,
        patient=patient,
        recorded_at=timezone.now(),
        intensity=3,
        location="back",
    )
    client.force_login(surgeon)
    client.get(f"/admin/recovery/painlog/{log.pk}/change/")
    row = PHIAccess.objects.get(action="admin_change")
    assert (row.user, row.patient, row.resource, row.object_id) == (
        surgeon,
        patient,
        "pain_logs",
        log.pk,
    )
    client.get("/admin/recovery/painlog/")
    assert (
        PHIAccess.objects.filter(action="admin_list", patient=patient, resource="pain_logs").count()
        == 1
    )
    client.get(f"/admin/accounts/patientprofile/{patient.pk}/change/")
    assert PHIAccess.objects.filter(action="admin_change", resource="patient_profile").count() == 1


CHANGELISTS = [
    "surgery",
    "hospitalstay",
    "painlog",
    "ptsession",
    "activityrestriction",
    "appointment",
    "milestone",
    "medication",
]


def changelist_queries(client, model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/admin/recovery/{model}/").status_code == 200
    return len(ctx.captured_queries)


def test_changelists_have_no_n_plus_one(client, surgeon, patient, clinic):
    from tests.factories import PatientFactory, build_record, bulk_history

    build_record(patient, surgeon, days=2)
    client.force_login(surgeon)
    few = {model: changelist_queries(client, model) for model in CHANGELISTS}
    for _ in range(3):
        more = PatientFactory(clinic=clinic, surgeon=surgeon)
        build_record(more, surgeon, days=2)
        bulk_history(more, surgeon, days=120)
    many = {model: changelist_queries(client, model) for model in CHANGELISTS}
    assert many == few


def _version_on_page(page) -> str | None:
    import re

    found = re.search(r'name="record_version" value="(\d+)"', page.content.decode())
    return found.group(1) if found else None


def test_a_stale_change_form_is_refused_and_undoes_nothing(client, surgeon, patient):
    """The surgeon opens a milestone; the patient marks it achieved; the surgeon's save of the
    form opened before must not put ``achieved_on`` back to empty."""
    milestone, _ = record_create(
        MILESTONES, actor=surgeon, patient=patient, title="Walk", kind="walk_unaided"
    )
    url = f"/admin/recovery/milestone/{milestone.pk}/change/"
    client.force_login(surgeon)
    page = client.get(url)
    assert page.status_code == 200
    version = _version_on_page(page)
    stale = {
        "title": "Walk",
        "kind": "walk_unaided",
        "target_on": "",
        "achieved_on": "",
        "notes": "Walks daily",
    }
    if version is not None:
        stale["record_version"] = version

    milestone_achieve(actor=patient.user, milestone=milestone)  # the patient, from the app
    milestone.refresh_from_db()
    achieved = (milestone.achieved_on, milestone.sync_version)

    response = client.post(url, stale)
    assert response.status_code == 200  # the form again, with the error
    assert "This record changed since you opened it; reload" in response.content.decode()
    milestone.refresh_from_db()
    assert (milestone.achieved_on, milestone.sync_version, milestone.notes) == (*achieved, "")

    fresh_page = client.get(url)
    fresh = {
        **stale,
        "achieved_on": achieved[0].isoformat(),
        "record_version": _version_on_page(fresh_page),
    }
    assert client.post(url, fresh).status_code == 302
    milestone.refresh_from_db()
    assert (milestone.achieved_on, milestone.notes) == (achieved[0], "Walks daily")


def test_a_change_form_without_its_version_is_refused(client, surgeon, patient):
    milestone, _ = record_create(
        MILESTONES, actor=surgeon, patient=patient, title="Walk", kind="walk_unaided"
    )
    client.force_login(surgeon)
    response = client.post(
        f"/admin/recovery/milestone/{milestone.pk}/change/",
        {"title": "Run", "kind": "walk_unaided", "notes": ""},
    )
    assert response.status_code == 200
    assert "reload" in response.content.decode()
    milestone.refresh_from_db()
    assert milestone.title == "Walk"
