"""The write path's description of the record's seven tables (``recovery.record.writes``)."""

from . import planning
from .models import (
    ActivityRestriction,
    Appointment,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    Surgery,
)
from .writes import RecordKind, created_by_actor, not_patients_own, register

SURGERIES = register(RecordKind(Surgery, "surgeries"))
HOSPITAL_STAYS = register(RecordKind(HospitalStay, "hospital_stays"))
PAIN_LOGS = register(
    RecordKind(
        PainLog,
        "pain_logs",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        clinician_may_change=not_patients_own,
        after_write=(planning.pain_logged,),
    )
)
PT_SESSIONS = register(
    RecordKind(
        PTSession,
        "pt_sessions",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        after_write=(planning.pt_session_planned,),
    )
)
RESTRICTIONS = register(
    RecordKind(ActivityRestriction, "restrictions", after_write=(planning.restriction_planned,))
)
APPOINTMENTS = register(
    RecordKind(Appointment, "appointments", after_write=(planning.appointment_planned,))
)
MILESTONES = register(
    RecordKind(
        Milestone,
        "milestones",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        patient_fields_on_any_row=frozenset({"achieved_on"}),
        after_write=(planning.milestone_planned,),
    )
)
