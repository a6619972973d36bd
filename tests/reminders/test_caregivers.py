"""Caregivers' copies of the patient's reminders: planned only for a grant with the
``reminders`` scope, one row per caregiver and channel (push, e-mail; never the inbox), each
claimed and delivered on its own; a grant revoked, expired or narrowed after planning sends
nothing more, checked again at delivery."""

from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.caregivers import caregiver_grant_revoke, caregiver_invite
from accounts.models import CaregiverGrant
from reminders import delivery, services
from reminders.models import Reminder, StaffDevice
from tests.accounts.helpers import caregiver_of
from tests.reminders.test_delivery import DUE, PLAN_AT, plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def at_due():
    with time_machine.travel(DUE + timedelta(seconds=5), tick=False) as traveller:
        yield traveller


@pytest.fixture
def claim_all(django_capture_on_commit_callbacks):
    """One sweep of the dispatcher (as in test_delivery): (rows claimed, chunks enqueued)."""

    def sweep(limit=100):
        enqueued = []
        with django_capture_on_commit_callbacks(execute=True):
            total = delivery.reminders_dispatch_due(enqueue=enqueued.append, batch_size=limit)
        return total, enqueued

    return sweep


def carer(patient, *scopes, email="carer@example.test", **extra):
    with time_machine.travel(PLAN_AT - timedelta(hours=1), tick=False):
        return caregiver_of(patient, *scopes, email=email, **extra)


def copies(patient=None):
    rows = Reminder.objects.filter(recipient__isnull=False)
    if patient is not None:
        rows = rows.filter(patient=patient)
    return rows


def test_planning_copies_only_for_the_reminders_scope_and_never_the_inbox(
    patient, other_patient, settings
):
    reader, _ = carer(patient, "read", email="reader@example.test")
    helper, _ = carer(patient, "read", "reminders", email="helper@example.test")
    stranger, _ = carer(other_patient, "reminders", email="stranger@example.test")
    plan(patient, ["inbox", "email", "push"], settings)
    rows = list(copies(patient))
    # 1d and 2h steps (7d was already past), push and e-mail: four copies, all the helper's.
    assert len(rows) == 4 and {r.recipient_id for r in rows} == {helper.pk}
    assert {r.channel for r in rows} == {"email", "push"}
    own = {r.dedup_key: r for r in Reminder.objects.filter(recipient__isnull=True)}
    for row in rows:
        mine = own[row.dedup_key.removesuffix(f":cg{helper.pk}")]
        assert row.due_at == mine.due_at and row.step == mine.step  # the patient's local time
    assert not Reminder.objects.filter(recipient__in=[reader.pk, stranger.pk]).exists()


def test_grant_changes_follow_at_once(patient, settings):
    plan(patient, ["email", "push"], settings)
    assert not copies().exists()
    with time_machine.travel(PLAN_AT, tick=False):
        helper, grant = caregiver_of(patient, "reminders")  # granted after planning
        assert copies().filter(status="pending").count() == 4
        with transaction.atomic():  # the scope taken away
            caregiver_invite(
                patient=patient, actor=patient.user, email=helper.email, scopes=["read"]
            )
        assert set(copies().values_list("status", flat=True)) == {"cancelled"}
        with transaction.atomic():  # and given back: the same rows open again
            caregiver_invite(
                patient=patient, actor=patient.user, email=helper.email, scopes=["reminders"]
            )
        assert copies().filter(status="pending").count() == 4 and copies().count() == 4
        caregiver_grant_revoke(grant=grant, actor=patient.user)
        assert set(copies().values_list("status", flat=True)) == {"cancelled"}
    # Re-planning the cause does not bring a revoked caregiver back.
    plan(patient, ["email", "push"], settings)
    assert not copies().filter(status="pending").exists()


def test_caregiver_email_is_addressed_to_them_and_says_no_more_than_the_patients(
    patient, settings, at_due, claim_all
):
    patient.user.first_name, patient.user.last_name = "Rosa", "Quintana"
    patient.user.save()
    helper, _ = carer(patient, "reminders")
    plan(patient, ["email"], settings)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 2}
    by_to = {m.to[0]: m for m in mail.outbox}
    assert set(by_to) == {patient.user.email, helper.email}
    message = by_to[helper.email]
    html = message.alternatives[0][0]
    assert message.body.startswith("Hello Casey,")
    assert "Rosa has an appointment coming up" in message.body
    assert "12:00 (America/New_York)" in message.body  # the patient's local time
    assert message.subject == f"Reminder about Rosa from {patient.clinic.name}"
    text = message.subject + message.body + html
    assert "Quintana" not in text and "Suture" not in text
    assert (
        message.extra_headers["X-Realign-Reminder"] == f"appointment:appt-1:1d:email:cg{helper.pk}"
    )


def test_revoked_between_claim_and_delivery_is_not_sent(patient, settings, at_due, claim_all):
    _, grant = carer(patient, "reminders")
    plan(patient, ["email"], settings)
    _, enqueued = claim_all()
    # Revoked after the claim, bypassing the hook (as if the claim had raced the revocation).
    CaregiverGrant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1, "cancelled": 1}
    assert [m.to for m in mail.outbox] == [[patient.user.email]]
    row = copies().get(step__key="1d")
    assert row.status == "cancelled" and "access" in row.last_error and row.attempts == 1


def test_expired_grant_gets_nothing(patient, settings, at_due, claim_all):
    helper, _ = carer(patient, "reminders", expires_at=DUE)  # ends just before delivery
    plan(patient, ["email"], settings)
    assert copies().count() == 2  # planned while the grant was active (1d and 2h)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1, "cancelled": 1}
    assert helper.email not in [m.to[0] for m in mail.outbox]


def test_inactive_caregiver_account_is_refused(patient, settings, at_due, claim_all):
    helper, _ = carer(patient, "reminders")
    helper.is_active = False
    helper.save()
    plan(patient, ["email"], settings)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1, "cancelled": 1}
    assert copies().get(step__key="1d").last_error == "the caregiver's account is inactive"


def test_caregiver_registers_a_phone_and_the_push_goes_there(
    api, patient, settings, at_due, fcm, claim_all
):
    helper, _ = carer(patient, "reminders")
    services.device_register(patient=patient, token="patient-phone", platform="android")
    client = api(helper)
    answer = client.post("/api/v1/devices/", {"token": "carer-phone", "platform": "ios"})
    assert answer.status_code == 201
    assert (
        client.post("/api/v1/devices/", {"token": "carer-phone", "platform": "ios"}).status_code
        == 200
    )
    assert [d["platform"] for d in client.get("/api/v1/devices/").json()] == ["ios"]
    assert StaffDevice.objects.get().user == helper
    plan(patient, ["push"], settings)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 2}
    sent = {r["json"]["message"]["token"]: r["json"]["message"] for r in fcm.requests}
    assert set(sent) == {"patient-phone", "carer-phone"}
    assert "appointment coming up" in sent["carer-phone"]["notification"]["body"]
    assert "Suture" not in str(sent)
    assert (
        sent["carer-phone"]["android"]["collapse_key"]
        != sent["patient-phone"]["android"]["collapse_key"]
    )
    # The caregiver has no inbox, and removes their phone like a patient.
    assert client.get("/api/v1/notifications/").status_code == 403
    assert client.delete("/api/v1/devices/", {"token": "carer-phone"}).status_code == 204
    assert client.delete("/api/v1/devices/", {"token": "patient-phone"}).status_code == 404


def test_a_phone_changing_hands_between_patient_and_caregiver_has_one_owner(api, patient):
    helper, _ = carer(patient, "reminders")
    services.device_register(patient=patient, token="shared-phone", platform="android")
    assert api(helper).post("/api/v1/devices/", {"token": "shared-phone", "platform": "android"})
    assert not patient.devices.exists() and StaffDevice.objects.get().user == helper
    services.device_register(patient=patient, token="shared-phone", platform="android")
    assert patient.devices.count() == 1 and not StaffDevice.objects.exists()


def test_daily_checkins_and_their_satisfaction_include_the_caregiver(patient, settings):
    carer(patient, "reminders")
    settings.REMINDERS_CHANNELS = ["inbox", "push"]
    patient.checkin_time = time(19, 0)
    patient.save()
    with time_machine.travel(PLAN_AT, tick=False):
        services.daily_checkins_plan()
        rows = copies().filter(kind="daily_checkin")
        assert rows.count() == 2 and set(rows.values_list("channel", flat=True)) == {"push"}
        today = PLAN_AT.astimezone(patient.tz).date()
        services.daily_checkin_satisfied(patient=patient, local_date=today)
        assert rows.filter(status="cancelled").count() == 1


def test_erasure_and_quiet_hours_hold_for_copies(patient, settings):
    carer(patient, "reminders")
    plan(patient, ["email"], settings)
    with time_machine.travel(PLAN_AT, tick=False):
        patient.time_zone = "Europe/Paris"
        patient.save()
        services.patient_reminders_replan(profile=patient, changed={"time_zone"})
        own = {r.dedup_key: r.due_at for r in Reminder.objects.filter(recipient__isnull=True)}
        for row in copies():
            assert row.due_at == own[row.dedup_key.rsplit(":", 1)[0]]
        services.patient_reminders_erase(profile=patient)
    assert set(copies().values_list("status", flat=True)) == {"cancelled"}


def _delivery_queries(patient, settings, claim_all, n_caregivers):
    for i in range(n_caregivers):
        carer(patient, "reminders", email=f"carer{i}@example.test")
    plan(patient, ["email"], settings)
    with CaptureQueriesContext(connection) as dispatch:
        total, enqueued = claim_all()
    with CaptureQueriesContext(connection) as deliver:
        assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": total}
    return total, len(dispatch), len(deliver)


@pytest.mark.parametrize("n", [1, 4])
def test_query_counts_grow_by_a_constant_per_copy(patient, settings, at_due, claim_all, n):
    total, dispatch, deliver = _delivery_queries(patient, settings, claim_all, n)
    assert total == n + 1
    assert dispatch == 4, dispatch  # the claim, whatever the number of rows
    # The chunk's setup, the patient's row, then a constant per copy: the patient's row's
    # queries (attempt mark, sent mark, their transactions) and one more, the grant check.
    assert deliver == 13 + 9 * n, deliver


def test_admin_shows_the_recipient_scoped_and_the_timeline_only_the_patients_own(
    client, patient, other_patient, nurse, settings
):
    from reminders.selectors import reminders_sent_for_patient

    helper, _ = carer(patient, "reminders")
    carer(other_patient, "reminders", email="stranger@example.test")
    plan(patient, ["email"], settings)
    plan(other_patient, ["email"], settings, cause_id="appt-2")
    Reminder.objects.update(status="sent", sent_at=timezone.now())
    assert {r.recipient_id for r in reminders_sent_for_patient(patient=patient)} == {None}
    client.force_login(nurse)  # on the patient's care team only
    page = client.get("/admin/reminders/reminder/")
    assert page.status_code == 200
    shown = page.context["cl"].result_list
    assert {r.patient_id for r in shown} == {patient.pk}
    assert {r.recipient_id for r in shown} == {None, helper.pk}
    assert f"caregiver {helper.email}" in page.content.decode()
    assert "stranger@example.test" not in page.content.decode()
