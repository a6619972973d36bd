"""The real WatermelonDB client (Node, LokiJS) with daily steps (schema version 5): two phones
of one patient each create their own record for the same day; after syncing, both hold the
one row the server keeps for that day, with the later count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import tokens_for
from recovery.activity.models import DailySteps

from .helpers import now_ms
from .node_client import Device, NodeClient

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node():
    client = NodeClient()
    yield client
    assert client.close() == 0, "the Node client saw WatermelonDB warnings:\n" + "".join(
        client.stderr
    )


def test_two_phones_creating_the_same_day_converge(node, live_server, patient):
    token = tokens_for(patient.user)["access"]
    a = Device(node, "A", live_server.url, token, schema=5)
    b = Device(node, "B", live_server.url, token, schema=5)
    a.synced()
    b.synced()
    day = str(timezone.localdate(timezone=patient.tz) - timedelta(days=1))
    on_a = a.create(
        "daily_steps",
        day=day,
        steps=3000,
        counted_at=now_ms(-timedelta(hours=3)),
        source="healthkit",
    )
    on_b = b.create("daily_steps", day=day, steps=4100, counted_at=now_ms(), source="healthkit")
    assert on_a != on_b  # WatermelonDB's own random ids
    a.synced()
    b.synced()  # merged into A's row; B's id becomes a tombstone
    a.synced()
    b.synced()

    stored = DailySteps.objects.get(patient=patient, day=day)
    assert (stored.pk, stored.steps) == (on_a, 4100)
    assert DailySteps.all_objects.get(pk=on_b).deleted_at is not None
    for device in (a, b):
        records = device.records("daily_steps")
        assert list(records) == [on_a], (device.name, records)
        assert records[on_a]["steps"] == 4100 and records[on_a]["_status"] == "synced"
