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


def _procedure(s: Surgery, patient_ref: dict, complications: list[dict]) -> bytes:
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
            "complicationDetail": complications,
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


def _medication(m: Medication, patient_ref: dict, patient_user_id: int) -> bytes:
    return _entry(
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


def _pt_session(session: PTSession, patient_ref: dict) -> bytes:
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
    return _entry(
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


def _condition(c: Complication, patient_ref: dict) -> bytes:
    code, display = CONDITION_SEVERITY[c.severity]
    clinical = "resolved" if c.resolved_on else "active"
    return _entry(
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


def _imaging(study: ImagingStudy, patient_ref: dict) -> bytes:
    code, display = MODALITY[study.modality]
    findings = [
        f"Fusion: {study.get_fusion_status_display().lower()}" if study.fusion_status else "",
        f"Hardware: {study.hardware_status}" if study.hardware_status else "",
        {True: "Adjacent-level change", False: "No adjacent-level change"}.get(
            study.adjacent_level_change, ""
        ),
    ]
    return _entry(
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


def _prep_task(item: PrepItem, patient_ref: dict, surgery_ids: set[str]) -> bytes:
    return _entry(
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


def _check_in(check_in: CheckIn, patient_ref: dict) -> bytes:
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
    return _entry(
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


MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
SURGICAL_WOUND = {"system": SNOMED, "code": "225552003", "display": "Wound finding"}


def _media(photo: WoundPhoto, patient_ref: dict) -> bytes:
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
    return _entry(
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
    practitioner_ids |= set(
        WoundPhoto.objects.filter(patient_id=pid).values_list("reviewed_by_id", flat=True)
    )
    for user in User.objects.filter(pk__in=practitioner_ids - {None}):
        yield emit(_practitioner(user))
    complications = list(Complication.objects.filter(patient_id=pid).order_by("noticed_on", "id"))
    complications_of: dict[str, list[dict]] = {}
    for c in complications:
        if c.surgery_id:
            complications_of.setdefault(c.surgery_id, []).append(
                ref("Condition", f"complication/{c.pk}")
            )
    for surgery in surgeries:
        yield emit(_procedure(surgery, patient_ref, complications_of.get(surgery.pk, [])))
    for complication in complications:
        yield emit(_condition(complication, patient_ref))
    for stay in HospitalStay.objects.filter(patient_id=pid).order_by("admitted_at"):
        yield emit(_encounter(stay, patient_ref))
    for medication in Medication.objects.filter(patient_id=pid).order_by("started_on", "id"):
        yield emit(_medication(medication, patient_ref, patient.user_id))
    for log in (
        PainLog.objects.filter(patient_id=pid)
        .order_by("recorded_at", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_pain(log, patient_ref))
    for session in (
        PTSession.objects.filter(patient_id=pid, status=PTStatus.COMPLETED)
        .order_by("performed_at", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_pt_session(session, patient_ref))
    for study in ImagingStudy.objects.filter(patient_id=pid).order_by("performed_on", "id"):
        yield emit(_imaging(study, patient_ref))
    for item in PrepItem.objects.filter(patient_id=pid).order_by("due_on", "id"):
        yield emit(_prep_task(item, patient_ref, {s.pk for s in surgeries}))
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
    for check_in in (
        CheckIn.objects.filter(patient_id=pid)
        .order_by("answered_at", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_check_in(check_in, patient_ref))
    for photo in (
        WoundPhoto.objects.filter(patient_id=pid)
        .order_by("taken_at", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield emit(_media(photo, patient_ref))
    for alert in (
        Alert.objects.filter(patient_id=pid)
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("opened_at")
    ):
        yield emit(_flag(alert, patient_ref))
    yield b"]}"
