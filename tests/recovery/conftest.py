import pytest
from django.core.management import call_command

from accounts.models import PatientProfile
from tests.conftest import module_data


def _seed_demo():
    call_command("seed_demo", verbosity=0)
    return PatientProfile.objects.get(user__email="patient@demo.test").pk


@pytest.fixture(scope="module")
def _demo_once(django_db_setup, django_db_blocker):
    """``seed_demo`` once per module that asks for ``demo`` (it took seconds of each test's
    setup); each test starts from its rows in a rolled-back transaction of its own
    (``tests.conftest.module_data``)."""
    with module_data(django_db_blocker, _seed_demo) as pk:
        yield pk


@pytest.fixture
def demo(_demo_once, db):
    """The demo patient, from ``seed_demo`` (a module may define its own ``demo``)."""
    return PatientProfile.objects.select_related("user", "surgeon").get(pk=_demo_once)
