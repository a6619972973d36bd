"""Devices and inbox API (auth, scope, error shape, query counts) and the reminders admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from reminders import selectors, services
from reminders.models import Device, Notification, Reminder
from tests.conftest import client_for
from tests.factories import StaffFactory


def make_notes(patient, n):
    return [
        services.notification_create(patient_id=patient.pk, kind="milestone", title=f"Note {i}")
        for i in range(n)
    ]


# --- Devices --------------------------------------------------------------------------------


def test_register_device_is_idempotent_and_listed(patient):
    api = client_for(patient.user)
    body = {"token": "tok-1", "platform": "android"}
    first = api.post("/api/v1/devices/", body)
    assert first.status_code == 201, first.json()
    again = api.post("/api/v1/devices/", body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    listed = api.get("/api/v1/devices/")
    assert [d["id"] for d in listed.json()] == [first.json()["id"]]
    assert "token" not in listed.json()[0]


def test_token_moves_to_the_patient_who_registers_it_last(patient, other_patient):
    client_for(patient.user).post("/api/v1/devices/", {"token": "shared", "platform": "ios"})
    client_for(other_patient.user).post("/api/v1/devices/", {"token": "shared", "platform": "ios"})
    assert Device.objects.get().patient == other_patient


def test_remove_device_and_another_patients_token_is_404(patient, other_patient):
    client_for(patient.user).post("/api/v1/devices/", {"token": "mine", "platform": "ios"})
    other = client_for(other_patient.user).delete("/api/v1/devices/", {"token": "mine"})
    assert other.status_code == 404
    assert other.json()["errors"][0]["code"] == "not_found"
    assert client_for(patient.user).delete("/api/v1/devices/", {"token": "mine"}).status_code == 204
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"token": "t", "platform": "blackberry"},
        {"platform": "ios"},
        {"token": "", "platform": "ios"},
        {"token": "t", "platform": "ios", "patient": 1},
        {"token": "x" * 5000, "platform": "ios"},
    ],
)
def test_bad_device_input_is_a_400_in_the_one_shape(patient, body):
    response = client_for(patient.user).post("/api/v1/devices/", body)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert not Device.objects.exists()


def test_devices_and_inbox_need_a_patient(nurse):
    assert client_for(None).get("/api/v1/devices/").status_code == 401
    assert client_for(None).get("/api/v1/notifications/").status_code == 401
    response = client_for(nurse).post("/api/v1/devices/", {"token": "t", "platform": "ios"})
    assert response.status_code == 403
    assert response.json()["type"] == "client_error"
    assert client_for(nurse).get("/api/v1/notifications/").status_code == 403


# --- Inbox ----------------------------------------------------------------------------------


def test_inbox_lists_own_notifications_newest_first_with_bounded_queries(
    patient, other_patient, django_assert_max_num_queries
):
    make_notes(patient, 2)
    make_notes(other_patient, 5)
    api = client_for(patient.user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/notifications/?page_size=20")
    make_notes(patient, 28)
    with django_assert_max_num_queries(len(few)):  # 20 rows cost what 2 rows cost
        response = api.get("/api/v1/notifications/?page_size=20")
    assert len(few) <= 5  # user, notifications page (+ session/auth plumbing)
    body = response.json()
    assert response.status_code == 200 and len(body["results"]) == 20
    assert body["next"]
    titles = [n["title"] for n in body["results"]]
    assert titles[0] == "Note 27"
    rest = api.get(body["next"]).json()["results"]
    assert len(rest) == 10 and not {n["id"] for n in rest} & {n["id"] for n in body["results"]}


def test_mark_read_ticks_the_clock_and_filters_unread(patient):
    first, second = make_notes(patient, 2)
    api = client_for(patient.user)
    response = api.post(f"/api/v1/notifications/{first.pk}/read/")
    assert response.status_code == 200 and response.json()["read_at"]
    first.refresh_from_db()
    patient.clock.refresh_from_db()
    assert first.sync_version == patient.clock.value > second.sync_version
    unread = api.get("/api/v1/notifications/?unread=true").json()["results"]
    assert [n["id"] for n in unread] == [second.pk]


def test_delete_is_a_tombstone(patient):
    (note,) = make_notes(patient, 1)
    api = client_for(patient.user)
    assert api.delete(f"/api/v1/notifications/{note.pk}/").status_code == 204
    note.refresh_from_db()
    assert note.deleted_at is not None and note.sync_version > 0
    assert api.get(f"/api/v1/notifications/{note.pk}/").status_code == 404
    assert api.get("/api/v1/notifications/").json()["results"] == []


def test_another_patients_notification_is_404(patient, other_patient):
    (note,) = make_notes(other_patient, 1)
    api = client_for(patient.user)
    assert api.get(f"/api/v1/notifications/{note.pk}/").status_code == 404
    assert api.post(f"/api/v1/notifications/{note.pk}/read/").status_code == 404
    assert api.delete(f"/api/v1/notifications/{note.pk}/").status_code == 404
    note.refresh_from_db()
    assert note.read_at is None and note.deleted_at is None


def test_notification_ids_are_valid_sync_ids(patient):
    (note,) = make_notes(patient, 1)
    assert 1 <= len(note.pk) <= 36
    note.full_clean()
    assert Notification._meta.get_field("sync_version").get_internal_type() == "BigIntegerField"


# --- Selector for the timeline -----------------------------------------------------------------


def test_reminders_sent_for_patient(patient, other_patient, settings, django_assert_num_queries):
    settings.REMINDERS_CHANNELS = ["inbox"]
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for who in (patient, other_patient):
        services.reminders_sync_for_cause(
            patient=who,
            kind="appointment",
            cause_type="appointment",
            cause_id=f"a{who.pk}",
            anchor=base,
            title="Visit",
        )
    rows = list(Reminder.objects.order_by("id"))
    for i, row in enumerate(rows):
        row.status, row.sent_at = "sent", base - timedelta(days=10 - i)
        row.save()
    with django_assert_num_queries(1):
        sent = list(selectors.reminders_sent_for_patient(patient=patient))
    assert [r.patient_id for r in sent] == [patient.pk] * 3
    window = selectors.reminders_sent_for_patient(
        patient=patient, since=base - timedelta(days=9), until=base - timedelta(days=8)
    )
    assert [r.sent_at for r in window] == [base - timedelta(days=9)]


# --- Admin ----------------------------------------------------------------------------------


@pytest.fixture
def planned(patient, other_patient, settings):
    settings.REMINDERS_CHANNELS = ["inbox", "email"]
    anchor = datetime(2030, 1, 1, 15, 0, tzinfo=UTC)
    for who in (patient, other_patient):
        services.reminders_sync_for_cause(
            patient=who,
            kind="appointment",
            cause_type="appointment",
            cause_id=f"a{who.pk}",
            anchor=anchor,
            title="Visit",
        )


def admin_client(user):
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_only_care_team_reminders_with_bounded_queries(
    patient, other_patient, nurse, planned, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = admin_client(nurse)
    url = reverse("admin:reminders_reminder_changelist")
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    assert response.status_code == 200
    shown = set(response.context["cl"].result_list.values_list("patient_id", flat=True))
    assert shown == {patient.pk}
    # Ten times the rows, several patients' worth of causes: the same number of queries.
    for n in range(10):
        services.reminders_sync_for_cause(
            patient=patient,
            kind="appointment",
            cause_type="appointment",
            cause_id=f"more{n}",
            anchor=datetime(2030, 2, 1, 15, 0, tzinfo=UTC),
            title="Visit",
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["cl"].result_list) > 20
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(few) <= 16  # 15, and the PHI access log's one insert for the page
    foreign = Reminder.objects.filter(patient=other_patient).first()
    url = reverse("admin:reminders_reminder_change", args=[foreign.pk])
    response = client.get(url)  # outside the scope is indistinguishable from not existing
    assert response.status_code == 404


def test_clinician_cancels_and_resends_from_the_admin(patient, other_patient, nurse, planned):
    client = admin_client(nurse)
    url = reverse("admin:reminders_reminder_changelist")
    mine = list(Reminder.objects.filter(patient=patient).values_list("pk", flat=True))
    foreign = list(Reminder.objects.filter(patient=other_patient).values_list("pk", flat=True))
    response = client.post(
        url, {"action": "cancel_reminders", "_selected_action": mine + foreign}, follow=True
    )
    assert response.status_code == 200
    assert set(Reminder.objects.filter(pk__in=mine).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert set(Reminder.objects.filter(pk__in=foreign).values_list("status", flat=True)) == {
        "pending"
    }
    client.post(url, {"action": "resend_reminders", "_selected_action": mine[:1]}, follow=True)
    resent = Reminder.objects.get(pk=mine[0])
    assert resent.status == "pending" and "resent by" in resent.last_error


def test_resend_of_a_sent_reminder_makes_a_new_row(patient, planned):
    row = Reminder.objects.filter(patient=patient).first()
    row.status, row.sent_at = "sent", datetime(2029, 12, 1, tzinfo=UTC)
    row.save()
    copy = services.reminder_resend(reminder_id=row.pk, by="nurse@example.test")
    assert copy.pk != row.pk and copy.dedup_key == f"{row.dedup_key}#resend1"
    row.refresh_from_db()
    assert row.status == "sent"


def test_patient_cannot_open_the_admin_and_other_clinic_staff_see_nothing(patient, planned):
    assert (
        admin_client(patient.user).get(reverse("admin:reminders_reminder_changelist")).status_code
        == 302
    )
    stranger = StaffFactory(role="nurse")  # another clinic
    response = admin_client(stranger).get(reverse("admin:reminders_reminder_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_reminder_plan_admin_is_for_clinic_admins(clinic, nurse):
    admin_user = StaffFactory(clinic=clinic, role="clinic_admin")
    url = reverse("admin:reminders_reminderplan_add")
    assert admin_client(nurse).get(url).status_code == 403
    response = admin_client(admin_user).post(
        url, {"clinic": clinic.pk, "kind": "appointment", "steps": '[{"key": "x", "minutes": "1"}]'}
    )
    assert response.status_code == 200  # the form came back with the error
    assert "minutes must be an integer" in response.content.decode()
    response = admin_client(admin_user).post(
        url, {"clinic": clinic.pk, "kind": "appointment", "steps": '[{"key": "x", "minutes": -30}]'}
    )
    assert response.status_code == 302
    assert clinic.reminder_plans.get().steps == [{"key": "x", "minutes": -30}]


@pytest.mark.parametrize("bad", ["x" * 37, "a%00b", "%F0%9F%98%80", "a.b"])
def test_malformed_notification_ids_are_404_not_500(patient, bad):
    api = client_for(patient.user)
    for response in (
        api.get(f"/api/v1/notifications/{bad}/"),
        api.post(f"/api/v1/notifications/{bad}/read/"),
        api.delete(f"/api/v1/notifications/{bad}/"),
    ):
        assert response.status_code == 404
        assert response.json()["type"] == "client_error"
