"""What webhooks add to other capabilities' writes: each event type is emitted by a hook on
the write that causes it, inside that write's transaction (``events.webhook_events_emit``).

| event                       | emitted by |
|-----------------------------|------------|
| ``alert.opened`` / ``.escalated`` / ``.acknowledged`` / ``.resolved`` | the alert lifecycle (``care.alerts.on_alert_event``) |
| ``outcome_score.recorded``  | a new row of ``outcome_scores`` |
| ``check_in.recorded``       | a new row of ``check_ins`` |
| ``appointment.missed``      | a write of ``appointments`` that leaves it ``missed`` (once per appointment and start time) |
| ``wound_photo.uploaded``    | a new row of ``wound_photos`` (the upload; a retried upload creates none) |

A new source adds its ``EventType`` in ``models.py`` and a hook here.
"""

from recovery.care.alerts import on_alert_event
from recovery.record.models import AppointmentStatus
from recovery.record.writes import batched, on_write

from .events import Emit, webhook_events_emit
from .models import EventType

ALERT_EVENT_TYPES = {
    "opened": EventType.ALERT_OPENED,
    "escalated": EventType.ALERT_ESCALATED,
    "acknowledged": EventType.ALERT_ACKNOWLEDGED,
    "resolved": EventType.ALERT_RESOLVED,
}


@on_alert_event
def _alert_changed(alert, event) -> None:
    webhook_events_emit(
        emits=[
            Emit(
                clinic_id=alert.patient.clinic_id,
                type=ALERT_EVENT_TYPES[event],
                data={
                    "alert_id": alert.pk,
                    "tier": alert.tier,
                    "status": alert.status,
                    "patient_id": alert.patient_id,
                    "source": {"table": alert.source_table, "id": alert.source_id},
                },
            )
        ]
    )


# --- Clinical records: one hook per table, with its batch form for a sync push --------------


def _check_in_emit(record) -> Emit:
    return Emit(
        clinic_id=record.patient.clinic_id,
        type=EventType.CHECK_IN_RECORDED,
        data={"check_in_id": record.pk, "patient_id": record.patient_id},
    )


@on_write("check_ins")
def _check_in_recorded(record, action, actor) -> None:
    _check_ins_recorded([record], action, actor)


@batched(_check_in_recorded)
def _check_ins_recorded(records, action, actor) -> None:
    if action == "create":
        webhook_events_emit(emits=[_check_in_emit(r) for r in records])


def _outcome_emit(record) -> Emit:
    return Emit(
        clinic_id=record.patient.clinic_id,
        type=EventType.OUTCOME_SCORE_RECORDED,
        data={
            "outcome_score_id": record.pk,
            "patient_id": record.patient_id,
            "instrument": record.instrument,
            "timepoint": record.timepoint,
        },
    )


@on_write("outcome_scores")
def _outcome_recorded(record, action, actor) -> None:
    _outcomes_recorded([record], action, actor)


@batched(_outcome_recorded)
def _outcomes_recorded(records, action, actor) -> None:
    if action == "create":
        webhook_events_emit(emits=[_outcome_emit(r) for r in records])


def _missed_emit(record) -> Emit:
    return Emit(
        clinic_id=record.patient.clinic_id,
        type=EventType.APPOINTMENT_MISSED,
        data={"appointment_id": record.pk, "patient_id": record.patient_id},
        # Once per appointment and start time: rewriting a missed appointment (a sync push
        # that sends it again) emits nothing; a rescheduled one that is missed again does.
        dedup_key=f"appointment.missed:{record.pk}:{record.starts_at.isoformat()}",
    )


@on_write("appointments")
def _appointment_written(record, action, actor) -> None:
    _appointments_written([record], action, actor)


@batched(_appointment_written)
def _appointments_written(records, action, actor) -> None:
    if action == "delete":
        return
    missed = [r for r in records if r.status == AppointmentStatus.MISSED]
    if missed:
        webhook_events_emit(emits=[_missed_emit(r) for r in missed])


@on_write("wound_photos")
def _wound_photo_written(record, action, actor) -> None:
    if action == "create":
        webhook_events_emit(
            emits=[
                Emit(
                    clinic_id=record.patient.clinic_id,
                    type=EventType.WOUND_PHOTO_UPLOADED,
                    data={"wound_photo_id": record.pk, "patient_id": record.patient_id},
                )
            ]
        )
