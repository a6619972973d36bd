"""The PostgreSQL backend's per-request health check (config/db/postgresql/base.py): no query
for a connection that is open and quiet, Django's ``SELECT 1`` (and a new connection) when the
server has closed it."""

import select
import time

import psycopg
import pytest
from django.db import connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

connection = connections["default"]  # the wrapper itself, not the proxy (its class is patched)


def _new_request():
    """What Django does at the start of a request: the next cursor runs the health check."""
    connection.health_check_enabled = True
    connection.health_check_done = False


def test_the_backend_is_the_projects():
    assert type(connection).__module__ == "config.db.postgresql.base"


def test_an_open_quiet_connection_is_checked_without_a_query(monkeypatch):
    connection.ensure_connection()
    asked = []
    monkeypatch.setattr(type(connection), "is_usable", lambda self: asked.append(1) or True)
    _new_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert asked == []
    assert connection.health_check_done


def test_a_connection_inside_a_transaction_gets_djangos_check(monkeypatch):
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    try:
        asked = []
        monkeypatch.setattr(type(connection), "is_usable", lambda self: asked.append(1) or True)
        _new_request()
        connection.close_if_health_check_failed()
        assert asked == [1]
    finally:
        connection.connection.execute("ROLLBACK")


def test_a_connection_the_server_closed_is_replaced():
    connection.ensure_connection()
    old = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old])
    # The server's goodbye reaches the socket (bounded wait).
    deadline = time.monotonic() + 5
    fileno = connection.connection.fileno()
    while time.monotonic() < deadline and not select.select([fileno], [], [], 0.05)[0]:
        pass
    _new_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (new,) = cursor.fetchone()
    assert new != old
