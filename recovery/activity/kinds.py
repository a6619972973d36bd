"""Daily steps as a table of the write path (``recovery.record.writes``): one row per patient
and day, written through ``daily_steps_put`` (merged by day, never a conflict)."""

from recovery.record.writes import RecordKind, created_by_actor, not_patients_own, register

from .models import DailySteps
from .services import daily_steps_put

DAILY_STEPS = register(
    RecordKind(
        DailySteps,
        "daily_steps",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        # The phone's health store counted them: the care team reads, it does not rewrite.
        clinician_may_change=not_patients_own,
        sort="day",
        sync_since=5,
        put=daily_steps_put,
    )
)
