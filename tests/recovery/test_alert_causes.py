"""One alert per check-in with all its causes, temperatures in a physiological range, hypothermia
as a red flag, and a resolution that needs a note (issue 19 item 5)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import Invalid
from recovery.care.alerts import alert_acknowledge, alert_resolve
from recovery.care.kinds import CHECK_INS
from recovery.care.tasks import alert_notify
from recovery.models import Alert, CheckIn
from recovery.record.writes import record_update

from .sync.helpers import changes, now_ms, pull, push

pytestmark = pytest.mark.django_db

CHECK_IN_URL = "/api/v1/check-ins/"
THREE_CAUSES = {"temperature_c": "38.6", "wound_redness": True, "wound_swelling_or_drainage": True}


def check_in(api, patient, **answers):
    body = {"answered_at": timezone.now().isoformat(), **answers}
    return api(patient.user).post(CHECK_IN_URL, body, format="json")


def _mailed():
    return Counter(address for m in mail.outbox for address in m.to)


def _keys(alert):
    return [c["rule_key"] for c in alert.causes]


def test_three_causes_in_one_check_in_open_one_alert_and_one_email_each(
    api, patient, surgeon, nurse, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = check_in(api, patient, **THREE_CAUSES)
    assert response.status_code == 201, response.content
    assert len(queued) == 1  # one notification task
    alert = Alert.objects.get(patient=patient)
    assert _keys(alert) == ["fever", "wound-redness", "wound-drainage"]
    assert alert.tier == "same_day" and alert.rule_key == "fever"
    assert alert.causes[0]["detail"] == "temperature_c = 38.6"
    assert "Wound redness" in alert.title and "Wound swelling or drainage" in alert.title
    # The patient still sees each answer that matters, most urgent first.
    assert [a["title"] for a in response.json()["triage"]["alerts"]] == [
        c["title"] for c in alert.causes
    ]

    for alert in Alert.objects.all():  # what the worker runs for each queued task
        alert_notify(alert.pk)
    assert _mailed() == {surgeon.email: 1, nurse.email: 1}
    assert "3 red flags" in mail.outbox[0].body and "wound" not in mail.outbox[0].body.lower()

    listed = api(surgeon).get("/api/v1/alerts/").json()["results"]
    assert [[c["rule_key"] for c in a["causes"]] for a in listed] == [
        ["fever", "wound-redness", "wound-drainage"]
    ]


def test_an_emergency_among_the_causes_sets_the_alerts_tier_and_deadline(api, patient):
    response = check_in(api, patient, fell=True, chest_pain_or_breathless=True, wound_opening=True)
    assert response.json()["triage"]["call_emergency_services"] is True
    alert = Alert.objects.get(patient=patient)
    assert alert.tier == "emergency" and _keys(alert) == ["chest-breath", "wound-opening", "fall"]
    assert alert.acknowledge_by - alert.opened_at == timedelta(minutes=15)


def test_a_later_check_in_while_an_alert_is_open_alerts_only_what_is_new(
    api, patient, surgeon, nurse, django_capture_on_commit_callbacks
):
    check_in(api, patient, temperature_c="38.4", wound_redness=True)
    first = Alert.objects.get()
    # The next day: fever again (already on the open alert) and a new chest pain.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = check_in(api, patient, temperature_c="38.9", chest_pain_or_breathless=True)
    assert response.json()["triage"]["tier"] == "emergency"  # the patient is told both
    assert len(queued) == 1
    second = Alert.objects.exclude(pk=first.pk).get()
    assert _keys(second) == ["chest-breath"] and second.tier == "emergency"
    first.refresh_from_db()
    assert _keys(first) == ["fever", "wound-redness"]

    # Nothing new: no alert, nobody told again.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        check_in(api, patient, temperature_c="38.2", wound_redness=True)
    assert queued == [] and Alert.objects.count() == 2

    # Once resolved, the same red flag opens a new alert.
    alert_resolve(actor=nurse, alert=first, note="Antibiotics started.")
    check_in(api, patient, temperature_c="38.3")
    assert Alert.objects.filter(status="open", rule_key="fever").count() == 1


def test_an_edited_check_in_alerts_the_answer_it_adds(api, patient):
    check_in(api, patient, id="ci-edit", wound_redness=True)
    row = CheckIn.objects.get(pk="ci-edit")
    record_update(CHECK_INS, actor=patient.user, record=row, fell=True, wound_redness=True)
    assert sorted(_keys(a) for a in Alert.objects.all()) == [["fall"], ["wound-redness"]]
    assert set(Alert.objects.values_list("source_id", flat=True)) == {"ci-edit"}


# --- temperatures -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["45", "43.1", "29.9", "-1"])
def test_an_impossible_temperature_is_a_400_and_writes_nothing(api, patient, value):
    response = check_in(api, patient, temperature_c=value)
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["attr"] == "temperature_c"
    assert "30.0" in error["detail"] and "43.0" in error["detail"]
    assert not CheckIn.objects.exists() and not Alert.objects.exists()


@pytest.mark.parametrize(("value", "rule"), [("30.0", "hypothermia"), ("43.0", "fever")])
def test_the_ends_of_the_range_are_accepted(api, patient, value, rule):
    assert check_in(api, patient, temperature_c=value).status_code == 201
    assert Alert.objects.get().rule_key == rule


def test_sync_push_refuses_an_impossible_temperature_by_record(api, patient):
    client = api(patient.user)
    since = pull(client, schema_version=3).json()["timestamp"]
    raw = {
        "id": "ci-hot",
        "answered_at": now_ms(-timedelta(minutes=5)),
        "temperature_c": 45,
        "_status": "created",
        "_changed": "",
    }
    response = push(client, changes(check_ins={"created": [raw]}), since)
    # Refused and kept (docs/sync.md, "Refused records"), never stored as a check-in.
    assert response.status_code == 200, response.content
    (refused,) = response.json()["rejected"]
    assert (refused["table"], refused["id"]) == ("check_ins", "ci-hot")
    error = refused["errors"][0]
    assert error["attr"].endswith("temperature_c")
    assert "43.0" in error["detail"]
    assert not CheckIn.objects.exists()


def test_the_database_refuses_an_impossible_temperature(api, patient):
    check_in(api, patient, id="ci-db", temperature_c="37.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckIn.objects.filter(pk="ci-db").update(temperature_c=44)


@pytest.mark.parametrize(("value", "alerts"), [("34.0", 1), ("34.9", 1), ("35.0", 0), ("36.1", 0)])
def test_hypothermia_is_a_red_flag(api, patient, value, alerts):
    response = check_in(api, patient, temperature_c=value)
    assert response.status_code == 201
    assert Alert.objects.filter(rule_key="hypothermia").count() == alerts
    if alerts:
        alert = Alert.objects.get()
        assert alert.tier == "same_day"
        assert alert.causes[0]["detail"] == f"temperature_c = {value}"
        assert response.json()["triage"]["tier"] == "same_day"


# --- the lifecycle ------------------------------------------------------------------------


def test_resolving_needs_a_note(api, patient, nurse):
    check_in(api, patient, fell=True)
    alert = Alert.objects.get()
    with pytest.raises(Invalid) as refused:
        alert_resolve(actor=nurse, alert=alert, note="  ")
    assert refused.value.attr == "note"
    response = api(nurse).post(f"/api/v1/alerts/{alert.pk}/resolve/", {}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["attr"] == "note"
    alert_acknowledge(actor=nurse, alert=alert)
    resolved = alert_resolve(actor=nurse, alert=alert, note="Called: a slip, no injury.")
    assert (resolved.status, resolved.resolution_note) == ("resolved", "Called: a slip, no injury.")
