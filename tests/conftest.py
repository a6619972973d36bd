import os
import shutil
import time
import uuid
import warnings
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from accounts.tokens import tokens_for
from tests.factories import (
    ClinicFactory,
    PatientFactory,
    StaffFactory,
)

REQUIRE_SERVICES = os.environ.get("REALIGN_REQUIRE_SERVICES") == "1"


def _missing(item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        return "needs Redis: set REDIS_URL=redis://..."
    if item.get_closest_marker("rabbitmq") and not os.environ.get("RABBITMQ_URL"):
        return "needs RabbitMQ: set RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672//"
    if item.get_closest_marker("node") and not shutil.which("node"):
        return "needs Node.js for the real WatermelonDB client"
    return None


def pytest_runtest_setup(item):
    reason = _missing(item)
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"REALIGN_REQUIRE_SERVICES=1 but this test {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_cache(settings, request):
    """Each test gets its own local-memory cache (rate limits start from zero), except tests
    marked ``redis``, which use the real Redis cache under a key prefix of their own."""
    if request.node.get_closest_marker("redis"):
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": os.environ.get("REDIS_URL", ""),
                "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": uuid.uuid4().hex,
            }
        }


def use_broker(monkeypatch, url: str) -> None:
    """Point the Celery app at ``url``. Celery reads CELERY_BROKER_URL from the environment
    before its configuration, so the environment is what to change; its pools are reset."""
    from config.celery import app

    monkeypatch.setenv("CELERY_BROKER_URL", url)
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _in_memory_broker(settings, monkeypatch):
    """Unit tests publish to an in-memory broker; the integration tests start real ones."""
    use_broker(monkeypatch, "memory://")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _photo_storage(settings, tmp_path_factory):
    """Wound photos go to a directory of the test's own, never the checkout's ``var/``."""
    settings.STORAGES = {
        **settings.STORAGES,
        "wound_photos": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path_factory.mktemp("wound-photos"))},
        },
    }


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and at the end of the session no other connection to it.

    Dropping the database fails ("database ... is being accessed by other users") while any
    other session is connected: a server thread, a subprocess, a connection a test forgot. The
    database would then stay behind (``test_<name>_gw0``). Whatever is still connected when the
    last test has run is reported as a warning, with what it was doing, and ended, so that
    pytest-django's teardown (which runs after this one) drops the database."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        left = end_other_connections()
    if left:
        warnings.warn(
            "connections to the test database were still open at the end of the session "
            f"(ended them so that it is dropped): {left}",
            pytest.PytestWarning,
            stacklevel=1,
        )


def end_other_connections() -> list[tuple]:
    """End every other session connected to this connection's database; returns them."""
    from django.db import DatabaseError

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, application_name, state, left(query, 200),"
                " pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            left = [row[:4] for row in cursor.fetchall()]
            for _ in range(100):  # pg_terminate_backend only signals: wait until they are gone
                if not others_connected(cursor):
                    break
                time.sleep(0.1)
    except DatabaseError as error:  # not allowed to end them: say so, the drop will say more
        left = [("could not end the other connections", repr(error))]
    connection.close()
    return left


def others_connected(cursor) -> set[int]:
    """The process ids of the other sessions connected to the cursor's database."""
    cursor.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return {pid for (pid,) in cursor.fetchall()}


@contextmanager
def unit_services():
    """The in-memory broker, a local cache of its own and the local e-mail backend: what the
    autouse fixtures below give each unit test, for code that runs outside a test."""
    from django.test import override_settings

    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,
        }
    }
    email = "django.core.mail.backends.locmem.EmailBackend"
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        override_settings(CACHES=cache, EMAIL_BACKEND=email),
    ):
        use_broker(monkeypatch, "memory://")
        yield


@contextmanager
def module_data(django_db_blocker, build):
    """Rows shared by the tests of a module: ``with module_data(django_db_blocker, build) as
    data: yield data`` in a module-scoped fixture. ``build()`` writes them (with
    ``unit_services``) in a transaction that is never committed; each test's own transaction
    (pytest-django's ``db``: Django's ``TestCase``) is a savepoint inside it, rolled back after
    the test, so every test starts from exactly these rows, as if it had written them itself,
    and the module leaves nothing behind. For non-transactional tests only: a transactional
    test in the module would fail on the open transaction."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        with django_db_blocker.unblock(), unit_services():
            default_clinical_data_ensure()  # as each test's own setup would
            data = build()
        yield data
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


DEFAULT_DATA_MIGRATIONS = (
    "recovery.migrations.0003_default_mcids",
    "recovery.migrations.0006_default_protocol",
    "recovery.migrations.0008_default_triage_rules",
    "recovery.migrations.0012_alert_causes",
    "recovery.migrations.0018_daily_steps",
)
DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server"}


@pytest.fixture(autouse=True)
def _default_clinical_data(request):
    """The shipped defaults (MCIDs, the default protocol, triage rules) come from data
    migrations. A transactional test empties every table when it ends, so a later test on the
    same worker would see none of them: put them back when they are missing."""
    if not (
        request.node.get_closest_marker("django_db") or DB_FIXTURES & set(request.fixturenames)
    ):
        return
    request.getfixturevalue("django_db_setup")  # the test database, never the real one
    # Outside the test's own transaction: the defaults are committed, as after `migrate`.
    with request.getfixturevalue("django_db_blocker").unblock():
        default_clinical_data_ensure()


def default_clinical_data_ensure() -> None:
    """Writes the shipped defaults again if a transactional test's flush emptied them."""
    import importlib

    from django.apps import apps

    from recovery.models import MinimalImportantDifference, Protocol, TriageRule

    if all(
        m.objects.filter(clinic__isnull=True).exists()
        for m in (MinimalImportantDifference, Protocol, TriageRule)
    ):
        return
    for name in DEFAULT_DATA_MIGRATIONS:
        importlib.import_module(name).add(apps, None)


@pytest.fixture
def clinic(db):
    return ClinicFactory()


@pytest.fixture
def surgeon(clinic):
    return StaffFactory(clinic=clinic, role="surgeon")


@pytest.fixture
def nurse(clinic):
    return StaffFactory(clinic=clinic, role="nurse")


@pytest.fixture
def patient(clinic, surgeon, nurse):
    return PatientFactory(clinic=clinic, surgeon=surgeon, care_team=(nurse,))


@pytest.fixture
def other_patient(clinic):
    other_surgeon = StaffFactory(clinic=clinic, role="surgeon")
    return PatientFactory(clinic=clinic, surgeon=other_surgeon)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
    return client


@pytest.fixture
def api():
    return client_for
