from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from config.errors import DomainError, Forbidden
from recovery.models import Complication, ImagingStudy, PrepItem
from recovery.preparation.kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS
from recovery.preparation.services import complication_resolve, prep_item_complete, prep_item_waive
from recovery.record.kinds import APPOINTMENTS, SURGERIES
from recovery.record.writes import record_create, record_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def surgery(patient, surgeon):
    return record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=30),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        estimated_blood_loss_ml=450,
        transfusion_given=False,
    )[0]


def item(actor, patient, surgery, **values):
    values = {
        "kind": "stop_smoking",
        "owner": "patient",
        "due_on": surgery.performed_on - timedelta(days=28),
        **values,
    }
    return record_create(PREP_ITEMS, actor=actor, patient=patient, surgery=surgery, **values)[0]


def test_patient_completes_their_own_item_with_its_values(patient, surgeon, surgery):
    smoking = item(surgeon, patient, surgery)
    done = prep_item_complete(
        actor=patient.user,
        item=smoking,
        quit_on=timezone.localdate() - timedelta(days=42),
        nicotine_free_confirmed=True,
    )
    assert done.status == "done" and done.completed_on == timezone.localdate(timezone=patient.tz)


def test_patient_cannot_complete_a_care_team_item_or_waive_or_create(patient, surgeon, surgery):
    consent = item(surgeon, patient, surgery, kind="consent", owner="care_team")
    with pytest.raises(DomainError) as exc:
        prep_item_complete(actor=patient.user, item=consent)
    assert isinstance(exc.value, Forbidden)
    own = item(surgeon, patient, surgery)
    with pytest.raises(DomainError):
        prep_item_waive(actor=patient.user, item=own, reason="no")
    with pytest.raises(DomainError):
        record_update(PREP_ITEMS, actor=patient.user, record=own, due_on=surgery.performed_on)
    with pytest.raises(DomainError):
        item(patient.user, patient, surgery)
    assert PrepItem.objects.filter(status="open").count() == 2


@pytest.mark.parametrize(
    ("values", "attr"),
    [
        (
            {
                "kind": "diabetes_control",
                "hba1c_percent": Decimal("25.0"),
                "hba1c_on": timezone.localdate(),
            },
            "hba1c_percent",
        ),
        ({"kind": "diabetes_control", "hba1c_percent": Decimal("6.8")}, "hba1c_on"),
        ({"kind": "weight", "bmi": Decimal(95)}, "bmi"),
        (
            {
                "kind": "stop_smoking",
                "hba1c_percent": Decimal("6.8"),
                "hba1c_on": timezone.localdate(),
            },
            "hba1c_percent",
        ),
        ({"status": "waived"}, "waived_reason"),
        ({"status": "done"}, "completed_on"),
    ],
)
def test_prep_item_validation(patient, surgeon, surgery, values, attr):
    with pytest.raises(ValidationError) as exc:
        item(surgeon, patient, surgery, **values)
    assert attr in exc.value.message_dict


def test_prep_items_are_due_before_surgery(patient, surgeon, surgery):
    with pytest.raises(ValidationError) as exc:
        item(surgeon, patient, surgery, due_on=surgery.performed_on + timedelta(days=1))
    assert "due_on" in exc.value.message_dict


def test_imaging_findings_must_fit_the_modality(patient, surgeon, surgery):
    with pytest.raises(ValidationError) as exc:
        record_create(
            IMAGING_STUDIES,
            actor=surgeon,
            patient=patient,
            modality="mri",
            performed_on=timezone.localdate(),
            region="lumbar",
            levels="L4-L5",
            purpose="pre_op_planning",
            fusion_status="not_fused",
        )
    assert "fusion_status" in exc.value.message_dict
    ct, _ = record_create(
        IMAGING_STUDIES,
        actor=surgeon,
        patient=patient,
        modality="ct",
        performed_on=timezone.localdate() - timedelta(days=10),
        region="lumbar",
        levels="L4-L5",
        purpose="pre_op_planning",
        fusion_status="not_fused",
        hardware_status="loosened",
        reading="Pseudarthrosis L4-L5; loosened right L5 screw.",
    )
    appointment, _ = record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=timezone.now() + timedelta(days=2),
        purpose="imaging_review",
        imaging_study=ct,
    )
    assert appointment.imaging_study == ct
    assert ImagingStudy.objects.count() == 1


def test_patient_cannot_write_imaging_or_complications(patient, surgery):
    with pytest.raises(DomainError):
        record_create(
            COMPLICATIONS,
            actor=patient.user,
            patient=patient,
            surgery=surgery,
            kind="ssi_superficial",
            noticed_on=timezone.localdate(),
            severity="mild",
        )


def test_complication_dates_in_order(patient, surgeon):
    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() - timedelta(days=40),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    with pytest.raises(ValidationError):
        record_create(
            COMPLICATIONS,
            actor=surgeon,
            patient=patient,
            surgery=surgery,
            kind="ssi_superficial",
            severity="mild",
            noticed_on=timezone.localdate() - timedelta(days=45),
        )
    infection, _ = record_create(
        COMPLICATIONS,
        actor=surgeon,
        patient=patient,
        surgery=surgery,
        kind="ssi_superficial",
        severity="mild",
        noticed_on=timezone.localdate() - timedelta(days=30),
    )
    assert infection.is_open
    with pytest.raises(ValidationError):
        complication_resolve(
            actor=surgeon,
            complication=infection,
            resolved_on=timezone.localdate() - timedelta(days=31),
        )
    resolved = complication_resolve(
        actor=surgeon,
        complication=infection,
        resolved_on=timezone.localdate() - timedelta(days=16),
        treatment="Oral cephalexin for 10 days.",
    )
    assert not resolved.is_open
    assert Complication.objects.get().treatment.startswith("Oral")


def test_surgery_blood_loss_is_bounded(patient, surgeon):
    with pytest.raises(ValidationError) as exc:
        record_create(
            SURGERIES,
            actor=surgeon,
            patient=patient,
            performed_on=timezone.localdate(),
            region="lumbar",
            levels="L4-L5",
            procedure="fusion",
            estimated_blood_loss_ml=50000,
        )
    assert "estimated_blood_loss_ml" in exc.value.message_dict
