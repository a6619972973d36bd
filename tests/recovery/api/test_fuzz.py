"""Schema-driven fuzzing of the clinical-record API with schemathesis.

Every operation under the seven collections (and their actions) gets a bounded number of
generated requests, as a patient and as a surgeon, through the WSGI app. A response must never
be a 500, must have a status code the schema documents, and must match the schema's body and
content type. Marked ``integration`` (about a minute or two).
"""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tokens import tokens_for
from recovery.api.views import API_KINDS
from tests.factories import make_record

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PATHS = r"^/api/v1/(" + "|".join(re.escape(prefix) for prefix in API_KINDS) + r")/"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 10


def _schema():
    from django.core.wsgi import get_wsgi_application  # config.wsgi also tunes the process's GC

    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).include(
        path_regex=PATHS
    )


schema = _schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """schemathesis calls the real WSGI handler, whose request signals close "old" database
    connections, the test's transaction with them; Django's own test client unhooks them too."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(patient, surgeon):
    """Some records of every kind in the patient's record, by both authors."""
    for prefix in API_KINDS:
        make_record(prefix, patient, surgeon)
        if API_KINDS[prefix].patients_write:
            make_record(prefix, patient, patient.user)


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {tokens_for(user)['access']}"}


# One token per test, shared by its examples: a token per example (a refresh-token row and two
# signatures) was a sizeable part of the run. No operation revokes it (logout and password
# change need a refresh token or the password, which the generated bodies never hold).
@pytest.fixture
def patient_headers(patient):
    return bearer(patient.user)


@pytest.fixture
def surgeon_headers(surgeon):
    return bearer(surgeon)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZ
def test_as_a_patient(case, seeded, patient_headers):
    case.call_and_validate(headers=patient_headers, checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_as_a_surgeon(case, seeded, surgeon_headers):
    case.call_and_validate(headers=surgeon_headers, checks=CHECKS)
