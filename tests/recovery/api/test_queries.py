"""Reads run a fixed number of queries, whatever the number of rows (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import PatientProfile, User
from recovery.api.views import API_KINDS
from tests.conftest import module_data
from tests.factories import ClinicFactory, PatientFactory, StaffFactory, make_record

pytestmark = pytest.mark.django_db

ROWS = 55
# list: the user with a patient's own profile id (authentication); for clinicians the `patient`
# filter's scope check; the page; for clinicians the PHI log (the patients'
# clinics, one insert). detail: the user, the record with its patient, and the PHI log.
LIST_QUERIES = {"patient": 2, "surgeon": 5}
DETAIL_QUERIES = {"patient": 2, "surgeon": 4}
# Values derived per page (list or detail), whatever its length: outcome scores' change from
# baseline and MCID (the patients' clinics, the baselines, the surgeries, the MCIDs).
PAGE_QUERIES = {"outcome-scores": 4}


def _rows_of_every_kind():
    clinic = ClinicFactory()
    surgeon = StaffFactory(clinic=clinic, role="surgeon")
    nurse = StaffFactory(clinic=clinic, role="nurse")
    patient = PatientFactory(clinic=clinic, surgeon=surgeon, care_team=(nurse,))
    last = {}
    for prefix, kind in API_KINDS.items():
        author = patient.user if kind.patients_write else surgeon
        last[prefix] = [make_record(prefix, patient, author) for _ in range(ROWS)][-1].pk
    return patient.pk, surgeon.pk, last


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):
    """One patient with ROWS records of every kind, through the services, written once for the
    module (``tests.conftest.module_data``): (patient id, surgeon id, last record id by kind)."""
    with module_data(django_db_blocker, _rows_of_every_kind) as data:
        yield data


@pytest.mark.parametrize("prefix", list(API_KINDS))
@pytest.mark.parametrize("role", ["patient", "surgeon"])
def test_list_and_detail_query_counts(prefix, role, api, history, django_assert_max_num_queries):
    patient_pk, surgeon_pk, last = history
    patient = PatientProfile.objects.select_related("user").get(pk=patient_pk)
    user = patient.user if role == "patient" else User.objects.get(pk=surgeon_pk)
    client = api(user)
    extra = PAGE_QUERIES.get(prefix, 0)
    with django_assert_max_num_queries(LIST_QUERIES[role] + extra):
        response = client.get(f"/api/v1/{prefix}/?page_size=100&patient={patient.pk}")
    assert response.status_code == 200
    stored = API_KINDS[prefix].model.objects.filter(patient=patient).count()
    assert stored >= ROWS
    assert len(response.json()["results"]) == min(stored, 100)

    with django_assert_max_num_queries(DETAIL_QUERIES[role] + extra):
        response = client.get(f"/api/v1/{prefix}/{last[prefix]}/")
    assert response.status_code == 200
    assert response.json()["id"] == last[prefix]


def test_query_count_does_not_grow_with_rows(api, patient, surgeon):
    client = api(surgeon)
    make_record("restrictions", patient, surgeon)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/restrictions/")
    for _ in range(60):
        make_record("restrictions", patient, surgeon)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/restrictions/?page_size=100")
    assert len(response.json()["results"]) == 61
    assert len(many) == len(one)
