"""The record's domain actions (lift, reschedule, cancel, complete, achieve, discharge): each
carries a rule on top of the one write path (``writes``).

Plain creates, changes and deletes have no wrapper: call ``record_create(PAIN_LOGS, ...)``,
``record_update(SURGERIES, ...)`` or ``record_delete(...)`` with the table's ``RecordKind``
(``kinds.py``)."""

from datetime import date, datetime
from enum import Enum
from typing import Any

from django.utils import timezone

from accounts.models import User
from config.errors import Invalid

from .kinds import APPOINTMENTS, HOSPITAL_STAYS, MILESTONES, PT_SESSIONS, RESTRICTIONS
from .models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Milestone,
    PTSession,
    PTStatus,
)
from .writes import record_update

__all__ = [
    "UNSET",
    "Unset",
    "appointment_cancel",
    "appointment_complete",
    "appointment_reschedule",
    "given",
    "hospital_stay_discharge",
    "milestone_achieve",
    "pt_session_complete",
    "restriction_lift",
]


class Unset(Enum):
    """A keyword argument left out (``None`` is a value: it clears a nullable field)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def given(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were passed (not ``UNSET``)."""
    return {name: value for name, value in values.items() if value is not UNSET}


def hospital_stay_discharge(
    *, actor: User, stay: HospitalStay, discharged_at: datetime, discharge_disposition: str
) -> HospitalStay:
    return record_update(
        HOSPITAL_STAYS,
        actor=actor,
        record=stay,
        discharged_at=discharged_at,
        discharge_disposition=discharge_disposition,
    )


def pt_session_complete(
    *,
    actor: User,
    session: PTSession,
    performed_at: datetime,
    duration_minutes: int | None | Unset = UNSET,
    exercises: list[dict] | Unset = UNSET,
    pain_before: int | None | Unset = UNSET,
    pain_after: int | None | Unset = UNSET,
    exertion: int | None | Unset = UNSET,
    notes: str | Unset = UNSET,
) -> PTSession:
    """Records a session as done at ``performed_at``, with what the patient reports (the fields
    left out keep their values)."""
    return record_update(
        PT_SESSIONS,
        actor=actor,
        record=session,
        status=PTStatus.COMPLETED,
        performed_at=performed_at,
        **given(
            duration_minutes=duration_minutes,
            exercises=exercises,
            pain_before=pain_before,
            pain_after=pain_after,
            exertion=exertion,
            notes=notes,
        ),
    )


def _not_lifted(restriction: ActivityRestriction) -> None:
    if restriction.lifted_on is not None:
        raise Invalid("This restriction was already lifted.", code="already_lifted")


def restriction_lift(
    *, actor: User, restriction: ActivityRestriction, lifted_on: date | None = None
) -> ActivityRestriction:
    """The surgeon lifts a restriction (from ``lifted_on``, default today in the patient's zone)."""
    lifted_on = lifted_on or timezone.localdate(timezone=restriction.patient.tz)
    return record_update(
        RESTRICTIONS,
        actor=actor,
        record=restriction,
        require=_not_lifted,
        lifted_on=lifted_on,
        lifted_by=actor,
    )


def _require_scheduled(appointment: Appointment) -> None:
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Invalid(
            f"This appointment is {appointment.status}, not scheduled.",
            code="invalid_state",
            attr="status",
        )


def appointment_reschedule(
    *, actor: User, appointment: Appointment, starts_at: datetime, ends_at: datetime | None = None
) -> Appointment:
    """Moves a scheduled appointment; without ``ends_at`` it keeps its length (if it had an end)."""
    if ends_at is None and appointment.ends_at is not None:
        ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    return record_update(
        APPOINTMENTS,
        actor=actor,
        record=appointment,
        require=_require_scheduled,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def appointment_cancel(*, actor: User, appointment: Appointment) -> Appointment:
    return record_update(
        APPOINTMENTS,
        actor=actor,
        record=appointment,
        require=_require_scheduled,
        status=AppointmentStatus.CANCELLED,
    )


def appointment_complete(*, actor: User, appointment: Appointment) -> Appointment:
    return record_update(
        APPOINTMENTS,
        actor=actor,
        record=appointment,
        require=_require_scheduled,
        status=AppointmentStatus.COMPLETED,
    )


def milestone_achieve(
    *, actor: User, milestone: Milestone, achieved_on: date | None = None
) -> Milestone:
    """Marks a milestone achieved; the patient may do this on any of their milestones."""
    achieved_on = achieved_on or timezone.localdate(timezone=milestone.patient.tz)
    return record_update(MILESTONES, actor=actor, record=milestone, achieved_on=achieved_on)
