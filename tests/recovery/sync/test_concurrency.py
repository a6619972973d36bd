"""Many writers racing repeated pulls never produce a missed change (design.md section 5).

Each writer thread has its own database connection and holds its transaction open a little
after writing, so commits land out of the order in which rows were stamped. A device pulls
over and over, each pull from the previous timestamp, and keeps a local copy; at the end its
copy must equal the database. A second test runs the same race against a naive pull (wall clock
as timestamp, no lock) and shows the harness catches the loss.
"""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from recovery.models import PainLog
from recovery.record.kinds import PAIN_LOGS
from recovery.record.writes import record_create, record_delete, record_update
from recovery.sync.selectors import sync_pull
from recovery.sync.tables import EPOCH, ONE_MS, SYNC_TABLES

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 4
WRITES_EACH = 25


def _writer(patient, seed, errors):
    rng = random.Random(seed)
    mine = []
    try:
        for n in range(WRITES_EACH):
            with transaction.atomic():
                action = rng.random()
                if mine and action < 0.25:
                    log = PainLog.objects.get(pk=mine.pop(rng.randrange(len(mine))))
                    record_delete(PAIN_LOGS, actor=patient.user, record=log)
                elif mine and action < 0.6:
                    log = PainLog.objects.get(pk=rng.choice(mine))
                    record_update(
                        PAIN_LOGS, actor=patient.user, record=log, intensity=rng.randrange(11)
                    )
                else:
                    log, _ = record_create(
                        PAIN_LOGS,
                        actor=patient.user,
                        patient=patient,
                        id=f"w{seed}-{n}",
                        recorded_at=timezone.now() - timedelta(minutes=n),
                        intensity=rng.randrange(11),
                        location="back",
                    )
                    mine.append(log.pk)
                time.sleep(rng.uniform(0.002, 0.02))  # commit late, out of stamp order
    except Exception as exc:  # noqa: BLE001 - any failure is re-raised in the main thread
        errors.append(exc)
    finally:
        connections.close_all()


def _naive_pull(*, patient_id, last_pulled_at, schema_version, migration=None):
    """What design.md warns against: a wall-clock timestamp and no lock."""
    timestamp = (timezone.now() - EPOCH) // ONE_MS
    rows = PainLog.all_objects.filter(patient_id=patient_id)
    if last_pulled_at is not None:
        rows = rows.filter(sync_version__gt=last_pulled_at)
    updated, deleted = [], []
    for row in rows.values("id", "intensity", "deleted_at"):
        (deleted if row["deleted_at"] else updated).append(row["id"] if row["deleted_at"] else row)
    return {
        "changes": {"pain_logs": {"updated": updated, "deleted": deleted}},
        "timestamp": timestamp,
    }


def _race(patient, pull_fn) -> tuple[dict, int]:
    errors: list = []
    writers = [
        threading.Thread(target=_writer, args=(patient, seed, errors)) for seed in range(WRITERS)
    ]
    device: dict[str, int] = {}
    last_pulled_at = None
    pulls = 0

    def apply(body):
        change = body["changes"]["pain_logs"]
        for raw in change["updated"]:
            device[raw["id"]] = raw["intensity"]
        for record_id in change["deleted"]:
            device.pop(record_id, None)
        return body["timestamp"]

    try:
        for thread in writers:
            thread.start()
        while any(thread.is_alive() for thread in writers):
            last_pulled_at = apply(
                pull_fn(patient_id=patient.pk, last_pulled_at=last_pulled_at, schema_version=2)
            )
            pulls += 1
        for thread in writers:
            thread.join()
        apply(pull_fn(patient_id=patient.pk, last_pulled_at=last_pulled_at, schema_version=2))
    finally:
        connections.close_all()
    assert not errors, errors
    return device, pulls


def _database(patient) -> dict[str, int]:
    return dict(PainLog.objects.filter(patient=patient).values_list("id", "intensity"))


def test_concurrent_writers_never_slip_past_a_pull(patient):
    assert "pain_logs" in SYNC_TABLES
    device, pulls = _race(patient, sync_pull)
    truth = _database(patient)
    assert pulls > 5, "the pulls did not overlap the writes"
    assert len(truth) > 10
    assert device == truth


def test_the_race_catches_a_naive_timestamp(patient):
    """Proves the harness above can fail: the same race against a wall-clock pull loses rows."""
    device, _ = _race(patient, _naive_pull)
    assert device != _database(patient)
