"""Pure time arithmetic for reminders: plan steps, local times, DST and quiet hours.

Nothing here touches the database, so the rules are tested directly.

Local-time rules (decided deliberately, see docs/reminders.md):
- A local time is resolved in the patient's IANA zone with ``zoneinfo``.
- A local time that does not exist (spring forward, e.g. 02:30 on the change night) is moved
  forward by the length of the gap (02:30 -> 03:30), which is what ``fold=0`` yields.
- A local time that happens twice (fall back, e.g. 01:30) is the first occurrence (``fold=0``).
- "9:00 local" is computed per local date, so it stays 9:00 on the day after a change.
- Quiet hours defer to the first end of the quiet hours after the instant that lies outside
  them: never earlier (an instant in the repeated hour of a fall-back night is deferred to the
  second 01:30, not back to the first).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError

DATETIME_KINDS = {"appointment", "pt_session"}
DATE_KINDS = {"restriction_end", "milestone", "daily_checkin", "outcome", "prep_item"}

DEFAULT_PLANS: dict[str, list[dict]] = {
    "appointment": [
        {"key": "7d", "minutes": -7 * 24 * 60},
        {"key": "1d", "minutes": -24 * 60},
        {"key": "2h", "minutes": -120, "urgent": True},
    ],
    "pt_session": [{"key": "1h", "minutes": -60, "urgent": True}],
    "restriction_end": [{"key": "on_day", "days": 0, "at": "09:00"}],
    "milestone": [
        {"key": "on_day", "days": 0, "at": "09:00"},
        {"key": "nudge_3d", "days": 3, "at": "09:00"},
    ],
    "outcome": [
        {"key": "on_day", "days": 0, "at": "10:00"},
        {"key": "nudge_3d", "days": 3, "at": "10:00"},
    ],
    "prep_item": [
        {"key": "before_3d", "days": -3, "at": "09:00"},
        {"key": "on_day", "days": 0, "at": "09:00"},
    ],
}

_KEY = re.compile(r"^[a-z0-9_]{1,32}$")
_AT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def validate_steps(*, kind: str, steps) -> None:
    """Checks a clinic's plan: a list of well-formed steps with unique keys."""
    if kind == "daily_checkin":
        raise ValidationError({"kind": "The daily check-in follows each patient's chosen time."})
    if not isinstance(steps, list) or len(steps) > 10:
        raise ValidationError({"steps": "A list of at most 10 steps."})
    keys = set()
    for step in steps:
        if not isinstance(step, dict) or not _KEY.match(str(step.get("key", ""))):
            raise ValidationError({"steps": "Each step needs a key of a-z, 0-9 and _."})
        if step["key"] in keys:
            raise ValidationError({"steps": f"Step key {step['key']!r} is used twice."})
        keys.add(step["key"])
        unknown = set(step) - {"key", "minutes", "days", "at", "urgent"}
        if unknown:
            raise ValidationError({"steps": f"Unknown step fields: {sorted(unknown)}."})
        if "minutes" in step:
            if kind in DATE_KINDS or "days" in step or "at" in step:
                raise ValidationError(
                    {"steps": "An offset in minutes needs an anchor instant (appointments, PT)."}
                )
            if not isinstance(step["minutes"], int) or abs(step["minutes"]) > 366 * 24 * 60:
                raise ValidationError({"steps": "minutes must be an integer within a year."})
        else:
            if not isinstance(step.get("days"), int) or abs(step["days"]) > 366:
                raise ValidationError({"steps": "days must be an integer within a year."})
            if not isinstance(step.get("at"), str) or not _AT.match(step["at"]):
                raise ValidationError({"steps": "at must be a local time HH:MM."})
        if not isinstance(step.get("urgent", False), bool):
            raise ValidationError({"steps": "urgent must be true or false."})


def local_to_utc(day: date, at: time, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz`` (gap: forward; fold: first)."""
    local = datetime.combine(day, at.replace(tzinfo=None, fold=0)).replace(tzinfo=tz)
    return local.astimezone(UTC)


def parse_at(value: str | time) -> time:
    if isinstance(value, time):
        return value
    hours, minutes = value.split(":")[:2]
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def defer(self, instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
        """The instant itself, or the end of the quiet hours it falls into: the first instant
        after it whose wall time is the end and lies outside quiet hours. Never earlier.

        At a fall-back change the end can happen twice (01:30 EDT, then 01:30 EST): an instant
        in the second pass of the repeated hour is deferred to the second one, never back to
        the first. An end that does not exist (spring forward) is moved forward by the gap,
        like any local time."""
        local = instant.astimezone(tz)
        wall = local.time().replace(tzinfo=None)
        if not self.contains(wall):
            return instant
        day = local.date()
        if self.start > self.end and wall >= self.start:
            day += timedelta(days=1)
        for offset in range(3):  # a later day only when the change swallowed the whole end
            candidates = sorted(
                datetime.combine(day + timedelta(days=offset), self.end.replace(fold=fold))
                .replace(tzinfo=tz)
                .astimezone(UTC)
                for fold in (0, 1)
            )
            for end in candidates:
                if end > instant and not self.contains(end.astimezone(tz).time()):
                    return end
        raise AssertionError("unreachable: quiet hours always end within three days")


def step_due(
    *,
    step: dict,
    anchor_at: datetime | None,
    anchor_date: date | None,
    tz: zoneinfo.ZoneInfo,
    quiet: QuietHours | None,
) -> datetime:
    """The UTC due time of one plan step, quiet hours applied unless the step is urgent.

    Deferral never pushes a reminder past the instant it is about (an appointment at 08:30
    gets its 07:00 reminder at 07:00, not at the 08:00 end of the quiet hours).
    """
    if "minutes" in step:
        if anchor_at is None:
            raise ValueError("an offset step needs an anchor instant")
        due = anchor_at.astimezone(UTC) + timedelta(minutes=step["minutes"])
    else:
        day = anchor_date if anchor_date is not None else anchor_at.astimezone(tz).date()
        due = local_to_utc(day + timedelta(days=step["days"]), parse_at(step["at"]), tz)
    if quiet is not None and not step.get("urgent", False):
        deferred = quiet.defer(due, tz)
        if anchor_at is None or deferred <= anchor_at:
            due = deferred
    return due
