"""Events are written to the outbox in the transaction of the change that causes them."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from recovery.care.alerts import alert_acknowledge, alert_resolve, alerts_escalate_due
from recovery.care.kinds import CHECK_INS
from recovery.models import Alert, WebhookDelivery, WebhookEvent
from recovery.record.kinds import APPOINTMENTS
from recovery.record.writes import record_create, record_update, records_create
from tests.factories import ClinicFactory, StaffFactory, appointment, outcome_score, surgery

pytestmark = pytest.mark.django_db

ALL = [
    "alert.opened",
    "alert.escalated",
    "alert.acknowledged",
    "alert.resolved",
    "outcome_score.recorded",
    "check_in.recorded",
    "appointment.missed",
    "wound_photo.uploaded",
]


def check_in(patient, **answers):
    values = {"answered_at": timezone.now() - timedelta(minutes=1), **answers}
    return record_create(CHECK_INS, actor=patient.user, patient=patient, **values)[0]


def events(type_=None):
    qs = WebhookEvent.objects.order_by("occurred_at")
    return list(qs.filter(type=type_) if type_ else qs)


def test_a_check_in_emits_one_event_per_subscribed_endpoint(
    patient, make_endpoint, django_capture_on_commit_callbacks
):
    first, _ = make_endpoint("http://127.0.0.1:1/a")
    second, _ = make_endpoint("http://127.0.0.1:1/b", event_types=ALL)
    make_endpoint("http://127.0.0.1:1/c", event_types=["alert.opened"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = check_in(patient, fell=False)
    (event,) = events()
    body = json.loads(event.body)
    assert body == {
        "id": str(event.pk),
        "type": "check_in.recorded",
        "occurred_at": event.occurred_at.isoformat(),
        "clinic": patient.clinic_id,
        "data": {"check_in_id": record.pk, "patient_id": patient.pk},
    }
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert len(callbacks) == 1  # the first attempts are enqueued after commit


def test_payload_has_no_names_or_free_text(patient, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=ALL)
    check_in(patient, temperature_c=Decimal("38.6"), notes="my wife says I look pale")
    bodies = " ".join(e.body for e in events())
    assert {e.type for e in events()} == {"alert.opened", "check_in.recorded"}
    for private in (patient.user.first_name, patient.user.last_name, patient.mrn, "pale", "38.6"):
        assert private not in bodies


def test_a_rolled_back_change_emits_nothing(patient, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=ALL)
    with pytest.raises(RuntimeError), transaction.atomic():
        check_in(patient, temperature_c=Decimal("39.0"))
        assert len(events()) == 2  # inside the transaction, with the change
        raise RuntimeError("the change fails after the hooks ran")
    assert events() == []
    assert not WebhookDelivery.objects.exists()
    assert not Alert.objects.exists()


def test_nothing_is_written_without_a_subscriber(patient, make_endpoint, clinic_admin):
    other_clinic_admin = StaffFactory(clinic=ClinicFactory(), role="clinic_admin")
    make_endpoint("http://127.0.0.1:1/other", event_types=ALL, admin=other_clinic_admin)
    endpoint, _ = make_endpoint("http://127.0.0.1:1/off", event_types=ALL)
    endpoint.is_active = False
    endpoint.save()
    check_in(patient, fell=True)
    assert events() == []


def test_alert_lifecycle_events(patient, nurse, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=ALL)
    check_in(patient, fell=True)  # within_24h: opens an alert
    alert = Alert.objects.get()
    alert_acknowledge(actor=nurse, alert=alert)
    alert_resolve(actor=nurse, alert=alert, note="Called; no injury.")
    check_in(patient, temperature_c=Decimal("38.4"))
    late = Alert.objects.get(status="open")
    alerts_escalate_due(now=late.acknowledge_by + timedelta(seconds=1))
    types = [e.type for e in events()]
    assert types == [
        "alert.opened",
        "check_in.recorded",
        "alert.acknowledged",
        "alert.resolved",
        "alert.opened",
        "check_in.recorded",
        "alert.escalated",
    ]
    escalated = json.loads(events("alert.escalated")[0].body)["data"]
    assert escalated == {
        "alert_id": late.pk,
        "tier": late.tier,
        "status": "open",
        "patient_id": patient.pk,
        "source": {"table": "check_ins", "id": late.source_id},
    }


def test_resolving_an_open_alert_acknowledges_it_too(patient, nurse, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=["alert.acknowledged", "alert.resolved"])
    check_in(patient, fell=True)
    alert_resolve(actor=nurse, alert=Alert.objects.get(), note="Seen in clinic.")
    assert [e.type for e in events()] == ["alert.acknowledged", "alert.resolved"]


def test_outcome_score_recorded(patient, surgeon, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=["outcome_score.recorded"])
    surgery(patient, surgeon, performed_on=timezone.localdate() - timedelta(days=45))
    score = outcome_score(patient, patient.user)
    (event,) = events()
    assert json.loads(event.body)["data"] == {
        "outcome_score_id": score.pk,
        "patient_id": patient.pk,
        "instrument": score.instrument,
        "timepoint": score.timepoint,
    }


def test_appointment_missed_once_per_appointment_and_time(patient, surgeon, make_endpoint):
    make_endpoint("http://127.0.0.1:1/a", event_types=["appointment.missed"])
    when = timezone.now() - timedelta(days=1)
    visit = appointment(patient, surgeon, starts_at=when)
    assert events() == []  # scheduled: nothing
    visit = record_update(APPOINTMENTS, actor=surgeon, record=visit, status="missed")
    visit = record_update(APPOINTMENTS, actor=surgeon, record=visit, location="Room 2")
    assert len(events("appointment.missed")) == 1  # rewriting a missed one emits nothing
    visit = record_update(
        APPOINTMENTS,
        actor=surgeon,
        record=visit,
        status="scheduled",
        starts_at=when + timedelta(days=3),
    )
    record_update(APPOINTMENTS, actor=surgeon, record=visit, status="missed")
    assert len(events("appointment.missed")) == 2  # rescheduled, then missed again
    created_missed = appointment(patient, surgeon, starts_at=when, status="missed")
    assert json.loads(events("appointment.missed")[-1].body)["data"] == {
        "appointment_id": created_missed.pk,
        "patient_id": patient.pk,
    }


def test_a_sync_batch_emits_with_bounded_queries(
    patient, make_endpoint, django_assert_max_num_queries
):
    make_endpoint("http://127.0.0.1:1/a")
    now = timezone.now() - timedelta(minutes=5)

    def push(count, start):
        items = [(f"ci-{start + i}", {"answered_at": now, "fell": False}) for i in range(count)]
        return records_create(CHECK_INS, actor=patient.user, patient=patient, items=items)

    with django_assert_max_num_queries(60) as small:
        push(2, 0)
    with django_assert_max_num_queries(60) as large:
        push(40, 100)

    def webhook_queries(ctx):
        return [q for q in ctx.captured_queries if "webhook" in q["sql"]]

    assert len(webhook_queries(large)) == len(webhook_queries(small))
    assert len(events("check_in.recorded")) == 42


def test_a_wound_photo_upload_emits_once(patient, make_endpoint):
    from recovery.photos.services import wound_photo_upload
    from tests.recovery.photos.images import jpeg_with_gps

    make_endpoint("http://127.0.0.1:1/a", event_types=["wound_photo.uploaded"])
    data = jpeg_with_gps()
    for _ in range(2):  # a retried upload creates nothing, emits nothing
        wound_photo_upload(
            actor=patient.user,
            patient=patient,
            data=data,
            content_type="image/jpeg",
            id="wp-hook-1",
        )
    (event,) = events("wound_photo.uploaded")
    assert json.loads(event.body)["data"] == {
        "wound_photo_id": "wp-hook-1",
        "patient_id": patient.pk,
    }
    assert WebhookDelivery.objects.filter(event=event).count() == 1
