import pytest
from django.test import RequestFactory

from accounts.audit import phi_access_record
from accounts.models import PHIAccess

pytestmark = pytest.mark.django_db


def test_staff_reads_are_logged_once_per_patient(surgeon, patient):
    request = RequestFactory().get("/api/v1/pain-logs/?patient=1", REMOTE_ADDR="10.1.2.3")
    request.user = surgeon
    assert (
        phi_access_record(
            user=surgeon,
            patient_ids=[patient.pk, patient.pk],
            action="list",
            resource="pain_logs",
            request=request,
        )
        == 1
    )
    row = PHIAccess.objects.get()
    assert (row.user, row.patient, row.clinic_id, row.ip_address) == (
        surgeon,
        patient,
        patient.clinic_id,
        "10.1.2.3",
    )
    assert row.path == "/api/v1/pain-logs/?patient=1"


def test_patients_reading_their_own_record_are_not_logged(patient):
    assert (
        phi_access_record(
            user=patient.user, patient_ids=[patient.pk], action="list", resource="pain_logs"
        )
        == 0
    )
    assert not PHIAccess.objects.exists()
