from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import DomainError
from recovery.care.protocols import protocol_apply, protocol_copy
from recovery.models import (
    ActivityRestriction,
    Appointment,
    Milestone,
    Protocol,
    ProtocolApplication,
    ProtocolRecord,
    PTSession,
)
from recovery.record.kinds import MILESTONES, PT_SESSIONS, RESTRICTIONS, SURGERIES
from recovery.record.services import appointment_complete, milestone_achieve
from recovery.record.writes import record_create, record_delete, record_update
from tests.factories import ClinicFactory, PatientFactory, StaffFactory
from tests.factories import surgery as surgery_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def default_protocol():
    return Protocol.objects.get(clinic=None, name="Lumbar revision fusion")


def _surgery(surgeon, patient, days_from_today):
    """A lumbar revision fusion ``days_from_today`` from the patient's today, no surgeon of record."""
    today = timezone.localdate(timezone=patient.tz)
    return surgery_record(
        patient, surgeon, performed_on=today + timedelta(days=days_from_today), surgeon=None
    )


def _counts(patient):
    return tuple(
        m.objects.filter(patient=patient).count()
        for m in (ActivityRestriction, Appointment, Milestone, PTSession)
    )


def test_default_protocol_is_shipped_with_the_published_plan(default_protocol):
    items = list(default_protocol.items.all())
    lifting = next(i for i in items if i.activity == "lifting")
    assert (lifting.limit_value, lifting.limit_unit, lifting.end_week) == (10, "lb", 6)
    assert next(i for i in items if i.activity == "high_impact").end_week is None
    assert sorted(i.day_offset for i in items if i.item_type == "appointment") == [
        14,
        42,
        91,
        182,
        365,
    ]
    assert {i.imaging for i in items if i.item_type == "appointment" and i.day_offset >= 42} == {
        "xray",
        "ct",
    }


def test_apply_creates_the_plan_once(default_protocol, patient, surgeon):
    surgery = _surgery(surgeon, patient, 10)
    application, created = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    assert created == 7 + 5 + 6 + 16
    assert _counts(patient) == (7, 5, 6, 16)
    lifting = ActivityRestriction.objects.get(patient=patient, activity="lifting")
    assert lifting.starts_on == surgery.performed_on
    assert lifting.ends_on == surgery.performed_on + timedelta(weeks=6)
    ct = Appointment.objects.get(patient=patient, imaging="ct")
    assert ct.starts_at.astimezone(patient.tz).date() == surgery.performed_on + timedelta(days=365)
    assert ct.starts_at.astimezone(patient.tz).hour == 9

    again, created_again = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    assert again.pk == application.pk and created_again == 0
    assert _counts(patient) == (7, 5, 6, 16)


def test_moving_the_surgery_shifts_what_has_not_happened(default_protocol, patient, surgeon):
    surgery = _surgery(surgeon, patient, 0)  # today: everything is created
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    wound_check = Appointment.objects.get(patient=patient, purpose="wound_check")
    appointment_complete(actor=surgeon, appointment=wound_check)
    walking = Milestone.objects.get(patient=patient, kind="walk_unaided")
    milestone_achieve(actor=patient.user, milestone=walking)
    six_weeks = Appointment.objects.get(patient=patient, purpose="follow_up")
    driving = ActivityRestriction.objects.get(patient=patient, activity="driving")
    old = (six_weeks.starts_at, driving.ends_on)

    # The date was entered wrongly: the operation was three days later.
    record_update(
        SURGERIES,
        actor=surgeon,
        record=surgery,
        performed_on=surgery.performed_on + timedelta(days=3),
    )

    six_weeks.refresh_from_db()
    driving.refresh_from_db()
    assert six_weeks.starts_at == old[0] + timedelta(days=3)
    assert driving.ends_on == old[1] + timedelta(days=3)
    assert driving.starts_on == surgery.performed_on  # already in force: its start stays
    wound_check.refresh_from_db()
    walking.refresh_from_db()
    assert wound_check.starts_at.astimezone(patient.tz).date() == surgery.performed_on + timedelta(
        days=14
    )
    assert walking.target_on == surgery.performed_on + timedelta(days=1)  # achieved: untouched


def test_edits_for_one_patient_are_kept_and_deleted_items_stay_deleted(
    default_protocol, patient, surgeon
):
    surgery = _surgery(surgeon, patient, 5)
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    lifting = ActivityRestriction.objects.get(patient=patient, activity="lifting")
    record_update(RESTRICTIONS, actor=surgeon, record=lifting, limit_value=5)
    bathing = ActivityRestriction.objects.get(patient=patient, activity="bathing")
    record_delete(RESTRICTIONS, actor=surgeon, record=bathing)

    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    lifting.refresh_from_db()
    assert lifting.limit_value == 5
    assert not ActivityRestriction.objects.filter(patient=patient, activity="bathing").exists()
    assert default_protocol.items.get(activity="lifting").limit_value == 10  # protocol untouched


def test_only_the_care_team_applies_and_only_their_clinics_protocols(
    default_protocol, patient, surgeon, other_patient
):
    surgery = _surgery(surgeon, patient, 5)
    with pytest.raises(DomainError):
        protocol_apply(actor=patient.user, protocol=default_protocol, surgery=surgery)
    foreign = protocol_copy(protocol=default_protocol, clinic=ClinicFactory())
    with pytest.raises(DomainError) as exc:
        protocol_apply(actor=surgeon, protocol=foreign, surgery=surgery)
    assert exc.value.code == "invalid"
    assert _counts(patient) == (0, 0, 0, 0)


def test_a_clinic_copy_is_editable_without_touching_the_default(default_protocol, clinic):
    copy = protocol_copy(protocol=default_protocol, clinic=clinic, name="Our lumbar revision plan")
    copy.items.filter(activity="lifting").update(end_week=12)
    assert default_protocol.items.get(activity="lifting").end_week == 6
    assert copy.items.count() == default_protocol.items.count()


def test_plan_api_for_patient_and_care_team(
    api, default_protocol, patient, surgeon, other_patient, django_assert_max_num_queries
):
    surgery = _surgery(surgeon, patient, 5)
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    with django_assert_max_num_queries(12):
        response = api(patient.user).get("/api/v1/me/plan/")
    assert response.status_code == 200
    [plan] = response.json()
    assert plan["protocol"] == "Lumbar revision fusion" and plan["surgery"] == surgery.pk
    pt = next(i for i in plan["items"] if i["item_type"] == "pt_plan")
    assert len(pt["records"]) == 16
    assert api(surgeon).get(f"/api/v1/patients/{patient.pk}/plan/").json() == response.json()
    assert api(surgeon).get(f"/api/v1/patients/{other_patient.pk}/plan/").status_code == 404
    assert api(patient.user).get(f"/api/v1/patients/{other_patient.pk}/plan/").status_code == 404


# --- Generated records are linked to their application, not found by an id prefix ------------


@pytest.fixture
def foreign_patient(db):
    """A patient of another clinic, with a surgeon there."""
    other = ClinicFactory()
    return PatientFactory(clinic=other, surgeon=StaffFactory(clinic=other, role="surgeon"))


def _pt_item(protocol):
    return protocol.items.filter(item_type="pt_plan").first()


def test_another_clinics_patient_choosing_a_generated_id_changes_nothing_in_apply(
    default_protocol, patient, surgeon, foreign_patient
):
    surgery = _surgery(surgeon, patient, 10)
    # The application row exists (as on a second apply); its ids used to be guessable.
    application = ProtocolApplication.objects.create(
        protocol=default_protocol,
        surgery=surgery,
        applied_by=surgeon,
        anchor_on=surgery.performed_on,
    )
    walking = default_protocol.items.get(item_type="milestone", milestone_kind="walk_unaided")
    taken, _ = record_create(
        MILESTONES,
        actor=foreign_patient.user,
        patient=foreign_patient,
        id=f"pa{application.pk}-{walking.pk}",
        title="mine",
        kind="other",
    )
    _, created = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    assert created == 7 + 5 + 6 + 16
    assert _counts(patient) == (7, 5, 6, 16)
    assert Milestone.objects.filter(patient=patient, kind="walk_unaided").exists()
    taken.refresh_from_db()
    assert (taken.patient, taken.title) == (foreign_patient, "mine")
    assert (
        protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)[1] == 0
    )  # still idempotent


def test_moving_the_surgery_ignores_records_of_another_patient_with_a_generated_looking_id(
    default_protocol, patient, surgeon, foreign_patient
):
    surgery = _surgery(surgeon, patient, 10)
    application, _ = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    pt = _pt_item(default_protocol)
    their_session, _ = record_create(
        PT_SESSIONS,
        actor=foreign_patient.user,
        patient=foreign_patient,
        id=f"pa{application.pk}-{pt.pk}-99",
        scheduled_for=timezone.now() + timedelta(days=30),
    )
    their_milestone, _ = record_create(
        MILESTONES,
        actor=foreign_patient.user,
        patient=foreign_patient,
        id=f"pa{application.pk}-x",
        title="mine",
        kind="other",
        target_on=timezone.localdate() + timedelta(days=30),
    )
    six_weeks = Appointment.objects.get(patient=patient, purpose="follow_up")
    before = six_weeks.starts_at

    record_update(
        SURGERIES,
        actor=surgeon,
        record=surgery,
        performed_on=surgery.performed_on + timedelta(days=3),
    )

    six_weeks.refresh_from_db()
    assert six_weeks.starts_at == before + timedelta(days=3)
    for theirs, stamp in (
        (their_session, their_session.scheduled_for),
        (their_milestone, their_milestone.target_on),
    ):
        fresh = type(theirs).objects.get(pk=theirs.pk)
        assert fresh.sync_version == theirs.sync_version
        assert (fresh.scheduled_for if isinstance(fresh, PTSession) else fresh.target_on) == stamp


def test_a_patients_own_generated_looking_records_are_not_part_of_their_plan_nor_shifted(
    api, default_protocol, patient, surgeon, foreign_patient
):
    surgery = _surgery(surgeon, patient, 10)
    application, _ = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    pt = _pt_item(default_protocol)
    when = timezone.now() + timedelta(days=30)
    own, _ = record_create(
        PT_SESSIONS,
        actor=patient.user,
        patient=patient,
        id=f"pa{application.pk}-{pt.pk}-99",
        scheduled_for=when,
    )
    record_create(
        PT_SESSIONS,
        actor=foreign_patient.user,
        patient=foreign_patient,
        id=f"pa{application.pk}-{pt.pk}-98",
        scheduled_for=when,
    )

    [plan] = api(patient.user).get("/api/v1/me/plan/").json()
    records = next(i for i in plan["items"] if i["item_type"] == "pt_plan")["records"]
    assert len(records) == 16
    assert set(records) == set(
        PTSession.objects.filter(patient=patient).exclude(pk=own.pk).values_list("pk", flat=True)
    )
    assert api(surgeon).get(f"/api/v1/patients/{patient.pk}/plan/").json() == [plan]
    assert api(foreign_patient.user).get("/api/v1/me/plan/").json() == []

    record_update(
        SURGERIES,
        actor=surgeon,
        record=surgery,
        performed_on=surgery.performed_on + timedelta(days=3),
    )
    own.refresh_from_db()
    assert own.scheduled_for == when  # the patient's own session is not the protocol's


def test_migration_links_existing_generated_records_of_the_same_patient_only(
    default_protocol, patient, surgeon, foreign_patient
):
    """Rows generated before ``ProtocolRecord`` existed carry ids ``pa<application>-<item>[-<n>]``;
    0011 links those of the application's own patient that the care team created."""
    import importlib

    from django.apps import apps

    link_generated_records = importlib.import_module(
        "recovery.migrations.0010_protocol_records"
    ).link_generated_records
    surgery = _surgery(surgeon, patient, 10)
    application = ProtocolApplication.objects.create(
        protocol=default_protocol,
        surgery=surgery,
        applied_by=surgeon,
        anchor_on=surgery.performed_on,
    )
    walking = default_protocol.items.get(item_type="milestone", milestone_kind="walk_unaided")
    driving = default_protocol.items.get(item_type="restriction", activity="driving")
    pt = _pt_item(default_protocol)
    prefix = f"pa{application.pk}-"
    when = timezone.now() + timedelta(days=40)
    milestone, _ = record_create(
        MILESTONES,
        actor=surgeon,
        patient=patient,
        id=f"{prefix}{walking.pk}",
        title="Walk",
        kind="walk_unaided",
    )
    session, _ = record_create(
        PT_SESSIONS, actor=surgeon, patient=patient, id=f"{prefix}{pt.pk}-3", scheduled_for=when
    )
    deleted, _ = record_create(
        RESTRICTIONS,
        actor=surgeon,
        patient=patient,
        id=f"{prefix}{driving.pk}",
        activity="driving",
        starts_on=surgery.performed_on,
    )
    record_delete(RESTRICTIONS, actor=surgeon, record=deleted)
    record_create(
        PT_SESSIONS,
        actor=patient.user,
        patient=patient,
        id=f"{prefix}{pt.pk}-4",
        scheduled_for=when,
    )  # the patient's
    record_create(
        PT_SESSIONS,
        actor=foreign_patient.user,
        patient=foreign_patient,
        id=f"{prefix}{pt.pk}-5",
        scheduled_for=when,
    )
    record_create(
        MILESTONES,
        actor=surgeon,
        patient=patient,
        id=f"{prefix}{pt.pk}",
        title="wrong type",
        kind="other",
    )

    link_generated_records(apps, None)

    links = {
        (link.item_id, link.slot, link.milestone_id or link.pt_session_id or link.restriction_id)
        for link in ProtocolRecord.objects.filter(application=application)
    }
    assert links == {
        (walking.pk, 0, milestone.pk),
        (pt.pk, 3, session.pk),
        (driving.pk, 0, deleted.pk),
    }
    # Applying now fills in the rest, and the deleted restriction stays deleted.
    _, created = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    assert created == 34 - 3
    assert not ActivityRestriction.objects.filter(patient=patient, activity="driving").exists()
