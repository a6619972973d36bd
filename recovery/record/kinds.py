"""The record's seven tables (``recovery.record.writes``): their write rules and what the edges
derive from them (REST list order, staff a writer may name, what a device may not push)."""

from django.db import models
from django.db.models.functions import Coalesce, TruncDate

from accounts.models import CLINICIAN_ROLES, Role

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

SURGERIES = register(
    RecordKind(
        Surgery,
        "surgeries",
        sort="performed_on",
        staff_roles={"surgeon": (Role.SURGEON,)},
    )
)
HOSPITAL_STAYS = register(RecordKind(HospitalStay, "hospital_stays", sort="admitted_at"))
PAIN_LOGS = register(
    RecordKind(
        PainLog,
        "pain_logs",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        clinician_may_change=not_patients_own,
        after_write=(planning.pain_logged,),
        sort="recorded_at",
    )
)
PT_SESSIONS = register(
    RecordKind(
        PTSession,
        "pt_sessions",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        after_write=(planning.pt_session_planned,),
        sort=Coalesce("scheduled_for", "performed_at", output_field=models.DateTimeField()),
        sort_help="scheduled_for (else performed_at)",
    )
)
RESTRICTIONS = register(
    RecordKind(
        ActivityRestriction,
        "restrictions",
        after_write=(planning.restriction_planned,),
        sort="starts_on",
    )
)
APPOINTMENTS = register(
    RecordKind(
        Appointment,
        "appointments",
        after_write=(planning.appointment_planned,),
        sort="starts_at",
        staff_roles={"clinician": CLINICIAN_ROLES},
        device_read_only=frozenset({"imaging_study"}),
    )
)
MILESTONES = register(
    RecordKind(
        Milestone,
        "milestones",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        patient_fields_on_any_row=frozenset({"achieved_on"}),
        after_write=(planning.milestone_planned,),
        sort=Coalesce(
            "target_on", "achieved_on", TruncDate("created_at"), output_field=models.DateField()
        ),
        sort_help="target_on (else achieved_on, else the day it was created)",
    )
)
