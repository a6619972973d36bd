"""Applying a protocol in the admin: a confirmation page shows the plan first (issue 19 item 2),
and confirming applies exactly that plan, once."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import PatientProfile, PHIAccess
from recovery.care.models import ProtocolRecord
from recovery.models import ActivityRestriction, Appointment, Protocol, ProtocolApplication
from recovery.record.kinds import APPOINTMENTS, SURGERIES
from recovery.record.writes import record_create

pytestmark = pytest.mark.django_db

ADD = "admin:recovery_protocolapplication_add"


@pytest.fixture
def default_protocol():
    return Protocol.objects.get(clinic=None, name="Lumbar revision fusion")


@pytest.fixture
def surgery(patient, surgeon):
    return record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate(timezone=patient.tz) - timedelta(days=20),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )[0]


def _confirm_value(page) -> str:
    return re.search(rb'name="confirm" value="([0-9a-f]+)"', page.content).group(1).decode()


def _section(page, anchor: str) -> str:
    html = page.content.decode()
    return html[html.index(f'id="{anchor}"') :].split("<h2", 1)[0]


def test_posting_the_form_shows_the_plan_and_writes_nothing(
    client, surgeon, patient, surgery, default_protocol
):
    client.force_login(surgeon)
    page = client.post(reverse(ADD), {"protocol": default_protocol.pk, "surgery": surgery.pk})

    assert page.status_code == 200
    assert b"Yes, apply this plan" in page.content
    assert not ProtocolApplication.objects.exists()
    assert not ActivityRestriction.objects.filter(patient=patient).exists()
    # 20 days after surgery: the day-14 wound check is past, shown as not applicable.
    assert "wound check" in _section(page, "not-applicable").lower()
    assert "wound check" not in _section(page, "will-create").lower()
    assert "Will be created (" in page.content.decode()
    assert PHIAccess.objects.filter(
        user=surgeon, patient=patient, action="admin_preview", resource="protocol_applications"
    ).exists()


def test_confirming_applies_the_plan_once(client, surgeon, patient, surgery, default_protocol):
    client.force_login(surgeon)
    data = {"protocol": default_protocol.pk, "surgery": surgery.pk}
    page = client.post(reverse(ADD), data)
    to_create = _section(page, "will-create").count("<li")

    done = client.post(reverse(ADD), {**data, "confirm": _confirm_value(page)})

    assert done.status_code == 302
    [application] = ProtocolApplication.objects.filter(surgery=surgery)
    assert application.applied_by == surgeon
    assert ProtocolRecord.objects.filter(application=application, outcome="created").count() == (
        to_create
    )
    assert not Appointment.objects.filter(
        patient=patient, status="scheduled", starts_at__lt=timezone.now()
    ).exists()

    again = client.post(reverse(ADD), data)
    assert "Will be created (0)" in again.content.decode()
    client.post(reverse(ADD), {**data, "confirm": _confirm_value(again)})
    assert ProtocolRecord.objects.filter(application=application).count() == 34
    assert ProtocolApplication.objects.filter(surgery=surgery).count() == 1


def test_a_plan_that_changed_since_the_page_is_shown_again(
    client, surgeon, patient, surgery, default_protocol
):
    client.force_login(surgeon)
    data = {"protocol": default_protocol.pk, "surgery": surgery.pk}
    page = client.post(reverse(ADD), data)
    starts = timezone.now() + timedelta(days=22)
    record_create(
        APPOINTMENTS,
        actor=surgeon,
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        purpose="follow_up",
    )

    stale = client.post(reverse(ADD), {**data, "confirm": _confirm_value(page)})

    assert stale.status_code == 200
    assert b'id="plan-changed"' in stale.content
    assert "follow-up" in _section(stale, "already-present").lower()
    assert not ProtocolApplication.objects.exists()


def test_a_surgeon_off_the_team_cannot_preview_or_apply(
    client, outsider_surgeon, patient, surgery, default_protocol
):
    client.force_login(outsider_surgeon)
    data = {"protocol": default_protocol.pk, "surgery": surgery.pk}
    page = client.post(reverse(ADD), data)
    assert page.status_code == 200
    assert b"Yes, apply this plan" not in page.content  # the surgery is not in the picker
    page = client.post(reverse(ADD), {**data, "confirm": "0" * 32})
    assert b"Yes, apply this plan" not in page.content
    assert not ProtocolApplication.objects.exists()
    assert not PHIAccess.objects.filter(patient=patient).exists()


def test_the_demo_patient_starts_with_a_plan_without_duplicates(client, api):
    call_command("seed_demo", verbosity=0)
    demo = PatientProfile.objects.get(user__email="patient@demo.test")

    [plan] = api(demo.user).get("/api/v1/me/plan/").json()

    assert plan["surgery"] == "demo-revision-l4l5"
    assert sum(len(item["records"]) for item in plan["items"]) > 0
    activities = Counter(
        ActivityRestriction.objects.filter(patient=demo).values_list("activity", flat=True)
    )
    assert max(activities.values()) == 1
    links = ProtocolRecord.objects.filter(application__surgery_id="demo-revision-l4l5")
    assert links.count() == 34
    assert not links.filter(outcome="created", appointment__starts_at__lt=timezone.now()).exists()
    assert not links.filter(
        outcome="created", pt_session__scheduled_for__lt=timezone.now()
    ).exists()
    call_command("seed_demo", verbosity=0)  # idempotent
    assert ProtocolRecord.objects.filter(application__surgery_id="demo-revision-l4l5").count() == 34
