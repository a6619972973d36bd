"""Issue 19 item 2: applying a protocol to a recovery under way.

Applying showed no preview, duplicated what the patient already had (two of each restriction),
created past items as pending (a day-14 wound check `scheduled` weeks ago, a dozen overdue items
at once) and could race. Now: a preview says what will be created, what is skipped because the
patient already has it and what is past (recorded as not applicable, never created as pending);
applying does exactly that, once, also when two applies run at the same time."""

import threading
import time as clock
from collections import Counter
from datetime import time, timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from config.errors import Conflict
from recovery.care.models import PlanOutcome, ProtocolApplication, ProtocolRecord
from recovery.care.protocols import protocol_apply, protocol_copy
from recovery.care.selectors import APPLIED, CREATE, protocol_preview
from recovery.models import ActivityRestriction, Appointment, Milestone, Protocol, PTSession
from recovery.record.kinds import APPOINTMENTS, MILESTONES, PT_SESSIONS, RESTRICTIONS
from recovery.record.services import appointment_complete
from recovery.record.writes import record_create
from tests.factories import surgery as surgery_record

pytestmark = pytest.mark.django_db

WEEKS_AGO = 8


@pytest.fixture
def default_protocol():
    return Protocol.objects.get(clinic=None, name="Lumbar revision fusion")


def _surgery(surgeon, patient, days_from_today):
    """A lumbar revision fusion ``days_from_today`` from the patient's today, no surgeon of record."""
    today = timezone.localdate(timezone=patient.tz)
    return surgery_record(
        patient, surgeon, performed_on=today + timedelta(days=days_from_today), surgeon=None
    )


def _under_way(patient, surgeon):
    """A revision eight weeks ago whose care team already entered part of the plan by hand,
    as in the demo: four restrictions from day 0, the 2-week wound check (done), the 6-week
    follow-up, a drive milestone and two outpatient PT sessions in week 6."""
    surgery = _surgery(surgeon, patient, -7 * WEEKS_AGO)
    day0 = surgery.performed_on
    for activity in ("lifting", "bending", "twisting", "high_impact"):
        record_create(
            RESTRICTIONS,
            actor=surgeon,
            patient=patient,
            activity=activity,
            starts_on=day0,
            ends_on=None if activity == "high_impact" else day0 + timedelta(weeks=6),
            **({"limit_value": 10, "limit_unit": "lb"} if activity == "lifting" else {}),
        )
    for days, purpose in ((14, "wound_check"), (43, "follow_up")):
        starts = timezone.make_aware(
            timezone.datetime.combine(day0 + timedelta(days=days), time(9, 30)), patient.tz
        )
        appointment, _ = record_create(
            APPOINTMENTS,
            actor=surgeon,
            patient=patient,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=30),
            purpose=purpose,
        )
        appointment_complete(actor=surgeon, appointment=appointment)
    record_create(
        MILESTONES,
        actor=surgeon,
        patient=patient,
        kind="drive",
        title="Driving again",
        target_on=day0 + timedelta(days=40),
        achieved_on=day0 + timedelta(days=41),
    )
    for days in (43, 46):
        when = timezone.make_aware(
            timezone.datetime.combine(day0 + timedelta(days=days), time(10)), patient.tz
        )
        record_create(
            PT_SESSIONS,
            actor=surgeon,
            patient=patient,
            scheduled_for=when,
            performed_at=when,
            status="completed",
            setting="clinic",
        )
    return surgery


def _overdue(patient):
    """Pending items whose time has passed: what a plan must never create."""
    now = timezone.now()
    today = timezone.localdate(timezone=patient.tz)
    return (
        Appointment.objects.filter(patient=patient, status="scheduled", starts_at__lt=now).count()
        + PTSession.objects.filter(patient=patient, status="planned", scheduled_for__lt=now).count()
        + Milestone.objects.filter(
            patient=patient, achieved_on__isnull=True, target_on__lt=today
        ).count()
    )


def test_applying_to_a_recovery_under_way_neither_duplicates_nor_back_fills(
    default_protocol, patient, surgeon
):
    surgery = _under_way(patient, surgeon)
    assert _overdue(patient) == 0

    application, created = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)

    restrictions = Counter(
        ActivityRestriction.objects.filter(patient=patient).values_list("activity", flat=True)
    )
    # One of each: the four the patient had and NSAIDs (weeks 0-13: in force, created);
    # driving (weeks 0-6) and bathing (weeks 0-4) are over: not applicable, not created.
    assert restrictions == Counter(
        {"lifting": 1, "bending": 1, "twisting": 1, "high_impact": 1, "other": 1}
    )
    assert Appointment.objects.filter(patient=patient, purpose="wound_check").count() == 1
    assert Appointment.objects.filter(patient=patient, purpose="follow_up").count() == 1
    assert Milestone.objects.filter(patient=patient, kind="drive").count() == 1
    assert _overdue(patient) == 0  # nothing past-dated created as pending

    outcomes = Counter(
        ProtocolRecord.objects.filter(application=application).values_list("outcome", flat=True)
    )
    assert sum(outcomes.values()) == 34  # every planned record is accounted for
    assert outcomes[PlanOutcome.CREATED] == created
    # Already present: 4 restrictions, 2 appointments, the drive milestone, 2 PT sessions.
    assert outcomes[PlanOutcome.ALREADY_PRESENT] == 9
    # Not applicable: driving and bathing (ended); walking (day 1), off opioids (day 28) and
    # start outpatient PT (day 42) (back to work, day 56, is today: created); the day-49 and
    # day-52 PT sessions; today's (day 56, 10:00 local) once its time has passed.
    assert outcomes[PlanOutcome.NOT_APPLICABLE] in (2 + 3 + 2, 2 + 3 + 3)
    linked = ProtocolRecord.objects.filter(application=application, outcome="created")
    assert linked.filter(restriction__isnull=False).count() == 1
    assert not linked.filter(appointment__starts_at__lt=timezone.now()).exists()


def test_applying_twice_creates_nothing_the_second_time(default_protocol, patient, surgeon):
    surgery = _under_way(patient, surgeon)
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    counts = [m.objects.filter(patient=patient).count() for m in (ActivityRestriction, Appointment)]
    links = ProtocolRecord.objects.count()

    preview = protocol_preview(protocol=default_protocol, surgery=surgery)
    assert {row.action for row in preview.rows} == {APPLIED}
    _, created = protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)

    assert created == 0
    assert ProtocolRecord.objects.count() == links
    assert [
        m.objects.filter(patient=patient).count() for m in (ActivityRestriction, Appointment)
    ] == counts


def test_a_second_protocol_skips_what_the_first_created(default_protocol, patient, surgeon, clinic):
    surgery = _surgery(surgeon, patient, 3)
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)
    ours = protocol_copy(protocol=default_protocol, clinic=clinic, name="Ours")

    _, created = protocol_apply(actor=surgeon, protocol=ours, surgery=surgery)

    assert created == 0
    assert ActivityRestriction.objects.filter(patient=patient).count() == 7
    assert PTSession.objects.filter(patient=patient).count() == 16


def test_the_preview_is_what_apply_does_and_writes_nothing(
    default_protocol, patient, surgeon, django_assert_max_num_queries
):
    surgery = _under_way(patient, surgeon)
    before = (ProtocolApplication.objects.count(), ActivityRestriction.objects.count())

    with django_assert_max_num_queries(7):
        preview = protocol_preview(protocol=default_protocol, surgery=surgery)

    assert (ProtocolApplication.objects.count(), ActivityRestriction.objects.count()) == before
    present = preview.where(PlanOutcome.ALREADY_PRESENT)
    assert {row.existing.patient_id for row in present} == {patient.pk}
    wound = next(
        r for r in present if r.model is Appointment and r.values["purpose"] == "wound_check"
    )
    assert wound.existing.purpose == "wound_check"
    past = preview.where(PlanOutcome.NOT_APPLICABLE)
    assert {r.values.get("activity") for r in past if r.model is ActivityRestriction} == {
        "driving",
        "bathing",
    }
    to_create = preview.where(CREATE)

    application, created = protocol_apply(
        actor=surgeon, protocol=default_protocol, surgery=surgery, expected=preview.fingerprint
    )

    assert created == len(to_create)
    stored = {
        (link.item_id, link.slot): link.outcome
        for link in ProtocolRecord.objects.filter(application=application)
    }
    assert stored == {
        (row.item.pk, row.slot): PlanOutcome.CREATED if row.action == CREATE else row.action
        for row in preview.rows
    }


def test_a_plan_that_changed_since_the_preview_is_not_applied(default_protocol, patient, surgeon):
    surgery = _surgery(surgeon, patient, 3)
    preview = protocol_preview(protocol=default_protocol, surgery=surgery)
    # Meanwhile a colleague books the wound check by hand.
    starts = timezone.now() + timedelta(days=17)
    record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        purpose="wound_check",
    )

    with pytest.raises(Conflict) as refused:
        protocol_apply(
            actor=surgeon, protocol=default_protocol, surgery=surgery, expected=preview.fingerprint
        )

    assert refused.value.code == "stale_preview"
    assert not ProtocolApplication.objects.filter(surgery=surgery).exists()
    assert ActivityRestriction.objects.filter(patient=patient).count() == 0


def test_the_plan_api_lists_what_was_skipped(api, default_protocol, patient, surgeon):
    surgery = _under_way(patient, surgeon)
    protocol_apply(actor=surgeon, protocol=default_protocol, surgery=surgery)

    [plan] = api(patient.user).get("/api/v1/me/plan/").json()

    bathing = next(i for i in plan["items"] if "bathing" in i["description"])
    assert bathing["records"] == []
    assert bathing["skipped"] == [{"on": str(surgery.performed_on), "reason": "not_applicable"}]
    lifting = next(i for i in plan["items"] if "lifting" in i["description"])
    assert lifting["skipped"][0]["reason"] == "already_present"


# --- two applies at the same time (PostgreSQL row locks, one connection per thread) ---------


def _apply_in_thread(protocol, surgery, actor, *, hold: threading.Event | None, done, errors):
    try:
        with transaction.atomic():
            protocol_apply(actor=actor, protocol=protocol, surgery=surgery)
            done.set()
            if hold is not None:
                assert hold.wait(10)  # keep the transaction (and its locks) open
    except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
        errors.append(exc)
        done.set()
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_protocol", [True, False], ids=["same", "two-protocols"])
def test_two_concurrent_applies_do_not_duplicate(same_protocol, patient, surgeon, clinic):
    default = Protocol.objects.get(clinic=None, name="Lumbar revision fusion")
    other = default if same_protocol else protocol_copy(protocol=default, clinic=clinic)
    surgery = _surgery(surgeon, patient, 3)
    errors: list = []
    first_done, second_done, release = threading.Event(), threading.Event(), threading.Event()
    first = threading.Thread(
        target=_apply_in_thread,
        args=(default, surgery, surgeon),
        kwargs={"hold": release, "done": first_done, "errors": errors},
    )
    second = threading.Thread(
        target=_apply_in_thread,
        args=(other, surgery, surgeon),
        kwargs={"hold": None, "done": second_done, "errors": errors},
    )
    first.start()
    assert first_done.wait(30)
    second.start()
    clock.sleep(0.5)
    # The first apply has not committed: the second waits for the patient's lock.
    assert not second_done.is_set()
    release.set()
    first.join(30)
    second.join(30)

    assert errors == []
    assert ActivityRestriction.objects.filter(patient=patient).count() == 7
    assert Appointment.objects.filter(patient=patient).count() == 5
    assert PTSession.objects.filter(patient=patient).count() == 16
    assert ProtocolApplication.objects.filter(surgery=surgery).count() == (
        1 if same_protocol else 2
    )
