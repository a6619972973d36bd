"""A FHIR R4 ``Bundle`` (type ``collection``) of one patient's whole recovery.

Resource ids are stable: a UUID derived from the record's table and id (our ids may contain
``_``, which FHIR ids do not allow), with our own id kept as an ``identifier``. Every reference
points at an entry of the same Bundle (``urn:uuid:`` full URLs).

The Bundle is produced as a stream of JSON fragments: each table is read in chunks
(``QuerySet.iterator``), so a long history never sits in memory at once.
"""

import uuid
from collections.abc import Iterator
from datetime import date, datetime

import orjson
from django.utils import timezone

from accounts.models import PatientProfile, User
from recovery.care.models import (
    Alert,
    AlertStatus,
)
from recovery.outcomes.models import (
    QUESTIONNAIRES,
    OutcomeScore,
)
from recovery.outcomes.scoring import score_band
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Milestone,
    PainLog,
    Surgery,
)

NAMESPACE = uuid.UUID("6f1c1f3e-6a55-4cf0-9a52-3b7a0c1d2e11")
ID_SYSTEM = "https://realign.app/fhir/id/"
EXT_PRIOR_SURGERY = "https://realign.app/fhir/StructureDefinition/prior-surgery"
LOINC = "http://loinc.org"
PAIN_SEVERITY = {
    "system": LOINC,
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}
CHUNK = 500

APPOINTMENT_STATUS = {
    AppointmentStatus.SCHEDULED: "booked",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.MISSED: "noshow",
}


def fhir_id(kind: str, key) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{key}"))


def ref(kind: str, key) -> dict:
    return {"reference": f"urn:uuid:{fhir_id(kind, key)}"}


def _identifier(table: str, key) -> list[dict]:
    return [{"system": ID_SYSTEM + table, "value": str(key)}]


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _entry(resource_type: str, key, resource: dict) -> bytes:
    rid = fhir_id(resource_type, key)
    body = {
        "resourceType": resource_type,
        "id": rid,
        **{k: v for k, v in resource.items() if v not in (None, [], "")},
    }
    return orjson.dumps({"fullUrl": f"urn:uuid:{rid}", "resource": body})


def _patient(profile: PatientProfile) -> bytes:
    user = profile.user
    return _entry(
        "Patient",
        profile.pk,
        {
            "identifier": [
                *_identifier("patients", profile.pk),
                *(
                    [
                        {
                            "type": {"text": "MRN"},
                            "system": f"{ID_SYSTEM}mrn/{profile.clinic_id}",
                            "value": profile.mrn,
                        }
                    ]
                    if profile.mrn
                    else []
                ),
            ],
            "name": [
                {"family": user.last_name, "given": [user.first_name] if user.first_name else []}
            ],
            "telecom": [{"system": "email", "value": user.email}],
            "birthDate": _d(profile.date_of_birth),
            "generalPractitioner": [ref("Practitioner", profile.surgeon_id)]
            if profile.surgeon_id
            else None,
        },
    )


def _practitioner(user) -> bytes:
    return _entry(
        "Practitioner",
        user.pk,
        {
            "identifier": _identifier("users", user.pk),
            "name": [
                {"family": user.last_name, "given": [user.first_name] if user.first_name else []}
            ],
        },
    )


def _procedure(s: Surgery, patient_ref: dict) -> bytes:
    name = f"{'Revision ' if s.is_revision else ''}{s.region} {s.get_procedure_display().lower()} {s.levels}"
    return _entry(
        "Procedure",
        s.pk,
        {
            "identifier": _identifier("surgeries", s.pk),
            "status": "completed",
            "code": {"text": name},
            "subject": patient_ref,
            "performedDateTime": _d(s.performed_on),
            "performer": [{"actor": ref("Practitioner", s.surgeon_id)}] if s.surgeon_id else None,
            "bodySite": [{"text": f"{s.region} spine {s.levels}"}],
            "reasonCode": [{"text": reason.replace("_", " ")} for reason in s.revision_reasons],
            "extension": [
                {"url": EXT_PRIOR_SURGERY, "valueReference": ref("Procedure", s.prior_surgery_id)}
            ]
            if s.prior_surgery_id
            else None,
            "note": [{"text": s.notes}] if s.notes else None,
        },
    )


def _encounter(stay: HospitalStay, patient_ref: dict) -> bytes:
    return _entry(
        "Encounter",
        stay.pk,
        {
            "identifier": _identifier("hospital_stays", stay.pk),
            "status": "finished" if stay.discharged_at else "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
                "display": "inpatient encounter",
            },
            "subject": patient_ref,
            "period": {"start": _dt(stay.admitted_at), "end": _dt(stay.discharged_at)},
            "reasonReference": [ref("Procedure", stay.surgery_id)],
            "hospitalization": {"dischargeDisposition": {"text": stay.discharge_disposition}}
            if stay.discharge_disposition
            else None,
        },
    )


def _pain(log: PainLog, patient_ref: dict) -> bytes:
    return _entry(
        "Observation",
        f"pain/{log.pk}",
        {
            "identifier": _identifier("pain_logs", log.pk),
            "status": "final",
            "code": {"coding": [PAIN_SEVERITY], "text": "Pain severity (0-10)"},
            "subject": patient_ref,
            "effectiveDateTime": _dt(log.recorded_at),
            "valueInteger": log.intensity,
            "bodySite": {"text": log.location},
            "note": [{"text": log.notes}] if log.notes else None,
        },
    )


def _appointment(a: Appointment, patient_ref: dict) -> bytes:
    participants = [{"actor": patient_ref, "status": "accepted"}]
    if a.clinician_id:
        participants.append({"actor": ref("Practitioner", a.clinician_id), "status": "accepted"})
    return _entry(
        "Appointment",
        a.pk,
        {
            "identifier": _identifier("appointments", a.pk),
            "status": APPOINTMENT_STATUS[a.status],
            "description": a.get_purpose_display()
            + (f", {a.get_imaging_display()}" if a.imaging != "none" else ""),
            "start": _dt(a.starts_at),
            "end": _dt(a.ends_at or a.starts_at),
            "participant": participants,
            "comment": a.notes or None,
        },
    )


def _careplan(
    patient: PatientProfile, restrictions: list[ActivityRestriction], patient_ref: dict
) -> bytes:
    today = timezone.localdate(timezone=patient.tz)
    activities = []
    for r in restrictions:
        limit = (
            f" over {r.limit_value.normalize()} {r.limit_unit}" if r.limit_value is not None else ""
        )
        status = {"upcoming": "not-started", "active": "in-progress", "ended": "completed"}[
            r.status_on(today)
        ]
        activities.append(
            {
                "detail": {
                    "status": status,
                    "doNotPerform": True,
                    "code": {"text": r.activity},
                    "description": f"No {r.get_activity_display().lower()}{limit}. {r.instructions}".strip(),
                    "scheduledPeriod": {
                        k: v
                        for k, v in {"start": _d(r.starts_on), "end": _d(r.effective_end)}.items()
                        if v
                    },
                }
            }
        )
    return _entry(
        "CarePlan",
        f"restrictions/{patient.pk}",
        {
            "status": "active",
            "intent": "plan",
            "title": "Activity restrictions after spine surgery",
            "subject": patient_ref,
            "activity": activities,
        },
    )


def _goal(m: Milestone, patient_ref: dict) -> bytes:
    achieved = m.achieved_on is not None
    return _entry(
        "Goal",
        m.pk,
        {
            "identifier": _identifier("milestones", m.pk),
            "lifecycleStatus": "completed" if achieved else "active",
            "achievementStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "code": "achieved" if achieved else "in-progress",
                    }
                ]
            },
            "description": {"text": m.title},
            "subject": patient_ref,
            "target": [{"dueDate": _d(m.target_on)}] if m.target_on else None,
            "statusDate": _d(m.achieved_on),
        },
    )


def _outcome(score: OutcomeScore, patient_ref: dict) -> Iterator[bytes]:
    derived = None
    if score.instrument in QUESTIONNAIRES:
        version = f"|{score.version}" if score.version else ""
        yield _entry(
            "QuestionnaireResponse",
            score.pk,
            {
                "identifier": {"system": ID_SYSTEM + "outcome_scores", "value": score.pk},
                "questionnaire": f"https://realign.app/fhir/Questionnaire/{score.instrument}{version}",
                "status": "completed",
                "subject": patient_ref,
                "authored": _dt(score.completed_at),
                "item": [
                    {"linkId": key, "answer": [{"valueInteger": value}]}
                    for key, value in sorted(score.answers.items(), key=lambda kv: int(kv[0][1:]))
                    if value is not None
                ],
            },
        )
        derived = [ref("QuestionnaireResponse", score.pk)]
    unit = (
        {"code": "%", "unit": "%"}
        if score.instrument in QUESTIONNAIRES
        else {"code": "{score}", "unit": "score"}
    )
    band = score_band(score.instrument, score.score)
    yield _entry(
        "Observation",
        f"score/{score.pk}",
        {
            "identifier": _identifier("outcome_scores", score.pk),
            "status": "final",
            "code": {"text": f"{score.get_instrument_display()} score"},
            "subject": patient_ref,
            "effectiveDateTime": _dt(score.completed_at),
            "valueQuantity": {
                "value": float(score.score),
                "system": "http://unitsofmeasure.org",
                **unit,
            },
            "interpretation": [{"text": band}] if band else None,
            "derivedFrom": derived,
            "note": [
                {
                    "text": f"{score.get_timepoint_display()}; {score.sections_answered} of 10 sections"
                }
            ]
            if score.instrument in QUESTIONNAIRES
            else None,
        },
    )


def _flag(alert: Alert, patient_ref: dict) -> bytes:
    return _entry(
        "Flag",
        f"alert/{alert.pk}",
        {
            "identifier": _identifier("alerts", alert.pk),
            "status": "active",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                            "code": "clinical",
                            "display": "Clinical",
                        }
                    ]
                }
            ],
            "code": {"text": f"{alert.get_tier_display()}: {alert.title}"},
            "subject": patient_ref,
            "period": {"start": _dt(alert.opened_at)},
        },
    )


def bundle_stream(*, patient: PatientProfile) -> Iterator[bytes]:
    """Yields the Bundle as JSON in pieces. Memory stays bounded by ``CHUNK`` rows."""
    patient_ref = ref("Patient", patient.pk)
    pid = patient.pk
    yield (
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "id": fhir_id("Bundle", f"{pid}/{timezone.now().isoformat()}"),
                "type": "collection",
                "timestamp": timezone.now().isoformat(),
            }
        )[:-1]
        + b',"entry":['
    )
    first = True

    def emit(chunk: bytes) -> bytes:
        nonlocal first
        out = chunk if first else b"," + chunk
        first = False
        return out

    yield emit(_patient(patient))
    surgeries = list(Surgery.objects.filter(patient_id=pid).order_by("performed_on"))
    practitioner_ids = {patient.surgeon_id} | {s.surgeon_id for s in surgeries}
    practitioner_ids |= set(
        Appointment.objects.filter(patient_id=pid).values_list("clinician_id", flat=True)
    )
    for user in User.objects.filter(pk__in=practitioner_ids - {None}):
        yield emit(_practitioner(user))
    for surgery in surgeries:
        yield emit(_procedure(surgery, patient_ref))
    for stay in HospitalStay.objects.filter(patient_id=pid).order_by("admitted_at"):
        yield emit(_encounter(stay, patient_ref))
    for log in (
        PainLog.objects.filter(patient_id=pid)
        .order_by("recorded_at", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_pain(log, patient_ref))
    for appointment in (
        Appointment.objects.filter(patient_id=pid).order_by("starts_at").iterator(chunk_size=CHUNK)
    ):
        yield emit(_appointment(appointment, patient_ref))
    restrictions = list(
        ActivityRestriction.objects.filter(patient_id=pid).order_by("starts_on", "id")
    )
    if restrictions:
        yield emit(_careplan(patient, restrictions, patient_ref))
    for milestone in (
        Milestone.objects.filter(patient_id=pid)
        .order_by("target_on", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_goal(milestone, patient_ref))
    for score in (
        OutcomeScore.objects.filter(patient_id=pid)
        .order_by("completed_at")
        .iterator(chunk_size=CHUNK)
    ):
        for piece in _outcome(score, patient_ref):
            yield emit(piece)
    for alert in (
        Alert.objects.filter(patient_id=pid)
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("opened_at")
    ):
        yield emit(_flag(alert, patient_ref))
    yield b"]}"
