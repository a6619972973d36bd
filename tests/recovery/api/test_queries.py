"""Reads run a fixed number of queries, whatever the number of rows (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.api.views import API_KINDS
from tests.factories import make_record

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


@pytest.mark.parametrize("prefix", list(API_KINDS))
@pytest.mark.parametrize("role", ["patient", "surgeon"])
def test_list_and_detail_query_counts(
    prefix, role, api, patient, surgeon, django_assert_max_num_queries
):
    author = patient.user if API_KINDS[prefix].patients_write else surgeon
    records = [make_record(prefix, patient, author) for _ in range(ROWS)]
    user = patient.user if role == "patient" else surgeon
    client = api(user)
    extra = PAGE_QUERIES.get(prefix, 0)
    with django_assert_max_num_queries(LIST_QUERIES[role] + extra):
        response = client.get(f"/api/v1/{prefix}/?page_size=100&patient={patient.pk}")
    assert response.status_code == 200
    stored = API_KINDS[prefix].model.objects.filter(patient=patient).count()
    assert stored >= ROWS
    assert len(response.json()["results"]) == min(stored, 100)

    record = records[-1]
    with django_assert_max_num_queries(DETAIL_QUERIES[role] + extra):
        response = client.get(f"/api/v1/{prefix}/{record.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == record.pk


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
