from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import PatientClock
from config.errors import Conflict, DomainError, Forbidden
from recovery.models import ActivityRestriction, PainLog, PTSession, Surgery
from recovery.record.kinds import (
    APPOINTMENTS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from recovery.record.selectors import (
    current_surgeries,
    current_surgery,
    post_op_day,
    restriction_status,
)
from recovery.record.services import (
    appointment_cancel,
    appointment_complete,
    appointment_reschedule,
    milestone_achieve,
    restriction_lift,
)
from recovery.record.writes import record_create, record_delete, record_update
from tests.factories import StaffFactory, make_record

pytestmark = pytest.mark.django_db


def log(patient, actor=None, **values):
    values = {"recorded_at": timezone.now(), "intensity": 5, "location": "back", **values}
    return record_create(PAIN_LOGS, actor=actor or patient.user, patient=patient, **values)


def test_pain_log_create_stamps_the_patient_clock(patient):
    before = PatientClock.objects.get(patient=patient).value
    record, created = log(patient)
    assert created
    assert record.sync_version > before
    assert PatientClock.objects.get(patient=patient).value == record.sync_version
    second, _ = log(patient)
    assert second.sync_version > record.sync_version


def test_idempotent_create_by_client_id(patient):
    when = timezone.now()
    first, created = log(patient, id="abc123XYZ_-", recorded_at=when)
    again, created_again = log(patient, id="abc123XYZ_-", recorded_at=when)
    assert created and not created_again
    assert again.pk == first.pk
    assert PainLog.objects.count() == 1
    with pytest.raises(Conflict) as exc:
        log(patient, id="abc123XYZ_-", recorded_at=when, intensity=9)
    assert exc.value.code == "conflict"
    assert PainLog.objects.get().intensity == 5


def test_another_patients_id_is_a_conflict_not_a_leak(patient, other_patient):
    log(patient, id="shared-id")
    with pytest.raises(Conflict) as exc:
        log(other_patient, id="shared-id")
    assert exc.value.code == "id_taken"


@pytest.mark.parametrize(
    ("values", "attr"),
    [
        ({"intensity": 11}, "intensity"),
        ({"location": "elbow"}, "location"),
        ({"relief": ["ice", "magic"]}, "relief"),
        ({"recorded_at": timezone.now() + timedelta(days=3)}, "recorded_at"),
        ({"notes": "x" * 2001}, "notes"),
    ],
)
def test_pain_log_validation(patient, values, attr):
    with pytest.raises(ValidationError) as exc:
        log(patient, **values)
    assert attr in exc.value.message_dict
    assert PainLog.all_objects.count() == 0


def test_invalid_id_is_refused(patient):
    with pytest.raises(ValidationError) as exc:
        log(patient, id="bad id!")
    assert "id" in exc.value.message_dict


def test_patient_cannot_write_care_team_records(patient):
    with pytest.raises(DomainError) as exc:
        record_create(
            RESTRICTIONS,
            actor=patient.user,
            patient=patient,
            activity="lifting",
            starts_on=timezone.localdate(),
        )
    assert isinstance(exc.value, Forbidden)
    assert ActivityRestriction.all_objects.count() == 0


def test_patient_cannot_write_for_another_patient(patient, other_patient):
    with pytest.raises(DomainError) as exc:
        log(other_patient, actor=patient.user)
    assert isinstance(exc.value, Forbidden)


def test_clinician_cannot_change_the_patients_own_pain_log(patient, surgeon):
    record, _ = log(patient)
    with pytest.raises(DomainError) as exc:
        record_update(PAIN_LOGS, actor=surgeon, record=record, intensity=2)
    assert isinstance(exc.value, Forbidden)
    with pytest.raises(DomainError):
        record_delete(PAIN_LOGS, actor=surgeon, record=record)


def test_clinician_off_the_team_cannot_write(patient, clinic):
    outsider = StaffFactory(clinic=clinic, role="surgeon")
    with pytest.raises(DomainError) as exc:
        record_create(
            RESTRICTIONS,
            actor=outsider,
            patient=patient,
            activity="lifting",
            starts_on=timezone.localdate(),
        )
    assert isinstance(exc.value, Forbidden)


def test_clinic_admin_of_another_clinic_cannot_write(patient):
    admin = StaffFactory(role="clinic_admin")
    with pytest.raises(DomainError):
        record_create(
            RESTRICTIONS,
            actor=admin,
            patient=patient,
            activity="lifting",
            starts_on=timezone.localdate(),
        )


def test_delete_is_a_tombstone(patient):
    record, _ = log(patient)
    version = record.sync_version
    record_delete(PAIN_LOGS, actor=patient.user, record=record)
    assert not PainLog.objects.filter(pk=record.pk).exists()
    tomb = PainLog.all_objects.get(pk=record.pk)
    assert tomb.deleted_at is not None and tomb.sync_version > version
    with pytest.raises(Conflict):
        log(patient, id=record.pk)


def test_patient_may_mark_a_care_team_milestone_achieved_but_not_edit_it(patient, surgeon):
    milestone, _ = record_create(
        MILESTONES,
        actor=surgeon,
        patient=patient,
        title="Walk 1 km",
        kind="walk_unaided",
        target_on=timezone.localdate(),
    )
    milestone_achieve(actor=patient.user, milestone=milestone, achieved_on=timezone.localdate())
    milestone.refresh_from_db()
    assert milestone.achieved_on == timezone.localdate()
    with pytest.raises(DomainError):
        record_update(MILESTONES, actor=patient.user, record=milestone, title="Walk 100 m")


def test_restriction_dates_and_status(patient, surgeon):
    today = timezone.localdate()
    with pytest.raises(ValidationError) as exc:
        record_create(
            RESTRICTIONS,
            actor=surgeon,
            patient=patient,
            activity="lifting",
            starts_on=today,
            ends_on=today - timedelta(days=1),
        )
    # The database's rule (restriction_end_after_start), checked by full_clean().
    assert list(exc.value.message_dict) == ["__all__"]
    assert exc.value.message_dict["__all__"] == ["The restriction cannot end before it starts."]
    restriction, _ = record_create(
        RESTRICTIONS,
        actor=surgeon,
        patient=patient,
        activity="lifting",
        limit_value=10,
        limit_unit="lb",
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=30),
    )
    assert restriction_status(restriction, on=today) == "active"
    assert restriction_status(restriction, on=today - timedelta(days=5)) == "upcoming"
    assert restriction_status(restriction, on=today + timedelta(days=31)) == "ended"
    lifted = restriction_lift(actor=surgeon, restriction=restriction, lifted_on=today)
    assert lifted.lifted_by == surgeon
    assert restriction_status(lifted, on=today) == "ended"
    with pytest.raises(DomainError):
        restriction_lift(actor=surgeon, restriction=lifted)


def test_surgery_revision_rules_and_post_op_day(patient, surgeon, other_patient):
    today = timezone.localdate()
    primary, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=today - timedelta(days=700),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    with pytest.raises(ValidationError):
        record_create(
            SURGERIES,
            actor=surgeon,
            patient=patient,
            performed_on=today,
            region="lumbar",
            levels="L4-L5",
            procedure="fusion",
            revision_reasons=["pseudarthrosis"],
        )
    revision, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=today - timedelta(days=10),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        prior_surgery=primary,
    )
    assert post_op_day(patient=patient, on=today) == 10
    other_surgeon = other_patient.surgeon
    foreign, _ = record_create(
        SURGERIES,
        actor=other_surgeon,
        patient=other_patient,
        performed_on=today - timedelta(days=900),
        region="lumbar",
        levels="L5-S1",
        procedure="fusion",
    )
    with pytest.raises(ValidationError) as exc:
        record_update(SURGERIES, actor=surgeon, record=revision, prior_surgery=foreign)
    assert "prior_surgery" in exc.value.message_dict
    assert Surgery.objects.get(pk=revision.pk).prior_surgery_id == primary.pk


def test_current_surgery_is_the_latest_revision_else_the_latest_and_the_same_in_batches(
    patient, surgeon, other_patient
):
    today = timezone.localdate()

    def surgery(who, days_ago, **values):
        actor = surgeon if who == patient else who.surgeon
        record, _ = record_create(
            SURGERIES,
            actor=actor,
            patient=who,
            performed_on=today - timedelta(days=days_ago),
            region="lumbar",
            levels="L4-L5",
            procedure="fusion",
            **values,
        )
        return record

    primary = surgery(patient, 700)
    revision = surgery(
        patient, 30, is_revision=True, revision_reasons=["pseudarthrosis"], prior_surgery=primary
    )
    surgery(patient, 5)  # a later primary (another level) does not displace the revision
    only = surgery(other_patient, 100)
    same_day = surgery(other_patient, 100)
    assert current_surgery(patient=patient) == revision
    assert current_surgery(patient=other_patient) == same_day  # ties: the one recorded last
    assert current_surgeries([patient.pk, other_patient.pk]) == {
        patient.pk: revision,
        other_patient.pk: same_day,
    }
    assert only != same_day


def test_appointment_reschedule_and_state_rules(patient, surgeon):
    start = timezone.now() + timedelta(days=14)
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        purpose="wound_check",
    )
    moved = appointment_reschedule(
        actor=surgeon, appointment=appointment, starts_at=start + timedelta(days=1)
    )
    assert moved.ends_at - moved.starts_at == timedelta(minutes=30)
    appointment_complete(actor=surgeon, appointment=moved)
    with pytest.raises(DomainError) as exc:
        appointment_cancel(actor=surgeon, appointment=moved)
    assert exc.value.code == "invalid_state"


def test_pt_session_exercises_are_validated(patient):
    with pytest.raises(ValidationError) as exc:
        record_create(
            PT_SESSIONS,
            actor=patient.user,
            patient=patient,
            performed_at=timezone.now(),
            status="completed",
            exercises=[{"name": "bridges", "sets": "three"}],
        )
    assert "exercises" in exc.value.message_dict
    session, _ = record_create(
        PT_SESSIONS,
        actor=patient.user,
        patient=patient,
        performed_at=timezone.now(),
        status="completed",
        exercises=[{"name": "bridges", "sets": 3, "reps": 10}, {"name": "walk", "minutes": 20}],
        pain_before=4,
        pain_after=3,
    )
    assert session.exercises[1]["minutes"] == 20


def test_pt_session_complete_takes_only_the_session_report(patient):
    """Fields left out keep their values, ``None`` clears one, and nothing else can be changed
    through it (a typed signature: before, any field was passed on to the write path)."""
    from recovery.record.services import pt_session_complete

    session = make_record(
        "pt_sessions",
        patient,
        patient.user,
        pain_before=6,
        notes="Knees sore.",
        scheduled_for=timezone.now() - timedelta(hours=3),
    )
    done = pt_session_complete(
        actor=patient.user,
        session=session,
        performed_at=timezone.now(),
        pain_after=3,
        pain_before=None,
    )
    fresh = PTSession.objects.get(pk=session.pk)
    assert (fresh.status, fresh.pain_after, fresh.pain_before, fresh.notes) == (
        "completed",
        3,
        None,
        "Knees sore.",
    )
    assert done.sync_version == fresh.sync_version
    with pytest.raises(TypeError):
        pt_session_complete(
            actor=patient.user,
            session=fresh,
            performed_at=timezone.now(),
            scheduled_for=timezone.now(),
        )
    assert PTSession.objects.get(pk=session.pk).scheduled_for == fresh.scheduled_for
