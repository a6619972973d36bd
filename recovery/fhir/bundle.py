"""A FHIR R4 ``Bundle`` (type ``collection``) of one patient's whole recovery.

Resource ids are stable: a UUID derived from the record's table and id (our ids may contain
``_``, which FHIR ids do not allow), with our own id kept as an ``identifier``. Every reference
points at an entry of the same Bundle (``urn:uuid:`` full URLs).

The Bundle is produced as a stream of JSON fragments: each table is read in chunks
(``QuerySet.iterator``), so a long history never sits in memory at once.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime

import orjson
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.selectors import access_history_for
from recovery.activity.models import DailySteps
from recovery.care.models import (
    Alert,
    AlertStatus,
    CheckIn,
)
from recovery.outcomes.models import (
    QUESTIONNAIRES,
    OutcomeScore,
)
from recovery.outcomes.scoring import score_band
from recovery.photos.models import WoundPhoto
from recovery.photos.storage import signed_url
from recovery.preparation.models import (
    Complication,
    ImagingStudy,
    PrepItem,
    PrepOwner,
    PrepStatus,
)
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    HospitalStay,
    Medication,
    Milestone,
    PainLog,
    PTSession,
    PTStatus,
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
STEPS_PER_DAY = {
    "system": LOINC,
    "code": "41950-7",
    "display": "Number of steps in 24 hour Measured",
}
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CHUNK = 500

SNOMED = "http://snomed.info/sct"
PHYSICAL_THERAPY = {"system": SNOMED, "code": "91251008", "display": "Physical therapy procedure"}
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
MODALITY = {
    "xray": ("DX", "Digital Radiography"),
    "flexion_extension_xray": ("DX", "Digital Radiography"),
    "ct": ("CT", "Computed Tomography"),
    "mri": ("MR", "Magnetic Resonance"),
}
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_SEVERITY = {  # SNOMED CT severity qualifiers (FHIR's condition-severity value set)
    "mild": ("255604002", "Mild"),
    "moderate": ("6736007", "Moderate"),
    "severe": ("24484000", "Severe"),
    "life_threatening": ("442452003", "Life threatening severity"),
}
PREP_TASK_STATUS = {
    PrepStatus.OPEN: "requested",
    PrepStatus.DONE: "completed",
    PrepStatus.WAIVED: "cancelled",
}
CHECK_IN_QUESTIONNAIRE = "https://realign.app/fhir/Questionnaire/check-in"

APPOINTMENT_STATUS = {
    AppointmentStatus.SCHEDULED: "booked",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.MISSED: "noshow",
}


def fhir_id(kind: str, key) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{key}"))


# How references are written: ``urn:uuid:<id>`` inside a Bundle (every reference points at an
# entry's full URL), ``<Type>/<id>`` in Bulk Data NDJSON files, where no Bundle holds the
# resources (``relative_references``).
_RELATIVE_REFERENCES: ContextVar[bool] = ContextVar("fhir_relative_references", default=False)


def ref(kind: str, key) -> dict:
    if _RELATIVE_REFERENCES.get():
        return {"reference": f"{kind}/{fhir_id(kind, key)}"}
    return {"reference": f"urn:uuid:{fhir_id(kind, key)}"}


@contextmanager
def relative_references():
    """Within this block ``ref`` writes ``<Type>/<id>`` (for resources outside a Bundle). A
    generator of ``patient_resources`` builds its resources when it is advanced, so advance it
    inside the block."""
    token = _RELATIVE_REFERENCES.set(True)
    try:
        yield
    finally:
        _RELATIVE_REFERENCES.reset(token)


def _identifier(table: str, key) -> list[dict]:
    return [{"system": ID_SYSTEM + table, "value": str(key)}]


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _resource(resource_type: str, key, fields: dict) -> dict:
    """One resource: its type, its stable id, and the fields that have a value."""
    return {
        "resourceType": resource_type,
        "id": fhir_id(resource_type, key),
        **{k: v for k, v in fields.items() if v not in (None, [], "")},
    }


def _entry(resource: dict) -> bytes:
    """A Bundle entry of ``resource``: its ``urn:uuid:`` full URL, which references point at."""
    return orjson.dumps({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})


def _patient(profile: PatientProfile) -> dict:
    user = profile.user
    return _resource(
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


def _practitioner(user) -> dict:
    return _resource(
        "Practitioner",
        user.pk,
        {
            "identifier": _identifier("users", user.pk),
            "name": [
                {"family": user.last_name, "given": [user.first_name] if user.first_name else []}
            ],
        },
    )


def _procedure(s: Surgery, patient_ref: dict, complications: list[dict]) -> dict:
    name = f"{'Revision ' if s.is_revision else ''}{s.region} {s.get_procedure_display().lower()} {s.levels}"
    return _resource(
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
            "complicationDetail": complications,
        },
    )


def _encounter(stay: HospitalStay, patient_ref: dict) -> dict:
    return _resource(
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


def _medication(m: Medication, patient_ref: dict, patient_user_id: int) -> dict:
    return _resource(
        "MedicationStatement",
        f"medication/{m.pk}",
        {
            "identifier": _identifier("medications", m.pk),
            "status": "completed" if m.stopped_on else "active",
            "medicationCodeableConcept": {"text": m.name},
            "subject": patient_ref,
            "effectivePeriod": {
                k: v for k, v in {"start": _d(m.started_on), "end": _d(m.stopped_on)}.items() if v
            },
            "dateAsserted": _dt(m.created_at),
            "informationSource": patient_ref if m.created_by_id == patient_user_id else None,
            "dosage": [{"text": m.dose}] if m.dose else None,
            "note": [{"text": m.notes}] if m.notes else None,
        },
    )


def _pain(log: PainLog, patient_ref: dict) -> dict:
    return _resource(
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


def _steps(row: DailySteps, patient_ref: dict) -> dict:
    """A day's steps: LOINC 41950-7, the local day as the effective period's date, steps/day
    in UCUM (``/d``)."""
    return _resource(
        "Observation",
        f"steps/{row.pk}",
        {
            "identifier": _identifier("daily_steps", row.pk),
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "activity"}]}],
            "code": {"coding": [STEPS_PER_DAY], "text": "Steps per day"},
            "subject": patient_ref,
            "effectiveDateTime": _d(row.day),
            "issued": _dt(row.counted_at),
            "valueQuantity": {
                "value": row.steps,
                "unit": "steps/day",
                "system": UCUM,
                "code": "/d",
            },
            "note": [{"text": f"Counted by {row.get_source_display()}"}],
        },
    )


def _appointment(a: Appointment, patient_ref: dict) -> dict:
    participants = [{"actor": patient_ref, "status": "accepted"}]
    if a.clinician_id:
        participants.append({"actor": ref("Practitioner", a.clinician_id), "status": "accepted"})
    return _resource(
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
) -> dict:
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
    return _resource(
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


def _goal(m: Milestone, patient_ref: dict) -> dict:
    achieved = m.achieved_on is not None
    return _resource(
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


def _outcome(score: OutcomeScore, patient_ref: dict) -> Iterator[dict]:
    derived = None
    if score.instrument in QUESTIONNAIRES:
        version = f"|{score.version}" if score.version else ""
        yield _resource(
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
    yield _resource(
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


def _pt_session(session: PTSession, patient_ref: dict) -> dict:
    """A completed PT session (planned ones are not yet a procedure)."""
    exercises = "; ".join(
        item["name"]
        + "".join(
            f" {item[key]} {key}"
            for key in ("sets", "reps", "minutes")
            if item.get(key) is not None
        )
        for item in session.exercises
    )
    pain = (
        f"Pain {session.pain_before} -> {session.pain_after} of 10"
        if session.pain_before is not None and session.pain_after is not None
        else None
    )
    notes = [text for text in (exercises, pain, session.notes) if text]
    return _resource(
        "Procedure",
        f"pt/{session.pk}",
        {
            "identifier": _identifier("pt_sessions", session.pk),
            "status": "completed",
            "code": {"coding": [PHYSICAL_THERAPY], "text": f"Physical therapy ({session.setting})"},
            "subject": patient_ref,
            "performedDateTime": _dt(session.performed_at or session.scheduled_for),
            "note": [{"text": text} for text in notes],
        },
    )


def _condition(c: Complication, patient_ref: dict) -> dict:
    code, display = CONDITION_SEVERITY[c.severity]
    clinical = "resolved" if c.resolved_on else "active"
    return _resource(
        "Condition",
        f"complication/{c.pk}",
        {
            "identifier": _identifier("complications", c.pk),
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": clinical}]},
            "verificationStatus": {
                "coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]
            },
            "category": [{"text": "Complication of spine surgery"}],
            "severity": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "code": {"text": c.get_kind_display()},
            "subject": patient_ref,
            "onsetDateTime": _d(c.noticed_on),
            "abatementDateTime": _d(c.resolved_on),
            "note": [{"text": text} for text in (c.treatment, c.notes) if text],
        },
    )


def _imaging(study: ImagingStudy, patient_ref: dict) -> dict:
    code, display = MODALITY[study.modality]
    findings = [
        f"Fusion: {study.get_fusion_status_display().lower()}" if study.fusion_status else "",
        f"Hardware: {study.hardware_status}" if study.hardware_status else "",
        {True: "Adjacent-level change", False: "No adjacent-level change"}.get(
            study.adjacent_level_change, ""
        ),
    ]
    return _resource(
        "ImagingStudy",
        study.pk,
        {
            "identifier": _identifier("imaging_studies", study.pk),
            "status": "available",
            "modality": [{"system": DICOM_MODALITY, "code": code, "display": display}],
            "subject": patient_ref,
            "started": _d(study.performed_on),
            "description": f"{study.get_modality_display()} {study.region} spine "
            f"{study.levels} ({study.purpose.replace('_', ' ')})".replace("  ", " "),
            "reasonCode": [{"text": study.purpose.replace("_", " ")}],
            "note": [{"text": text} for text in (study.reading, *findings) if text],
        },
    )


def _prep_task(item: PrepItem, patient_ref: dict, surgery_ids: set[str]) -> dict:
    return _resource(
        "Task",
        f"prep/{item.pk}",
        {
            "identifier": _identifier("prep_items", item.pk),
            "status": PREP_TASK_STATUS[item.status],
            "statusReason": {"text": item.waived_reason} if item.waived_reason else None,
            "intent": "plan",
            "code": {"text": item.get_kind_display()},
            "description": item.title or item.get_kind_display(),
            "focus": ref("Procedure", item.surgery_id) if item.surgery_id in surgery_ids else None,
            "for": patient_ref,
            "owner": patient_ref if item.owner == PrepOwner.PATIENT else None,
            "restriction": {"period": {"end": _d(item.due_on)}},
            "executionPeriod": {"end": _d(item.completed_on)} if item.completed_on else None,
            "note": [{"text": item.notes}] if item.notes else None,
        },
    )


CHECK_IN_ANSWERS = (
    "wound_redness",
    "wound_swelling_or_drainage",
    "wound_opening",
    "new_numbness_or_weakness",
    "bowel_bladder_loss_or_saddle_numbness",
    "cannot_move_limb",
    "calf_pain_or_leg_swelling",
    "chest_pain_or_breathless",
    "trouble_swallowing_or_breathing",
    "pain_uncontrolled",
    "fell",
)


def _check_in(check_in: CheckIn, patient_ref: dict) -> dict:
    items = [
        {"linkId": name, "answer": [{"valueBoolean": getattr(check_in, name)}]}
        for name in CHECK_IN_ANSWERS
        if getattr(check_in, name) is not None
    ]
    if check_in.temperature_c is not None:
        items.append(
            {"linkId": "temperature_c", "answer": [{"valueDecimal": float(check_in.temperature_c)}]}
        )
    if check_in.notes:
        items.append({"linkId": "notes", "answer": [{"valueString": check_in.notes}]})
    return _resource(
        "QuestionnaireResponse",
        f"check-in/{check_in.pk}",
        {
            "identifier": {"system": ID_SYSTEM + "check_ins", "value": check_in.pk},
            "questionnaire": CHECK_IN_QUESTIONNAIRE,
            "status": "completed",
            "subject": patient_ref,
            "authored": _dt(check_in.answered_at),
            "item": items,
        },
    )


def _flag(alert: Alert, patient_ref: dict) -> dict:
    return _resource(
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


# Every resource type ``patient_resources`` produces (the Bulk Data ``_type`` values).
RESOURCE_TYPES = (
    "Patient",
    "Practitioner",
    "Procedure",
    "Condition",
    "Encounter",
    "MedicationStatement",
    "Observation",
    "ImagingStudy",
    "Task",
    "Appointment",
    "CarePlan",
    "Goal",
    "QuestionnaireResponse",
    "Flag",
    "Media",
    "AuditEvent",
)


MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
SURGICAL_WOUND = {"system": SNOMED, "code": "225552003", "display": "Wound finding"}


def _media(photo: WoundPhoto, patient_ref: dict) -> dict:
    """A wound photo as a FHIR R4 ``Media``: the image by a signed URL (valid
    ``WOUND_PHOTO_URL_MAX_AGE`` seconds from the export), the patient's note and the care
    team's review as notes."""
    notes = [{"text": photo.note}] if photo.note else []
    if photo.reviewed:
        review = {
            "text": f"Reviewed: {photo.get_review_outcome_display().lower()}"
            + (f". {photo.review_comment}" if photo.review_comment else ""),
            "time": _dt(photo.reviewed_at),
        }
        if photo.reviewed_by_id:
            review["authorReference"] = ref("Practitioner", photo.reviewed_by_id)
        notes.append(review)
    return _resource(
        "Media",
        f"wound_photo/{photo.pk}",
        {
            "identifier": _identifier("wound_photos", photo.pk),
            "status": "completed",
            "type": {"coding": [{"system": MEDIA_TYPE, "code": "image", "display": "Image"}]},
            "subject": patient_ref,
            "createdDateTime": _dt(photo.taken_at),
            "issued": _dt(photo.created_at),
            "bodySite": {"text": "surgical incision"},
            "reasonCode": [{"coding": [SURGICAL_WOUND], "text": "wound check between visits"}],
            "width": photo.width,
            "height": photo.height,
            "content": {
                "contentType": photo.content_type,
                "url": signed_url(photo.image.name),
                "size": photo.byte_size,
                "title": "Wound photo",
                "creation": _dt(photo.taken_at),
            },
            "note": notes,
        },
    )


def patient_resources(
    *,
    patient: PatientProfile,
    types: frozenset[str] | set[str] | None = None,
    since: datetime | None = None,
) -> Iterator[dict]:
    """One patient's resources, one at a time, in the Bundle's order (``resources_of``)."""
    return resources_of(patients=[patient], types=types, since=since)


def resources_of(
    *,
    patients: list[PatientProfile],
    types: frozenset[str] | set[str] | None = None,
    since: datetime | None = None,
    practitioners_seen: set[int] | None = None,
) -> Iterator[dict]:
    """The resources of ``patients`` (loaded with their users), one at a time: table by table,
    each table read once for all of them (in order of patient) and in chunks of ``CHUNK`` rows,
    so memory holds the patients and one chunk of rows, and the queries do not grow with the
    rows nor, per call, with the patients. With one patient this is the Bundle's order.

    - ``types``: only these resource types (``RESOURCE_TYPES``); a table whose resources are not
      wanted is not read.
    - ``since``: only resources whose rows changed after it (``updated_at``; an alert's Flag:
      when it opened; the CarePlan when any restriction changed; a surgery's Procedure when it
      or one of its complications changed). Practitioners have no change time: they come
      whenever a resource of the patients names them.
    - ``practitioners_seen``: Practitioners already produced (by user id) are skipped and the
      new ones added, so an export in many calls gives each clinician once.
    """
    want = set(RESOURCE_TYPES) if types is None else set(types)

    def changed(row, field="updated_at") -> bool:
        return since is None or getattr(row, field) > since

    def rows(model, *order, field="updated_at", **filters):
        qs = model.objects.filter(patient_id__in=ids, **filters)
        if since is not None:
            qs = qs.filter(**{f"{field}__gt": since})
        return qs.order_by("patient_id", *order)

    by_id = {p.pk: p for p in patients}
    ids = list(by_id)
    refs = {pid: ref("Patient", pid) for pid in ids}
    if "Patient" in want:
        for patient in patients:
            if changed(patient):
                yield _patient(patient)
    surgeries = (  # all of them: Practitioners and Tasks name them, changed or not
        list(Surgery.objects.filter(patient_id__in=ids).order_by("patient_id", "performed_on"))
        if want & {"Practitioner", "Procedure", "Task"}
        else []
    )
    if "Practitioner" in want:
        practitioner_ids = {p.surgeon_id for p in patients} | {s.surgeon_id for s in surgeries}
        practitioner_ids |= set(
            Appointment.objects.filter(patient_id__in=ids).values_list("clinician_id", flat=True)
        )
        practitioner_ids |= set(
            WoundPhoto.objects.filter(patient_id__in=ids).values_list("reviewed_by_id", flat=True)
        )
        practitioner_ids.discard(None)
        if practitioners_seen is not None:
            practitioner_ids -= practitioners_seen
            practitioners_seen |= practitioner_ids
        if practitioner_ids:
            for user in User.objects.filter(pk__in=practitioner_ids):
                yield _practitioner(user)
    complications = (
        list(
            Complication.objects.filter(patient_id__in=ids).order_by(
                "patient_id", "noticed_on", "id"
            )
        )
        if want & {"Procedure", "Condition"}
        else []
    )
    complications_of: dict[str, list[dict]] = {}
    changed_surgeries: set[str] = set()
    for c in complications:
        if c.surgery_id:
            complications_of.setdefault(c.surgery_id, []).append(
                ref("Condition", f"complication/{c.pk}")
            )
            if changed(c):
                changed_surgeries.add(c.surgery_id)
    if "Procedure" in want:
        for surgery in surgeries:
            if changed(surgery) or surgery.pk in changed_surgeries:
                yield _procedure(
                    surgery, refs[surgery.patient_id], complications_of.get(surgery.pk, [])
                )
    if "Condition" in want:
        for complication in complications:
            if changed(complication):
                yield _condition(complication, refs[complication.patient_id])
    if "Encounter" in want:
        for stay in rows(HospitalStay, "admitted_at").iterator(chunk_size=CHUNK):
            yield _encounter(stay, refs[stay.patient_id])
    if "MedicationStatement" in want:
        for medication in rows(Medication, "started_on", "id").iterator(chunk_size=CHUNK):
            yield _medication(
                medication,
                refs[medication.patient_id],
                by_id[medication.patient_id].user_id,
            )
    if "Observation" in want:
        for log in rows(PainLog, "recorded_at", "id").iterator(chunk_size=CHUNK):
            yield _pain(log, refs[log.patient_id])
        for day in rows(DailySteps, "day").iterator(chunk_size=CHUNK):
            yield _steps(day, refs[day.patient_id])
    if "Procedure" in want:
        for session in rows(PTSession, "performed_at", "id", status=PTStatus.COMPLETED).iterator(
            chunk_size=CHUNK
        ):
            yield _pt_session(session, refs[session.patient_id])
    if "ImagingStudy" in want:
        for study in rows(ImagingStudy, "performed_on", "id").iterator(chunk_size=CHUNK):
            yield _imaging(study, refs[study.patient_id])
    if "Task" in want:
        surgery_ids = {s.pk for s in surgeries}
        for item in rows(PrepItem, "due_on", "id").iterator(chunk_size=CHUNK):
            yield _prep_task(item, refs[item.patient_id], surgery_ids)
    if "Appointment" in want:
        for appointment in rows(Appointment, "starts_at").iterator(chunk_size=CHUNK):
            yield _appointment(appointment, refs[appointment.patient_id])
    if "CarePlan" in want:
        restrictions_of: dict[int, list[ActivityRestriction]] = {}
        for restriction in ActivityRestriction.objects.filter(patient_id__in=ids).order_by(
            "patient_id", "starts_on", "id"
        ):
            restrictions_of.setdefault(restriction.patient_id, []).append(restriction)
        for pid, restrictions in restrictions_of.items():
            if any(changed(r) for r in restrictions):
                yield _careplan(by_id[pid], restrictions, refs[pid])
    if "Goal" in want:
        for milestone in rows(Milestone, "target_on", "id").iterator(chunk_size=CHUNK):
            yield _goal(milestone, refs[milestone.patient_id])
    if want & {"Observation", "QuestionnaireResponse"}:
        for score in rows(OutcomeScore, "completed_at").iterator(chunk_size=CHUNK):
            for resource in _outcome(score, refs[score.patient_id]):
                if resource["resourceType"] in want:
                    yield resource
    if "QuestionnaireResponse" in want:
        for check_in in rows(CheckIn, "answered_at", "id").iterator(chunk_size=CHUNK):
            yield _check_in(check_in, refs[check_in.patient_id])
    if "Media" in want:
        for photo in rows(WoundPhoto, "taken_at", "id").iterator(chunk_size=CHUNK):
            yield _media(photo, refs[photo.patient_id])
    if "Flag" in want:
        for alert in rows(Alert, "opened_at", field="opened_at").exclude(
            status=AlertStatus.RESOLVED
        ):
            yield _flag(alert, refs[alert.patient_id])
    if "AuditEvent" in want:
        reads = access_history_for(ids).order_by("patient_id", "at", "id")
        if since is not None:
            reads = reads.filter(at__gt=since)
        for entry in reads.iterator(chunk_size=CHUNK):
            yield _audit_event(entry, refs[entry.patient_id])


def _bundle_head(pid: int, kind: str = "") -> bytes:
    """The Bundle's opening, up to its first entry."""
    now = timezone.now().isoformat()
    return (
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "id": fhir_id("Bundle", f"{pid}/{kind}{now}"),
                "type": "collection",
                "timestamp": now,
            }
        )[:-1]
        + b',"entry":['
    )


def _bundle_of(pid: int, resources: Iterator[dict], kind: str = "") -> Iterator[bytes]:
    yield _bundle_head(pid, kind)
    separator = b""
    for resource in resources:
        yield separator + _entry(resource)
        separator = b","
    yield b"]}"


def bundle_stream(*, patient: PatientProfile) -> Iterator[bytes]:
    """Yields the Bundle as JSON in pieces. Memory stays bounded by ``CHUNK`` rows."""
    return _bundle_of(patient.pk, patient_resources(patient=patient))


def audit_bundle_stream(*, patient: PatientProfile) -> Iterator[bytes]:
    """Who looked at the record, alone: the Patient and one AuditEvent per read."""
    return _bundle_of(
        patient.pk, patient_resources(patient=patient, types={"Patient", "AuditEvent"}), "audit"
    )


# --- Who looked at the record: AuditEvent (IHE BALP) ------------------------------------------

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
#: Reads of many rows at once are BALP "PatientQuery" (a search, action E); the rest
#: "PatientRead" (action R).
QUERY_ACTIONS = frozenset({"list", "admin_list", "admin_autocomplete", "sync"})


def _audit_event(entry, patient_ref: dict) -> dict:
    """One PHI access row (with ``user`` and ``emergency_reason``, as
    ``accounts.selectors.access_history_for`` reads it) as a BALP-style AuditEvent. The reader's
    network address stays in the clinic's log; the patient's copy names who, when and what."""
    query = entry.action in QUERY_ACTIONS
    reader = entry.user
    what = (
        {"identifier": {"system": ID_SYSTEM + entry.resource, "value": entry.object_id}}
        if entry.object_id
        else {"display": entry.resource}
    )
    return _resource(
        "AuditEvent",
        f"phi-access/{entry.pk}",
        {
            "meta": {"profile": [BALP + ("PatientQuery" if query else "PatientRead")]},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "code": "rest",
                "display": "Restful Operation",
            },
            "subtype": [
                {
                    "system": "http://hl7.org/fhir/restful-interaction",
                    "code": "search-type" if query else "read",
                }
            ],
            "action": "E" if query else "R",
            "recorded": _dt(entry.at),
            "outcome": "0",
            "purposeOfEvent": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                            "code": "BTG",
                            "display": "break the glass",
                        }
                    ],
                    "text": entry.emergency_reason,
                }
            ]
            if entry.emergency_reason
            else None,
            "agent": [
                {
                    "type": {
                        "coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]
                    },
                    "who": {"display": "the reader's device"},
                    "requestor": False,
                },
                {
                    "type": {
                        "coding": [
                            {"system": DCM, "code": "110152", "display": "Destination Role ID"}
                        ]
                    },
                    "who": {"display": "Realign"},
                    "requestor": False,
                },
                {
                    "type": {"text": reader.get_role_display()},
                    "who": {
                        "identifier": _identifier("users", reader.pk)[0],
                        "display": reader.full_name or "Clinic staff",
                    },
                    "requestor": True,
                    "policy": [f"urn:realign:phi-access:{entry.action}"],
                },
            ],
            "source": {
                "observer": {"display": "Realign"},
                "type": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                        "code": "4",
                        "display": "Application Server",
                    }
                ],
            },
            "entity": [
                {
                    "what": patient_ref,
                    "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                    "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
                },
                {
                    "what": what,
                    "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                    "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
                    "description": entry.resource,
                },
            ],
        },
    )
