"""Named services per table of the record, plus the domain actions (lift, reschedule, achieve...),
all through the one write path (``writes``)."""

from datetime import date, datetime

from django.utils import timezone

from accounts.models import PatientProfile, User
from config.api.errors import ApplicationError

from .kinds import (
    APPOINTMENTS,
    HOSPITAL_STAYS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from .models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    PTStatus,
    Surgery,
)
from .writes import record_create, record_delete, record_update

__all__ = [
    "appointment_cancel",
    "appointment_complete",
    "appointment_create",
    "appointment_delete",
    "appointment_reschedule",
    "appointment_update",
    "hospital_stay_create",
    "hospital_stay_delete",
    "hospital_stay_discharge",
    "hospital_stay_update",
    "milestone_achieve",
    "milestone_create",
    "milestone_delete",
    "milestone_update",
    "pain_log_create",
    "pain_log_delete",
    "pain_log_update",
    "pt_session_complete",
    "pt_session_create",
    "pt_session_delete",
    "pt_session_update",
    "restriction_create",
    "restriction_delete",
    "restriction_lift",
    "restriction_update",
    "surgery_create",
    "surgery_delete",
    "surgery_update",
]


# Each kind gets create/update/delete through the shared write path.

def surgery_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[Surgery, bool]:
    return record_create(SURGERIES, actor=actor, patient=patient, id=id, **values)


def surgery_update(*, actor: User, surgery: Surgery, **values) -> Surgery:
    return record_update(SURGERIES, actor=actor, record=surgery, **values)


def surgery_delete(*, actor: User, surgery: Surgery) -> None:
    record_delete(SURGERIES, actor=actor, record=surgery)


def hospital_stay_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[HospitalStay, bool]:
    return record_create(HOSPITAL_STAYS, actor=actor, patient=patient, id=id, **values)


def hospital_stay_update(*, actor: User, stay: HospitalStay, **values) -> HospitalStay:
    return record_update(HOSPITAL_STAYS, actor=actor, record=stay, **values)


def hospital_stay_discharge(
    *, actor: User, stay: HospitalStay, discharged_at: datetime, discharge_disposition: str
) -> HospitalStay:
    return hospital_stay_update(
        actor=actor, stay=stay, discharged_at=discharged_at, discharge_disposition=discharge_disposition
    )


def hospital_stay_delete(*, actor: User, stay: HospitalStay) -> None:
    record_delete(HOSPITAL_STAYS, actor=actor, record=stay)


def pain_log_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[PainLog, bool]:
    return record_create(PAIN_LOGS, actor=actor, patient=patient, id=id, **values)


def pain_log_update(*, actor: User, pain_log: PainLog, **values) -> PainLog:
    return record_update(PAIN_LOGS, actor=actor, record=pain_log, **values)


def pain_log_delete(*, actor: User, pain_log: PainLog) -> None:
    record_delete(PAIN_LOGS, actor=actor, record=pain_log)


def pt_session_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[PTSession, bool]:
    return record_create(PT_SESSIONS, actor=actor, patient=patient, id=id, **values)


def pt_session_update(*, actor: User, session: PTSession, **values) -> PTSession:
    return record_update(PT_SESSIONS, actor=actor, record=session, **values)


def pt_session_complete(*, actor: User, session: PTSession, performed_at: datetime, **values) -> PTSession:
    return pt_session_update(
        actor=actor, session=session, status=PTStatus.COMPLETED, performed_at=performed_at, **values
    )


def pt_session_delete(*, actor: User, session: PTSession) -> None:
    record_delete(PT_SESSIONS, actor=actor, record=session)


def restriction_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[ActivityRestriction, bool]:
    return record_create(RESTRICTIONS, actor=actor, patient=patient, id=id, **values)


def restriction_update(
    *, actor: User, restriction: ActivityRestriction, require=None, **values
) -> ActivityRestriction:
    return record_update(
        RESTRICTIONS, actor=actor, record=restriction, require=require, **values
    )


def _not_lifted(restriction: ActivityRestriction) -> None:
    if restriction.lifted_on is not None:
        raise ApplicationError("This restriction was already lifted.", code="already_lifted")


def restriction_lift(
    *, actor: User, restriction: ActivityRestriction, lifted_on: date | None = None
) -> ActivityRestriction:
    """The surgeon lifts a restriction (from ``lifted_on``, default today in the patient's zone)."""
    lifted_on = lifted_on or timezone.localdate(timezone=restriction.patient.tz)
    return restriction_update(
        actor=actor, restriction=restriction, require=_not_lifted, lifted_on=lifted_on, lifted_by=actor
    )


def restriction_delete(*, actor: User, restriction: ActivityRestriction) -> None:
    record_delete(RESTRICTIONS, actor=actor, record=restriction)


def appointment_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[Appointment, bool]:
    return record_create(APPOINTMENTS, actor=actor, patient=patient, id=id, **values)


def appointment_update(*, actor: User, appointment: Appointment, require=None, **values) -> Appointment:
    return record_update(
        APPOINTMENTS, actor=actor, record=appointment, require=require, **values
    )


def _require_scheduled(appointment: Appointment) -> None:
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise ApplicationError(
            f"This appointment is {appointment.status}, not scheduled.", code="invalid_state", attr="status"
        )


def appointment_reschedule(
    *, actor: User, appointment: Appointment, starts_at: datetime, ends_at: datetime | None = None
) -> Appointment:
    if ends_at is None and appointment.ends_at is not None:
        ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    return appointment_update(
        actor=actor, appointment=appointment, require=_require_scheduled, starts_at=starts_at, ends_at=ends_at
    )


def appointment_cancel(*, actor: User, appointment: Appointment) -> Appointment:
    return appointment_update(
        actor=actor, appointment=appointment, require=_require_scheduled, status=AppointmentStatus.CANCELLED
    )


def appointment_complete(*, actor: User, appointment: Appointment) -> Appointment:
    return appointment_update(
        actor=actor, appointment=appointment, require=_require_scheduled, status=AppointmentStatus.COMPLETED
    )


def appointment_delete(*, actor: User, appointment: Appointment) -> None:
    record_delete(APPOINTMENTS, actor=actor, record=appointment)


def milestone_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple[Milestone, bool]:
    return record_create(MILESTONES, actor=actor, patient=patient, id=id, **values)


def milestone_update(*, actor: User, milestone: Milestone, **values) -> Milestone:
    return record_update(MILESTONES, actor=actor, record=milestone, **values)


def milestone_achieve(*, actor: User, milestone: Milestone, achieved_on: date | None = None) -> Milestone:
    """Marks a milestone achieved; the patient may do this on any of their milestones."""
    achieved_on = achieved_on or timezone.localdate(timezone=milestone.patient.tz)
    return milestone_update(actor=actor, milestone=milestone, achieved_on=achieved_on)


def milestone_delete(*, actor: User, milestone: Milestone) -> None:
    record_delete(MILESTONES, actor=actor, record=milestone)
