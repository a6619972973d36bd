"""The published OpenAPI schema tells the truth about every operation's answers.

Schemathesis generates requests for EVERY operation in ``/api/schema/`` (nothing is filtered
out) and sends them through the WSGI app against the real PostgreSQL test database, as a
patient and as a surgeon of the patient's care team. Every answer must be documented: no 500,
a status code the operation lists, the content type it declares, and a body and headers that
validate against the declared schema. Path parameters are pointed at rows that exist in the
caller's record, so the success bodies are checked too, not only the 404s. The sync pull is
called once per supported schema version, because generated ``schema_version`` values are
nearly always outside the range. Marked ``integration`` (a few minutes on one core).
"""

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.models import PatientProfile, User
from recovery.api.views import API_KINDS
from recovery.care.alerts import check_in_rules_hit
from recovery.care.kinds import CHECK_INS
from recovery.care.models import Alert
from recovery.record.writes import record_create
from reminders import services as reminder_services
from tests.conftest import module_data
from tests.factories import ClinicFactory, PatientFactory, StaffFactory, make_record
from tests.openapi_cases import CHECKS, _keep_the_test_connection, bearer, schema  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db, pytest.mark.postgres]

EXAMPLES = 6


FUZZ = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _seed():
    """Every kind of row an operation can answer with: records of every collection by both
    authors, a check-in that opened an alert, an inbox notification, devices. Returns the
    ids a path parameter may point at."""
    clinic = ClinicFactory()
    surgeon = StaffFactory(clinic=clinic, role="surgeon")
    nurse = StaffFactory(clinic=clinic, role="nurse")
    patient = PatientFactory(clinic=clinic, surgeon=surgeon, care_team=(nurse,))
    ids = {}
    for prefix in API_KINDS:
        ids[prefix] = make_record(prefix, patient, surgeon).pk
        if API_KINDS[prefix].patients_write:
            ids[prefix] = make_record(prefix, patient, patient.user).pk
    with transaction.atomic():  # as the check-in endpoint does (not through the test client,
        # which reconnects the connection-closing signals unhooked above)
        check_in, _ = record_create(
            CHECK_INS,
            actor=patient.user,
            patient=patient,
            answered_at=timezone.now(),
            wound_opening=True,
        )
        assert check_in_rules_hit(check_in=check_in)
    ids["alerts"] = Alert.objects.get(patient=patient).pk
    ids["notifications"] = reminder_services.notification_create(
        patient_id=patient.pk, kind="milestone", title="Walk unaided"
    ).pk
    reminder_services.device_register(patient=patient, token="t" * 40, platform="android")
    reminder_services.staff_device_register(user=surgeon, token="s" * 40, platform="ios")
    return {**ids, "patient": patient.pk, "surgeon": surgeon.pk}


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    """The rows are written once for the module (they took a second per operation) and each
    test starts from them in its own rolled-back transaction: ``tests.conftest.module_data``."""
    with module_data(django_db_blocker, _seed) as ids:
        yield ids


@pytest.fixture
def seeded(_seeded_once, db):
    return _seeded_once


@pytest.fixture
def patient(seeded):
    return PatientProfile.objects.select_related("user").get(pk=seeded["patient"])


@pytest.fixture
def surgeon(seeded):
    return User.objects.get(pk=seeded["surgeon"])


def _point_at_real_rows(case, ids: dict) -> None:
    """``{id}`` of a collection, ``{alert_id}``, ``{patient_id}``: a row of the patient."""
    path = case.operation.path
    params = case.path_parameters or {}
    if "patient_id" in params:
        params["patient_id"] = ids["patient"]
    if "alert_id" in params:
        params["alert_id"] = ids["alerts"]
    if "id" in params:
        prefix = path.removeprefix("/api/v1/").split("/", 1)[0]
        if prefix in ids:
            params["id"] = str(ids[prefix])


# One token per test, shared by its examples: a token per example (a refresh-token row and two
# signatures) was a sizeable part of the run. No operation revokes it (logout and password
# change need a refresh token or the password, which the generated bodies never hold).
@pytest.fixture
def patient_headers(patient):
    return bearer(patient.user)


@pytest.fixture
def surgeon_headers(surgeon):
    return bearer(surgeon)


# Both callers answer each generated case: schemathesis builds an operation's cases (its
# coverage examples most of all) once instead of once per caller, which was a third of the
# module's time. A failure says whose request it was.
@schema.parametrize()
@FUZZ
def test_every_operation_as_a_patient_and_as_a_surgeon(
    case, seeded, patient_headers, surgeon_headers
):
    _point_at_real_rows(case, seeded)
    for caller, headers in (("patient", patient_headers), ("surgeon", surgeon_headers)):
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as error:
            error.add_note(f"(the request was the {caller}'s)")
            raise


def test_every_operation_is_fuzzed():
    """Nothing is filtered out: the parametrized tests above run over the whole schema."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    published = {
        (method.upper(), path)
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in methods
    }
    fuzzed = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert fuzzed == published
    assert ("GET", "/api/v1/check-ins/") in fuzzed and ("PATCH", "/api/v1/me/") in fuzzed


@pytest.mark.parametrize(
    "version", range(settings.SYNC_SCHEMA_VERSION_MIN, settings.SYNC_SCHEMA_VERSION_MAX + 1)
)
@pytest.mark.parametrize("last_pulled_at", ["null", "1"])
def test_the_pull_answer_of_each_schema_version_conforms(seeded, patient, version, last_pulled_at):
    operation = schema["/api/v1/sync/pull/"]["GET"]
    case = operation.Case(
        query={"schema_version": version, "last_pulled_at": last_pulled_at, "migration": "null"}
    )
    response = case.call(headers=bearer(patient.user))
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CHECKS)
    tables = set(response.json()["changes"])
    assert ("check_ins" in tables) is (version >= 3)
