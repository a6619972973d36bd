"""Planning services: create, move, cancel, revive, daily check-in, re-plan on new settings."""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.services import patient_preferences_update
from accounts.settings_hooks import patient_settings_changed
from reminders import services
from reminders.models import Reminder, ReminderPlan, ReminderStatus

NY = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def inbox_only(settings):
    settings.REMINDERS_CHANNELS = ["inbox"]


def sync_appointment(patient, starts_at, **kwargs):
    return services.reminders_sync_for_cause(
        patient=patient,
        kind="appointment",
        cause_type="appointment",
        cause_id="appt-1",
        anchor=starts_at,
        title=kwargs.pop("title", "Wound check"),
        **kwargs,
    )


def test_appointment_plan_creates_every_step_on_every_channel(patient):
    starts = datetime(2026, 6, 20, 10, 0, tzinfo=NY)
    rows = sync_appointment(patient, starts)
    assert len(rows) == 9
    by_step = {(r.step["key"], r.channel): r for r in rows}
    assert by_step[("7d", "push")].due_at == starts - timedelta(days=7)
    assert by_step[("1d", "email")].due_at == starts - timedelta(days=1)
    assert by_step[("2h", "inbox")].due_at == starts - timedelta(hours=2)
    assert {r.status for r in rows} == {"pending"}
    assert by_step[("2h", "push")].dedup_key == "appointment:appt-1:2h:push"
    assert all(r.available_at == r.due_at and r.title == "Wound check" for r in rows)


def test_replanning_is_idempotent(patient, inbox_only):
    starts = datetime(2026, 6, 20, 10, 0, tzinfo=NY)
    first = sync_appointment(patient, starts)
    second = sync_appointment(patient, starts)
    assert [r.pk for r in first] == [r.pk for r in second]
    assert Reminder.objects.count() == 3


def test_steps_already_past_are_not_created(patient, inbox_only):
    rows = sync_appointment(patient, NOW + timedelta(hours=30))  # the 7-day one is past
    assert sorted(r.step["key"] for r in rows) == ["1d", "2h"]


def test_moving_the_cause_moves_open_reminders_and_leaves_sent_ones(patient, inbox_only):
    starts = datetime(2026, 6, 20, 10, 0, tzinfo=NY)
    sync_appointment(patient, starts)
    sent = Reminder.objects.get(step__key="7d")
    sent.status, sent.sent_at = ReminderStatus.SENT, NOW
    sent.save()
    claimed = Reminder.objects.get(step__key="1d")
    claimed.status, claimed.attempts = ReminderStatus.CLAIMED, 1
    claimed.save()

    moved = starts + timedelta(days=2)
    sync_appointment(patient, moved, title="Imaging review")
    rows = {r.step["key"]: r for r in Reminder.objects.all()}
    assert rows["7d"].status == "sent" and rows["7d"].due_at == starts - timedelta(days=7)
    assert rows["7d"].title == "Wound check"
    assert rows["1d"].status == "pending" and rows["1d"].due_at == moved - timedelta(days=1)
    assert rows["1d"].attempts == 0 and rows["1d"].available_at == rows["1d"].due_at
    assert rows["2h"].due_at == moved - timedelta(hours=2) and rows["2h"].title == "Imaging review"
    assert Reminder.objects.count() == 3


def test_moving_into_the_past_cancels(patient, inbox_only):
    sync_appointment(patient, datetime(2026, 6, 20, 10, 0, tzinfo=NY))
    rows = sync_appointment(patient, NOW + timedelta(hours=3))
    assert [r.step["key"] for r in rows] == ["2h"]
    assert Reminder.objects.filter(status="cancelled").count() == 2


def test_overdue_but_unchanged_reminder_is_not_cancelled_by_a_resync(patient, inbox_only):
    starts = NOW + timedelta(days=1, hours=1)
    sync_appointment(patient, starts)
    with time_machine.travel(NOW + timedelta(hours=1, seconds=30), tick=False):
        sync_appointment(patient, starts, title="Same appointment, new title")
    assert Reminder.objects.get(step__key="1d").status == "pending"


def test_inactive_cause_cancels_and_reactivation_revives(patient, inbox_only):
    starts = datetime(2026, 6, 20, 10, 0, tzinfo=NY)
    sync_appointment(patient, starts)
    assert sync_appointment(patient, starts, active=False) == []
    assert set(Reminder.objects.values_list("status", flat=True)) == {"cancelled"}
    rows = sync_appointment(patient, starts)
    assert {r.status for r in rows} == {"pending"} and len(rows) == 3
    assert Reminder.objects.count() == 3


def test_anchor_none_cancels_and_cancel_for_cause_counts(patient, inbox_only):
    sync_appointment(patient, datetime(2026, 6, 20, 10, 0, tzinfo=NY))
    assert services.reminders_cancel_for_cause(cause_type="appointment", cause_id="appt-1") == 3
    assert services.reminders_cancel_for_cause(cause_type="appointment", cause_id="appt-1") == 0
    sync_appointment(patient, datetime(2026, 6, 20, 10, 0, tzinfo=NY))
    sync_appointment(patient, None)
    assert not Reminder.objects.exclude(status="cancelled").exists()


def test_restriction_end_at_nine_local_and_milestone_with_nudge(patient, inbox_only):
    rows = services.reminders_sync_for_cause(
        patient=patient,
        kind="restriction_end",
        cause_type="restriction",
        cause_id="r1",
        anchor=date(2026, 11, 2),
        title="Lifting limit ends",
    )
    assert [r.due_at.astimezone(NY) for r in rows] == [datetime(2026, 11, 2, 9, 0, tzinfo=NY)]
    assert rows[0].anchor_date == date(2026, 11, 2)
    rows = services.reminders_sync_for_cause(
        patient=patient,
        kind="milestone",
        cause_type="milestone",
        cause_id="m1",
        anchor=date(2026, 7, 1),
        title="Walk unaided",
    )
    assert [r.due_at.astimezone(NY) for r in rows] == [
        datetime(2026, 7, 1, 9, 0, tzinfo=NY),
        datetime(2026, 7, 4, 9, 0, tzinfo=NY),
    ]
    # Achieved: the clinical record cancels what is left.
    assert services.reminders_cancel_for_cause(cause_type="milestone", cause_id="m1") == 2


def test_pt_session_one_hour_before_even_in_quiet_hours(patient, inbox_only):
    starts = datetime(2026, 6, 10, 7, 30, tzinfo=NY)
    rows = services.reminders_sync_for_cause(
        patient=patient,
        kind="pt_session",
        cause_type="pt_session",
        cause_id="pt1",
        anchor=starts,
        title="PT",
    )
    assert [r.due_at for r in rows] == [starts - timedelta(hours=1)]


def test_non_urgent_reminder_in_quiet_hours_is_deferred(patient, inbox_only):
    # 7-day and 1-day reminders of an appointment at 22:30 fall at 22:30: deferred to 08:00.
    starts = datetime(2026, 6, 20, 22, 30, tzinfo=NY)
    rows = {r.step["key"]: r for r in sync_appointment(patient, starts)}
    assert rows["1d"].due_at.astimezone(NY) == datetime(2026, 6, 20, 8, 0, tzinfo=NY)
    assert rows["7d"].due_at.astimezone(NY) == datetime(2026, 6, 14, 8, 0, tzinfo=NY)
    assert rows["2h"].due_at.astimezone(NY) == datetime(2026, 6, 20, 20, 30, tzinfo=NY)


def test_clinic_plan_replaces_the_default(patient, inbox_only):
    ReminderPlan.objects.create(
        clinic=patient.clinic,
        kind="appointment",
        steps=[{"key": "eve", "days": -1, "at": "18:00"}],
    )
    rows = sync_appointment(patient, datetime(2026, 6, 20, 10, 0, tzinfo=NY))
    assert [(r.step["key"], r.due_at.astimezone(NY)) for r in rows] == [
        ("eve", datetime(2026, 6, 19, 18, 0, tzinfo=NY))
    ]


@pytest.mark.parametrize(
    ("kind", "anchor", "cause_id"),
    [
        ("appointment", datetime(2026, 6, 20, 10, 0), "a1"),  # noqa: DTZ001 - naive on purpose
        ("appointment", date(2026, 6, 20), "a1"),
        ("milestone", datetime(2026, 6, 20, 10, 0, tzinfo=UTC), "m1"),
        ("daily_checkin", date(2026, 6, 20), "c1"),
        ("appointment", datetime(2026, 6, 20, 10, 0, tzinfo=UTC), "bad id!"),
    ],
)
def test_bad_input_is_a_validation_error(patient, kind, anchor, cause_id):
    with pytest.raises(ValidationError):
        services.reminders_sync_for_cause(
            patient=patient,
            kind=kind,
            cause_type="thing",
            cause_id=cause_id,
            anchor=anchor,
            title="x",
        )
    assert not Reminder.objects.exists()


def test_dedup_key_is_unique_in_the_database(patient, inbox_only):
    row = sync_appointment(patient, datetime(2026, 6, 20, 10, 0, tzinfo=NY))[0]
    row.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


# --- Daily check-in --------------------------------------------------------------------------


def test_daily_checkins_are_planned_for_today_and_tomorrow_at_local_time(patient, inbox_only):
    # 12:00 UTC = 08:00 New York; check-in time 19:00 local.
    assert services.daily_checkins_plan() == 2
    assert services.daily_checkins_plan() == 2  # offered again, created once
    rows = list(Reminder.objects.order_by("due_at"))
    assert [r.due_at.astimezone(NY) for r in rows] == [
        datetime(2026, 6, 1, 19, 0, tzinfo=NY),
        datetime(2026, 6, 2, 19, 0, tzinfo=NY),
    ]
    assert rows[0].cause_id == f"{patient.pk}:2026-06-01"


def test_checkin_time_already_past_today_is_not_planned(patient, inbox_only):
    patient.checkin_time = time(7, 0)
    patient.save()
    services.daily_checkins_plan()
    assert [r.anchor_date for r in Reminder.objects.all()] == [date(2026, 6, 2)]


def test_pain_logged_cancels_that_days_checkin_and_planner_does_not_bring_it_back(
    patient, inbox_only
):
    services.daily_checkins_plan()
    services.daily_checkin_satisfied(patient=patient, local_date=date(2026, 6, 1))
    services.daily_checkins_plan()
    statuses = dict(Reminder.objects.values_list("anchor_date", "status"))
    assert statuses == {date(2026, 6, 1): "cancelled", date(2026, 6, 2): "pending"}


def test_pain_logged_before_the_day_was_planned_skips_it(patient, inbox_only):
    services.daily_checkin_satisfied(patient=patient, local_date=date(2026, 6, 2))
    services.daily_checkins_plan()
    statuses = dict(Reminder.objects.values_list("anchor_date", "status"))
    assert statuses == {date(2026, 6, 1): "pending", date(2026, 6, 2): "cancelled"}


def test_patients_without_checkin_time_or_inactive_get_none(patient, other_patient, inbox_only):
    patient.checkin_time = None
    patient.save()
    other_patient.user.is_active = False
    other_patient.user.save()
    assert services.daily_checkins_plan() == 0


# --- Re-planning on new settings ---------------------------------------------------------------


def test_new_time_zone_replans_local_time_reminders(patient, inbox_only, settings):
    assert "reminders.services.patient_reminders_replan" in settings.PATIENT_SETTINGS_CHANGED_HOOKS
    services.reminders_sync_for_cause(
        patient=patient,
        kind="restriction_end",
        cause_type="restriction",
        cause_id="r1",
        anchor=date(2026, 6, 10),
        title="Driving",
    )
    starts = datetime(2026, 6, 20, 15, 0, tzinfo=UTC)
    sync_appointment(patient, starts)
    with transaction.atomic():
        profile, changed = patient_preferences_update(profile=patient, time_zone="Europe/Berlin")
        patient_settings_changed(profile=profile, changed=changed)
    restriction = Reminder.objects.get(cause_type="restriction")
    assert restriction.due_at.astimezone(BERLIN) == datetime(2026, 6, 10, 9, 0, tzinfo=BERLIN)
    appt = {r.step["key"]: r.due_at for r in Reminder.objects.filter(cause_type="appointment")}
    # 15:00 UTC = 17:00 Berlin; 1 day before is not quiet; the instant does not move.
    assert appt["1d"] == starts - timedelta(days=1)
    # Check-ins for the new zone's today and tomorrow were planned too.
    checkins = Reminder.objects.filter(kind="daily_checkin").order_by("due_at")
    assert [c.due_at.astimezone(BERLIN).time() for c in checkins] == [time(19, 0), time(19, 0)]


def test_quiet_hours_change_replans(patient, inbox_only):
    starts = datetime(2026, 6, 20, 22, 30, tzinfo=NY)
    sync_appointment(patient, starts)
    with transaction.atomic():
        profile, changed = patient_preferences_update(
            profile=patient, quiet_hours_start=time(23, 0), quiet_hours_end=time(7, 0)
        )
        patient_settings_changed(profile=profile, changed=changed)
    assert Reminder.objects.get(step__key="1d").due_at == starts - timedelta(days=1)


def test_checkin_time_change_moves_open_checkins_and_turning_off_cancels(patient, inbox_only):
    services.daily_checkins_plan()
    services.patient_reminders_replan(profile=patient, changed=set())  # nothing relevant
    patient.checkin_time = time(20, 30)
    services.patient_reminders_replan(profile=patient, changed={"checkin_time"})
    times = {r.due_at.astimezone(NY).time() for r in Reminder.objects.all()}
    assert times == {time(20, 30)}
    patient.checkin_time = None
    services.patient_reminders_replan(profile=patient, changed={"checkin_time"})
    assert set(Reminder.objects.values_list("status", flat=True)) == {"cancelled"}


def test_replan_of_a_time_that_passed_sends_now_rather_than_never(patient, inbox_only):
    # 09:00 New York on 1 June is 13:00 UTC, an hour ahead; in Berlin it was 07:00 UTC.
    services.reminders_sync_for_cause(
        patient=patient,
        kind="restriction_end",
        cause_type="restriction",
        cause_id="r1",
        anchor=date(2026, 6, 1),
        title="Driving",
    )
    patient.time_zone = "Europe/Berlin"
    services.patient_reminders_replan(profile=patient, changed={"time_zone"})
    row = Reminder.objects.get(cause_type="restriction")
    assert row.status == "pending" and row.due_at == NOW


def test_time_zone_change_through_the_api_replans(patient, inbox_only):
    from tests.conftest import client_for

    services.reminders_sync_for_cause(
        patient=patient,
        kind="restriction_end",
        cause_type="restriction",
        cause_id="r1",
        anchor=date(2026, 6, 10),
        title="Driving",
    )
    response = client_for(patient.user).patch(
        "/api/v1/me/", {"time_zone": "Australia/Sydney"}, format="json"
    )
    assert response.status_code == 200, response.json()
    due = Reminder.objects.get(cause_type="restriction").due_at
    assert due.astimezone(zoneinfo.ZoneInfo("Australia/Sydney")) == datetime(
        2026, 6, 10, 9, 0, tzinfo=zoneinfo.ZoneInfo("Australia/Sydney")
    )


def test_migrations_are_up_to_date(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "reminders", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
