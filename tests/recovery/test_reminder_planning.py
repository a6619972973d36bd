"""The clinical record plans its reminders in the same transaction as the change."""

from datetime import datetime, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from recovery.care.protocols import protocol_apply
from recovery.models import Surgery
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.preparation.kinds import PREP_ITEMS
from recovery.preparation.services import prep_item_complete
from recovery.record.kinds import (
    APPOINTMENTS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from recovery.record.services import (
    appointment_cancel,
    appointment_complete,
    appointment_reschedule,
    milestone_achieve,
    restriction_lift,
)
from recovery.record.writes import record_create, record_delete
from reminders.models import Reminder
from reminders.services import daily_checkins_plan_for_patient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_channel(settings):
    settings.REMINDERS_CHANNELS = ["inbox"]


def open_reminders(cause_id):
    return list(
        Reminder.objects.filter(cause_id=cause_id, status__in=["pending", "claimed"]).order_by(
            "due_at"
        )
    )


def test_appointment_reminders_follow_the_appointment(patient, surgeon):
    start = timezone.now() + timedelta(days=10)
    appointment, _ = record_create(
        APPOINTMENTS, actor=surgeon, patient=patient, starts_at=start, purpose="follow_up"
    )
    assert [r.due_at for r in open_reminders(appointment.pk)] == [
        start - timedelta(days=7),
        start - timedelta(days=1),
        start - timedelta(hours=2),
    ] or {r.step["key"] for r in open_reminders(appointment.pk)} == {"7d", "1d", "2h"}
    moved = appointment_reschedule(
        actor=surgeon, appointment=appointment, starts_at=start + timedelta(days=2)
    )
    assert max(r.due_at for r in open_reminders(appointment.pk)) == moved.starts_at - timedelta(
        hours=2
    )
    appointment_cancel(actor=surgeon, appointment=moved)
    assert open_reminders(appointment.pk) == []


def test_completed_appointment_and_achieved_milestone_cancel_what_is_left(patient, surgeon):
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=timezone.now() + timedelta(days=3),
        purpose="wound_check",
    )
    appointment_complete(actor=surgeon, appointment=appointment)
    assert open_reminders(appointment.pk) == []
    milestone, _ = record_create(
        MILESTONES,
        actor=surgeon,
        patient=patient,
        title="Walk a mile",
        target_on=timezone.localdate() + timedelta(days=5),
    )
    assert {r.step["key"] for r in open_reminders(milestone.pk)} == {"on_day", "nudge_3d"}
    milestone_achieve(actor=patient.user, milestone=milestone)
    assert open_reminders(milestone.pk) == []


def test_restriction_end_reminder_at_nine_local_and_lifting_cancels_it(patient, surgeon):
    ends = timezone.localdate(timezone=patient.tz) + timedelta(days=20)
    restriction, _ = record_create(
        RESTRICTIONS,
        actor=surgeon,
        patient=patient,
        activity="driving",
        starts_on=ends - timedelta(days=30),
        ends_on=ends,
    )
    [reminder] = open_reminders(restriction.pk)
    assert reminder.due_at == datetime.combine(ends, time(9, 0), tzinfo=patient.tz)
    restriction_lift(actor=surgeon, restriction=restriction)
    assert open_reminders(restriction.pk) == []


def test_pt_session_reminder_and_delete(patient):
    when = timezone.now() + timedelta(days=2)
    session, _ = record_create(PT_SESSIONS, actor=patient.user, patient=patient, scheduled_for=when)
    [reminder] = open_reminders(session.pk)
    assert reminder.due_at == when - timedelta(hours=1)
    record_delete(PT_SESSIONS, actor=patient.user, record=session)
    assert open_reminders(session.pk) == []


def test_a_rolled_back_change_plans_nothing(patient, surgeon):
    with pytest.raises(RuntimeError), transaction.atomic():
        record_create(
            APPOINTMENTS,
            actor=surgeon,
            patient=patient,
            id="rolled-back",
            starts_at=timezone.now() + timedelta(days=9),
            purpose="follow_up",
        )
        raise RuntimeError("the request failed after the write")
    assert not Reminder.objects.filter(cause_id="rolled-back").exists()


def test_logging_pain_skips_that_days_check_in(patient, time_machine):
    local_noon = datetime.combine(
        timezone.localdate(timezone=patient.tz), time(12, 0), tzinfo=patient.tz
    )
    time_machine.move_to(local_noon)
    daily_checkins_plan_for_patient(profile=patient)
    today = Reminder.objects.filter(kind="daily_checkin", anchor_date=local_noon.date())
    assert today.filter(status="pending").exists()
    record_create(
        PAIN_LOGS,
        actor=patient.user,
        patient=patient,
        recorded_at=local_noon,
        intensity=3,
        location="back",
    )
    assert not today.filter(status="pending").exists()


def test_outcome_questionnaires_are_planned_from_the_surgery_and_cancelled_when_done(
    patient, surgeon
):
    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=14),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    planned = Reminder.objects.filter(cause_type="outcome_due", status="pending")
    assert {r.cause_id.split(".")[1] for r in planned} == {
        "baseline",
        "6w",
        "3m",
        "6m",
        "12m",
        "24m",
    }
    record_create(
        OUTCOME_SCORES,
        actor=patient.user,
        patient=patient,
        surgery=surgery,
        instrument="nrs_back",
        timepoint="baseline",
        completed_at=timezone.now(),
        answers={"nrs": 6},
    )
    assert not planned.filter(cause_id=f"{surgery.pk}.baseline").exists()
    record_delete(SURGERIES, actor=surgeon, record=Surgery.objects.get(pk=surgery.pk))
    assert not Reminder.objects.filter(cause_type="outcome_due", status="pending").exists()


def test_open_patient_checklist_items_are_nudged(patient, surgeon):
    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=40),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    item, _ = record_create(
        PREP_ITEMS,
        actor=surgeon,
        patient=patient,
        surgery=surgery,
        kind="stop_smoking",
        owner="patient",
        due_on=timezone.localdate() + timedelta(days=10),
    )
    assert {r.step["key"] for r in open_reminders(item.pk)} == {"before_3d", "on_day"}
    prep_item_complete(actor=patient.user, item=item, quit_on=timezone.localdate())
    assert open_reminders(item.pk) == []
    care_team_item, _ = record_create(
        PREP_ITEMS,
        actor=surgeon,
        patient=patient,
        surgery=surgery,
        kind="consent",
        owner="care_team",
        due_on=timezone.localdate() + timedelta(days=10),
    )
    assert open_reminders(care_team_item.pk) == []


def test_protocol_application_plans_reminders_for_what_it_creates(patient, surgeon):
    from recovery.models import Protocol

    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=3),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    protocol_apply(actor=surgeon, protocol=Protocol.objects.get(clinic=None), surgery=surgery)
    assert Reminder.objects.filter(kind="appointment", status="pending").count() == 5 * 3
