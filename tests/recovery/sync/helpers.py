"""Small helpers for the sync tests: talk to the endpoints as the app does."""

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

from django.utils import timezone

from recovery.sync.tables import EPOCH, ONE_MS

PULL = "/api/v1/sync/pull/"
PUSH = "/api/v1/sync/push/"


def ms(dt) -> int:
    return (dt - EPOCH) // ONE_MS


def now_ms(delta=timedelta()) -> int:
    return ms(timezone.now() + delta)


def pull(client, last_pulled_at=None, schema_version=2, migration=None, **extra):
    params = {
        "last_pulled_at": "null" if last_pulled_at is None else last_pulled_at,
        "schema_version": schema_version,
        "migration": "null" if migration is None else json.dumps(migration),
        **extra,
    }
    return client.get(f"{PULL}?{urlencode(params)}")


def push(client, changes, last_pulled_at, **extra):
    params = {"last_pulled_at": "null" if last_pulled_at is None else last_pulled_at, **extra}
    return client.post(
        f"{PUSH}?{urlencode(params)}", data=json.dumps(changes), content_type="application/json"
    )


def pain_raw(id, **values):
    return {
        "id": id,
        "recorded_at": now_ms(-timedelta(hours=1)),
        "intensity": 4,
        "location": "back",
        "medication_taken": False,
        "relief": '["ice"]',
        "notes": "",
        "_status": "created",
        "_changed": "",
        **values,
    }


def changes(**tables):
    """{"pain_logs": {"created": [...]}} with the missing sections filled in."""
    return {
        name: {"created": [], "updated": [], "deleted": [], **sections}
        for name, sections in tables.items()
    }


def ids(body, table, section="updated"):
    return sorted(r if isinstance(r, str) else r["id"] for r in body["changes"][table][section])


def with_prepared_text(sql: str) -> str:
    """``sql`` with each ``EXECUTE name(...)`` of a statement this connection prepared followed
    by that statement's text (``pg_prepared_statements``): what the batch ran."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    return re.sub(
        r"EXECUTE (\w+)", lambda m: f"{m.group(0)} [{prepared.get(m.group(1), '?')}]", sql
    )
