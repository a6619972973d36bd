"""Schema-driven fuzzing of the onboarding endpoints (``/api/v1/invitations/...`` and
``/api/v1/auth/activate/``) with schemathesis, as the pattern of
``tests/config/test_openapi_conformance.py``: never a 500, only documented status codes, bodies and
content types that match the schema. Marked ``integration``."""

from datetime import date

import pytest
from hypothesis import HealthCheck, settings

from accounts import services
from tests.openapi_cases import CHECKS, _keep_the_test_connection, bearer  # noqa: F401
from tests.openapi_cases import schema as published

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


schema = published.include(path_regex=r"^/api/v1/(invitations/|auth/activate/)")
FUZZ = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def invited(clinic, surgeon, nurse, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": None, "activation": None, "password_reset": None},
    }
    for i in range(2):
        services.patient_invite(
            clinic=clinic,
            invited_by=surgeon,
            email=f"fuzz{i}@example.test",
            first_name="F",
            last_name=str(i),
            date_of_birth=date(1970, 1, 1),
            care_team=(nurse,),
        )


@pytest.fixture
def headers_of():
    """One token per user and test, shared by its examples (as in the conformance tests)."""
    minted = {}
    return lambda user: minted.setdefault(user.pk, bearer(user))


@schema.parametrize()
@FUZZ
def test_as_a_surgeon(case, invited, surgeon, headers_of):
    case.call_and_validate(headers=headers_of(surgeon), checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_as_a_nurse(case, invited, nurse, headers_of):
    case.call_and_validate(headers=headers_of(nurse), checks=CHECKS)
