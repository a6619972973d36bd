"""Issue 19 item 3: fields the server sets are never form inputs in the admin.

Who did something and when (``lifted_by``, ``acknowledged_by``, ``created_by``, ``applied_by``,
the ``*_at`` stamps, a restriction's ``lifted_on``) are set by the services from
``request.user`` and the clock. The first test walks every add and change form of every
registered admin page, as a superuser, a clinic admin and a care-team surgeon, and fails on any
such field rendered as an input (visible or hidden, inline forms included); the rule of what
counts as server-set is written here, independently of the admin code. The others post forged
values and check that the server's value wins.
"""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from recovery.care.models import Alert, Protocol, ProtocolApplication
from recovery.models import ActivityRestriction
from recovery.record.kinds import RESTRICTIONS
from recovery.record.writes import record_create
from tests.accounts import test_phi_coverage
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

# The PHI walk's patient with a row of every kind (and its fast password hasher).
cast = test_phi_coverage.cast
_fast_passwords = test_phi_coverage._fast_passwords

SERVER_SET = {
    # every clinical row
    "created_by",
    "created_at",
    "updated_at",
    "deleted_at",
    "sync_version",
    # named domain actions
    "lifted_by",
    "lifted_on",
    "acknowledged_by",
    "acknowledged_at",
    "acknowledge_by",
    "resolved_by",
    "resolved_at",
    "escalated_at",
    "opened_at",
    "applied_by",
    "applied_at",
    "anchor_on",
    "added_at",
    # accounts, invitations, reminders, devices
    "accepted_at",
    "expires_at",
    "last_login",
    "date_joined",
    "sent_at",
    "claimed_at",
    "pushed_at",
    "read_at",
    "attempts",
    "last_error",
    "last_used_at",
    "deactivated_reason",
    "blacklisted_at",
    "throttling_failure_timestamp",
    "throttling_failure_count",
    "drift",
    # derived by the service
    "score",
    "sections_answered",
    "at",
}
NOT_FIELDS = {"csrfmiddlewaretoken", "record_version", "action", "select_across", "index"}
FORM = re.compile(r'<form\b[^>]*id="[a-z_]+_form".*?</form>', re.DOTALL)
CONTROL = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', re.DOTALL)


def is_server_set(name: str) -> bool:
    return name in SERVER_SET or name.endswith("_by")


def input_names(html: str) -> set[str]:
    """The model fields a form posts: names of inputs, selects and text areas of the admin's
    form, inline prefixes (``memberships-0-``) removed, management fields left out."""
    form = FORM.search(html)
    assert form is not None, "no admin form on the page"
    names = set()
    for name in CONTROL.findall(form.group(0)):
        field = name.rsplit("-", 1)[-1]
        if name.startswith("_") or field.isupper() or field in NOT_FIELDS:
            continue  # buttons (_save), management forms (TOTAL_FORMS), the version
        names.add(field)
    return names


@pytest.fixture
def everything(request, clinic):
    """``cast`` (a patient with a row of every kind, an alert, an applied protocol, reminders,
    notifications, a device and an invitation) and a row for the remaining admin pages."""
    cast = request.getfixturevalue("cast")
    superuser = User.objects.create_superuser("root@example.test", "x-not-used-9")
    clinic_admin = StaffFactory(clinic=clinic, role="clinic_admin")
    Group.objects.create(name="auditors")
    # Someone else's device: a device of a user signed in here would ask for its code.
    TOTPDevice.objects.create(
        user=StaffFactory(clinic=clinic, role="nurse"), name="phone", confirmed=True
    )
    return {**cast, "superuser": superuser, "clinic_admin": clinic_admin}


def test_no_admin_form_has_a_server_set_field_as_an_input(client, everything):
    offending, walked = [], set()
    for role in ("superuser", "clinic_admin", "surgeon"):
        client.force_login(everything[role])
        for model in list(admin.site._registry):
            label = model._meta.label_lower
            base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            pages = [f"{base}add/"]
            row = model._default_manager.order_by("pk").first()
            if row is not None:
                pages.append(f"{base}{quote(row.pk)}/change/")
            for url in pages:
                response = client.get(url)
                if response.status_code != 200:
                    continue  # not this role's page (403), or outside the scope (404)
                if (
                    "<form" not in response.content.decode()
                    or FORM.search(response.content.decode()) is None
                ):
                    continue
                names = input_names(response.content.decode())
                walked.add((label, "change" if "change" in url else "add"))
                walked.add((role, label, "change" if "change" in url else "add"))
                offending += [(role, label, url, n) for n in sorted(names) if is_server_set(n)]
    assert offending == []
    # The walk reached the pages that carry such fields (a walk that saw nothing proves nothing).
    for page in [
        ("recovery.activityrestriction", "add"),
        ("recovery.activityrestriction", "change"),
        ("recovery.protocolapplication", "add"),
        ("recovery.protocol", "add"),
        ("accounts.clinic", "change"),
        ("accounts.patientprofile", "change"),
        ("otp_totp.totpdevice", "change"),
        ("recovery.alert", "change"),
        ("accounts.invitation", "change"),
    ]:
        assert page in walked, page
    for page in [
        ("surgeon", "recovery.activityrestriction", "add"),
        ("surgeon", "recovery.activityrestriction", "change"),
        ("surgeon", "recovery.protocolapplication", "add"),
        ("clinic_admin", "accounts.patientprofile", "change"),
        ("clinic_admin", "accounts.clinic", "change"),
    ]:
        assert page in walked, page
    assert len({page[0] for page in walked if len(page) == 2}) >= len(admin.site._registry) - 6


def _change_data(response) -> dict:
    """What the change form would post unchanged: every field's current value."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    return data


def test_a_forged_lifted_by_is_ignored(client, surgeon, patient, other_patient):
    outsider = other_patient.surgeon  # a surgeon of the clinic, not on this patient's team
    restriction, _ = record_create(
        RESTRICTIONS,
        actor=surgeon,
        patient=patient,
        activity="lifting",
        limit_value=10,
        limit_unit="lb",
        starts_on=timezone.localdate() - timedelta(days=3),
    )
    client.force_login(surgeon)
    url = f"/admin/recovery/activityrestriction/{restriction.pk}/change/"
    page = client.get(url)
    data = {
        **_change_data(page),
        "instructions": "Nothing heavier than a bag of groceries.",
        "lifted_by": outsider.pk,
        "lifted_on": str(timezone.localdate()),
        "created_by": outsider.pk,
    }
    assert client.post(url, data).status_code == 302

    restriction.refresh_from_db()
    assert restriction.instructions == "Nothing heavier than a bag of groceries."
    assert (restriction.lifted_by, restriction.lifted_on) == (None, None)
    assert restriction.created_by == surgeon

    # Lifting is the action's: who lifted is the signed-in surgeon, whatever is posted.
    client.post(
        "/admin/recovery/activityrestriction/",
        {"action": "lift", "_selected_action": [restriction.pk], "lifted_by": outsider.pk},
    )
    restriction.refresh_from_db()
    assert restriction.lifted_by == surgeon
    assert restriction.lifted_on == timezone.localdate(timezone=patient.tz)


def test_a_forged_creator_on_the_add_form_is_ignored(client, surgeon, patient, other_patient):
    outsider = other_patient.surgeon
    client.force_login(surgeon)
    response = client.post(
        "/admin/recovery/activityrestriction/add/",
        {
            "patient": patient.pk,
            "activity": "driving",
            "starts_on": str(timezone.localdate()),
            "created_by": outsider.pk,
            "lifted_by": outsider.pk,
            "lifted_on": str(timezone.localdate()),
        },
    )
    assert response.status_code == 302
    restriction = ActivityRestriction.objects.get(patient=patient, activity="driving")
    assert restriction.created_by == surgeon
    assert (restriction.lifted_by, restriction.lifted_on) == (None, None)


def test_a_forged_acknowledged_by_is_ignored(client, everything, other_patient):
    patient, surgeon = everything["patient"], everything["surgeon"]
    outsider = other_patient.surgeon
    alert = Alert.objects.filter(patient=patient, status="open").first()
    client.force_login(surgeon)
    change = f"/admin/recovery/alert/{alert.pk}/change/"
    forged = {"acknowledged_by": outsider.pk, "acknowledged_at": "2020-01-01 00:00:00"}
    assert client.post(change, {**forged, "status": "acknowledged"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open" and alert.acknowledged_by is None

    client.post(
        "/admin/recovery/alert/",
        {"action": "acknowledge", "_selected_action": [alert.pk], **forged},
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by == surgeon
    assert timezone.now() - alert.acknowledged_at < timedelta(minutes=1)


def test_a_forged_applied_by_is_ignored(client, surgeon, patient, other_patient):
    from recovery.record.kinds import SURGERIES

    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=5),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    protocol = Protocol.objects.get(clinic=None, name="Lumbar revision fusion")
    client.force_login(surgeon)
    data = {
        "protocol": protocol.pk,
        "surgery": surgery.pk,
        "applied_by": other_patient.surgeon.pk,
        "applied_at": "2020-01-01 00:00:00",
        "anchor_on": "2020-01-01",
    }
    page = client.post("/admin/recovery/protocolapplication/add/", data)
    confirm = re.search(rb'name="confirm" value="([0-9a-f]+)"', page.content).group(1).decode()
    client.post("/admin/recovery/protocolapplication/add/", {**data, "confirm": confirm})

    application = ProtocolApplication.objects.get(surgery=surgery)
    assert application.applied_by == surgeon
    assert application.anchor_on == surgery.performed_on
    assert timezone.now() - application.applied_at < timedelta(minutes=1)
