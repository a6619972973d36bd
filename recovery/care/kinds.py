"""The write path's description of check-ins, and what care does when other tables change:
triage of pain logs, check-ins and daily steps, protocol items that follow their surgery's date."""

from recovery.record.writes import RecordKind, batched, created_by_actor, on_write, register

from .alerts import triage_check_in, triage_pain_log, triage_pain_logs
from .models import CheckIn
from .protocols import protocols_follow_surgery
from .steps_triage import triage_daily_steps


def _check_in_written(record, action, actor) -> None:
    if action != "delete":
        triage_check_in(check_in=record)


CHECK_INS = register(
    RecordKind(
        CheckIn,
        "check_ins",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        after_write=(_check_in_written,),
        sync_since=3,
        rest_collection=False,  # its own endpoints: recovery/care/api (POST /check-ins/)
    )
)


@on_write("surgeries")
def _surgery_moved(record, action, actor) -> None:
    if action == "update":
        protocols_follow_surgery(actor=actor, surgery=record)


@on_write("pain_logs")
def _pain_log_triaged(record, action, actor) -> None:
    if action == "create":
        triage_pain_log(pain_log=record)


@batched(_pain_log_triaged)
def _pain_logs_triaged(records, action, actor) -> None:
    if action == "create":
        triage_pain_logs(pain_logs=records)


@on_write("daily_steps")
def _steps_triaged(record, action, actor) -> None:
    if action != "delete":
        triage_daily_steps(rows=[record])


@batched(_steps_triaged)
def _steps_batch_triaged(records, action, actor) -> None:
    if action != "delete":
        triage_daily_steps(rows=records)
