"""Local-time arithmetic: DST in three hemispheres' zones, quiet hours, plan validation."""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from reminders.planning import QuietHours, local_to_utc, step_due, validate_steps

NY = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
NINE = {"key": "on_day", "days": 0, "at": "09:00"}
QUIET = QuietHours(start=time(21, 0), end=time(8, 0))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        # New York: EST (-5) before 8 March 2026, EDT (-4) from then; back on 1 November.
        (NY, date(2026, 3, 7), utc(2026, 3, 7, 14, 0)),
        (NY, date(2026, 3, 8), utc(2026, 3, 8, 13, 0)),
        (NY, date(2026, 3, 9), utc(2026, 3, 9, 13, 0)),
        (NY, date(2026, 11, 1), utc(2026, 11, 1, 14, 0)),
        (NY, date(2026, 11, 2), utc(2026, 11, 2, 14, 0)),
        # Berlin: CET (+1) until 29 March 2026, CEST (+2) until 25 October.
        (BERLIN, date(2026, 3, 28), utc(2026, 3, 28, 8, 0)),
        (BERLIN, date(2026, 3, 30), utc(2026, 3, 30, 7, 0)),
        (BERLIN, date(2026, 10, 26), utc(2026, 10, 26, 8, 0)),
        # Sydney (southern hemisphere): AEDT (+11) until 5 April 2026, AEST (+10) until 4 October.
        (SYDNEY, date(2026, 4, 4), utc(2026, 4, 3, 22, 0)),
        (SYDNEY, date(2026, 4, 6), utc(2026, 4, 5, 23, 0)),
        (SYDNEY, date(2026, 10, 5), utc(2026, 10, 4, 22, 0)),
    ],
)
def test_nine_local_stays_nine_local_across_dst(tz, day, expected):
    due = step_due(step=NINE, anchor_at=None, anchor_date=day, tz=tz, quiet=QUIET)
    assert due == expected
    assert due.astimezone(tz).time() == time(9, 0)


def test_day_before_at_nine_is_computed_on_local_dates_not_24_hours():
    # Appointment Sunday 8 March 2026 10:00 EDT, the morning after the spring-forward night;
    # "the day before at 9:00" is Saturday 09:00 EST: 24 hours earlier, not 25 (a day + 1 h).
    anchor = datetime(2026, 3, 8, 10, 0, tzinfo=NY)
    due = step_due(
        step={"key": "d1", "days": -1, "at": "09:00"},
        anchor_at=anchor,
        anchor_date=None,
        tz=NY,
        quiet=QUIET,
    )
    assert due.astimezone(NY) == datetime(2026, 3, 7, 9, 0, tzinfo=NY)
    assert due == utc(2026, 3, 7, 14, 0)
    assert (anchor - due).total_seconds() == 24 * 3600


@pytest.mark.parametrize(
    ("tz", "day", "wall", "expected_local"),
    [
        (NY, date(2026, 3, 8), time(2, 30), (3, 30)),  # nonexistent: moved forward by the gap
        (BERLIN, date(2026, 3, 29), time(2, 30), (3, 30)),
        (SYDNEY, date(2026, 10, 4), time(2, 15), (3, 15)),
    ],
)
def test_nonexistent_local_time_moves_forward(tz, day, wall, expected_local):
    instant = local_to_utc(day, wall, tz)
    local = instant.astimezone(tz)
    assert (local.hour, local.minute) == expected_local
    assert local.date() == day


@pytest.mark.parametrize(
    ("tz", "day", "wall", "expected"),
    [
        (NY, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),  # first 01:30 is EDT
        (BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),  # first is CEST
        (SYDNEY, date(2026, 4, 5), time(2, 30), utc(2026, 4, 4, 15, 30)),  # first is AEDT
    ],
)
def test_repeated_local_time_is_the_first_occurrence(tz, day, wall, expected):
    assert local_to_utc(day, wall, tz) == expected


def test_quiet_hours_defer_evening_to_next_morning_and_early_morning_to_same_morning():
    evening = datetime(2026, 6, 1, 22, 30, tzinfo=BERLIN)
    assert QUIET.defer(evening, BERLIN) == datetime(2026, 6, 2, 8, 0, tzinfo=BERLIN)
    early = datetime(2026, 6, 2, 6, 0, tzinfo=BERLIN)
    assert QUIET.defer(early, BERLIN) == datetime(2026, 6, 2, 8, 0, tzinfo=BERLIN)
    noon = datetime(2026, 6, 2, 12, 0, tzinfo=BERLIN)
    assert QUIET.defer(noon, BERLIN) == noon
    assert QUIET.contains(time(21, 0)) and not QUIET.contains(time(8, 0))


def test_quiet_hours_end_on_a_dst_morning_is_local_eight():
    late = datetime(2026, 3, 7, 23, 0, tzinfo=NY)  # deferred across the spring-forward night
    assert QUIET.defer(late, NY).astimezone(NY) == datetime(2026, 3, 8, 8, 0, tzinfo=NY)


def test_daytime_quiet_hours_and_disabled_quiet_hours():
    day_quiet = QuietHours(start=time(13, 0), end=time(15, 0))
    at = datetime(2026, 6, 1, 14, 0, tzinfo=NY)
    assert day_quiet.defer(at, NY) == datetime(2026, 6, 1, 15, 0, tzinfo=NY)
    assert QuietHours(start=time(0, 0), end=time(0, 0)).defer(at, NY) == at


def test_urgent_step_is_not_deferred_and_deferral_never_passes_the_anchor():
    anchor = datetime(2026, 6, 1, 8, 30, tzinfo=NY)
    two_hours = {"key": "2h", "minutes": -120, "urgent": True}
    assert step_due(step=two_hours, anchor_at=anchor, anchor_date=None, tz=NY, quiet=QUIET) == (
        datetime(2026, 6, 1, 6, 30, tzinfo=NY)
    )
    not_urgent = {"key": "1h", "minutes": -60}  # 07:30 is quiet; 08:00 is still before 08:30
    assert step_due(step=not_urgent, anchor_at=anchor, anchor_date=None, tz=NY, quiet=QUIET) == (
        datetime(2026, 6, 1, 8, 0, tzinfo=NY)
    )
    early = datetime(2026, 6, 1, 7, 45, tzinfo=NY)  # deferring 06:45 to 08:00 would be too late
    assert step_due(step=not_urgent, anchor_at=early, anchor_date=None, tz=NY, quiet=QUIET) == (
        datetime(2026, 6, 1, 6, 45, tzinfo=NY)
    )


@pytest.mark.parametrize(
    ("kind", "steps"),
    [
        ("appointment", [{"key": "x", "minutes": "10"}]),
        ("appointment", [{"key": "x", "minutes": 10}, {"key": "x", "minutes": 20}]),
        ("restriction_end", [{"key": "x", "minutes": -60}]),
        ("milestone", [{"key": "x", "days": 1, "at": "25:00"}]),
        ("milestone", [{"key": "Bad Key", "days": 1, "at": "09:00"}]),
        ("milestone", [{"key": "x", "days": 1, "at": "09:00", "colour": "red"}]),
        ("daily_checkin", []),
        ("appointment", "not a list"),
    ],
)
def test_invalid_plans_are_rejected(kind, steps):
    with pytest.raises(ValidationError):
        validate_steps(kind=kind, steps=steps)


def test_valid_plan_passes():
    validate_steps(
        kind="appointment",
        steps=[{"key": "3d", "minutes": -4320}, {"key": "eve", "days": -1, "at": "18:00"}],
    )


# --- Quiet hours across DST changes: a deferral never moves a reminder earlier ---------------

LONDON = zoneinfo.ZoneInfo("Europe/London")
# (zone, local date of the change): New York 02:00 -> 03:00 and 02:00 -> 01:00; London
# 01:00 -> 02:00 and 02:00 -> 01:00.
DST_NIGHTS = [
    pytest.param(NY, date(2026, 3, 8), id="new-york-spring-gap"),
    pytest.param(NY, date(2026, 11, 1), id="new-york-autumn-fold"),
    pytest.param(LONDON, date(2026, 3, 29), id="london-spring-gap"),
    pytest.param(LONDON, date(2026, 10, 25), id="london-autumn-fold"),
]
# Quiet hours whose end or start lies in (or at the edge of) the gap or the repeated hour.
EDGES = [
    (time(21, 0), time(1, 30)),
    (time(21, 0), time(1, 0)),
    (time(22, 0), time(2, 0)),
    (time(22, 0), time(2, 30)),
    (time(23, 0), time(3, 0)),
    (time(1, 30), time(8, 0)),
    (time(2, 30), time(8, 0)),
    (time(1, 0), time(1, 30)),
    (time(1, 15), time(2, 45)),
    (time(21, 0), time(8, 0)),
]


@pytest.mark.parametrize(("tz", "night"), DST_NIGHTS)
@pytest.mark.parametrize(("start", "end"), EDGES, ids=lambda t: t.strftime("%H%M"))
def test_deferral_across_a_dst_change_is_never_earlier_and_lands_outside_quiet_hours(
    tz, night, start, end
):
    quiet = QuietHours(start=start, end=end)
    first = local_to_utc(night - timedelta(days=1), time(12, 0), tz)
    for minutes in range(0, 36 * 60, 5):  # every 5 minutes from noon before to midnight after
        due = first + timedelta(minutes=minutes)
        deferred = quiet.defer(due, tz)
        wall = deferred.astimezone(tz).time()
        assert deferred >= due, (due, deferred)
        assert not quiet.contains(wall), (due, deferred, wall)
        assert deferred - due <= timedelta(hours=25)
        if quiet.contains(due.astimezone(tz).time()):
            # The end of the quiet hours (moved forward by the gap when it does not exist).
            assert wall in (end, (datetime.combine(night, end) + timedelta(hours=1)).time())
        else:
            assert deferred == due


def test_second_pass_of_the_repeated_hour_is_deferred_to_the_second_end():
    quiet = QuietHours(start=time(21, 0), end=time(1, 30))
    # 01:15 EDT (05:15Z) -> 01:30 EDT; 01:15 EST (06:15Z, the hour again) -> 01:30 EST.
    assert quiet.defer(utc(2026, 11, 1, 5, 15), NY) == utc(2026, 11, 1, 5, 30)
    assert quiet.defer(utc(2026, 11, 1, 6, 15), NY) == utc(2026, 11, 1, 6, 30)
    # An end inside the spring gap is moved forward by the gap: 02:30 -> 03:30 EDT.
    assert QuietHours(start=time(22, 0), end=time(2, 30)).defer(utc(2026, 3, 8, 6, 45), NY) == utc(
        2026, 3, 8, 7, 30
    )


def test_step_due_in_the_second_pass_is_not_moved_earlier():
    """The review's case as a plan step: 06:15Z on 1 November is not "deferred" to 05:30Z."""
    step = {"key": "x", "minutes": -45}
    anchor = utc(2026, 11, 1, 7, 0)
    quiet = QuietHours(start=time(21, 0), end=time(1, 30))
    due = step_due(step=step, anchor_at=anchor, anchor_date=None, tz=NY, quiet=quiet)
    assert due == utc(2026, 11, 1, 6, 30)
