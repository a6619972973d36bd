from collections import Counter
from datetime import timedelta
from decimal import Decimal
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone

from config.errors import DomainError, Forbidden
from recovery.care.alerts import alert_acknowledge, alert_resolve, alerts_escalate_due
from recovery.care.tasks import alert_notify, escalate_alerts
from recovery.models import Alert, AlertNotification, TriageRule
from recovery.record.kinds import PAIN_LOGS, SURGERIES
from recovery.record.writes import record_create
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

CHECK_IN_URL = "/api/v1/check-ins/"


def check_in(api, patient, **answers):
    body = {"answered_at": timezone.now().isoformat(), **answers}
    return api(patient.user).post(CHECK_IN_URL, body, format="json")


@pytest.mark.parametrize(
    ("answers", "tier", "rule"),
    [
        ({"bowel_bladder_loss_or_saddle_numbness": True}, "emergency", "bowel-bladder"),
        ({"cannot_move_limb": True}, "emergency", "cannot-move-limb"),
        ({"chest_pain_or_breathless": True}, "emergency", "chest-breath"),
        ({"temperature_c": "38.1"}, "same_day", "fever"),
        ({"wound_redness": True}, "same_day", "wound-redness"),
        ({"wound_swelling_or_drainage": True}, "same_day", "wound-drainage"),
        ({"wound_opening": True}, "same_day", "wound-opening"),
        ({"calf_pain_or_leg_swelling": True}, "same_day", "calf-pain"),
        ({"new_numbness_or_weakness": True}, "same_day", "new-numbness"),
        ({"pain_uncontrolled": True}, "within_24h", "pain-uncontrolled"),
        ({"fell": True}, "within_24h", "fall"),
    ],
)
def test_each_check_in_rule_opens_its_alert(
    api, patient, answers, tier, rule, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = check_in(api, patient, **answers)
    assert response.status_code == 201, response.content
    triage = response.json()["triage"]
    assert triage["tier"] == tier
    assert triage["call_emergency_services"] is (tier == "emergency")
    alert = Alert.objects.get(patient=patient)
    assert (alert.rule_key, alert.tier, alert.status) == (rule, tier, "open")
    assert len(callbacks) == 1  # the care team is told after commit


@pytest.mark.parametrize(("temperature", "alerts"), [("38.0", 0), ("38.1", 1), ("37.2", 0)])
def test_fever_boundary_is_over_38(api, patient, temperature, alerts):
    response = check_in(api, patient, temperature_c=temperature)
    assert response.status_code == 201
    assert Alert.objects.count() == alerts


def test_nothing_wrong_opens_nothing(api, patient):
    response = check_in(api, patient, wound_redness=False, fell=False, temperature_c="36.9")
    assert response.json()["triage"] == {
        "call_emergency_services": False,
        "tier": None,
        "message": "",
        "alerts": [],
    }
    assert not Alert.objects.exists()


def test_emergency_answer_comes_first_with_the_instruction(api, patient):
    response = check_in(
        api, patient, fell=True, chest_pain_or_breathless=True, temperature_c="38.6"
    )
    triage = response.json()["triage"]
    assert triage["call_emergency_services"] is True
    assert "Call emergency services now" in triage["message"]
    assert [a["tier"] for a in triage["alerts"]] == ["emergency", "same_day", "within_24h"]


def test_neck_airway_rule_only_after_neck_surgery(api, patient, surgeon):
    check_in(api, patient, trouble_swallowing_or_breathing=True)
    assert not Alert.objects.exists()
    record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() - timedelta(days=3),
        region="cervical",
        levels="C5-C6",
        procedure="fusion",
    )
    response = check_in(api, patient, trouble_swallowing_or_breathing=True)
    assert response.json()["triage"]["call_emergency_services"] is True


def test_duplicate_check_in_is_idempotent_and_the_same_cause_never_opens_twice(api, patient):
    first = check_in(api, patient, id="ci-1", temperature_c="38.5")
    assert first.status_code == 201
    body = first.json()["check_in"]
    retry = api(patient.user).post(
        CHECK_IN_URL,
        {"id": "ci-1", "answered_at": body["answered_at"], "temperature_c": "38.5"},
        format="json",
    )
    assert retry.status_code == 200 and retry.json()["triage"]["tier"] == "same_day"
    check_in(api, patient, id="ci-2", temperature_c="38.9")  # fever again while the alert is open
    assert Alert.objects.filter(rule_key="fever").count() == 1


def test_bad_check_ins_are_4xx_and_write_nothing(api, patient, surgeon):
    assert check_in(api, patient, temperature_c="52").status_code == 400
    assert check_in(api, patient, fell="sometimes").status_code == 400
    assert check_in(api, patient, headache=True).status_code == 400
    assert (
        api(surgeon)
        .post(CHECK_IN_URL, {"answered_at": timezone.now().isoformat()}, format="json")
        .status_code
        == 403
    )
    assert api(None).post(CHECK_IN_URL, {}, format="json").status_code == 401
    assert not Alert.objects.exists()


def _log(patient, intensity, when):
    return record_create(
        PAIN_LOGS,
        actor=patient.user,
        patient=patient,
        recorded_at=when,
        intensity=intensity,
        location="back",
    )[0]


def test_three_high_pain_logs_in_a_row(patient):
    now = timezone.now()
    _log(patient, 8, now - timedelta(hours=30))
    _log(patient, 9, now - timedelta(hours=20))
    assert not Alert.objects.exists()
    _log(patient, 7, now - timedelta(hours=10))
    _log(patient, 8, now - timedelta(hours=5))
    _log(patient, 8, now - timedelta(hours=2))
    assert not Alert.objects.exists()  # 7 broke the streak: 7, 8, 8
    _log(patient, 10, now - timedelta(hours=1))
    assert Alert.objects.get().rule_key == "pain-streak"


@pytest.mark.parametrize(("recent", "alerts"), [(6, 1), (5, 0)])
def test_seven_day_mean_rise_of_two_points(patient, recent, alerts):
    now = timezone.now()
    for day in range(8, 14):
        _log(patient, 4, now - timedelta(days=day))
    for day in range(1, 6):
        _log(patient, recent if day != 1 else 4 + (recent - 4) * 1, now - timedelta(days=day))
    # recent mean: 6.0 -> +2.0 (alert); 5.0 -> +1.0 (none)
    _log(patient, recent, now - timedelta(hours=1))
    assert Alert.objects.filter(rule_key="pain-trend").count() == alerts


def test_clinic_can_change_a_rule(api, patient):
    TriageRule.objects.create(
        clinic=patient.clinic,
        key="fever",
        source="check_in",
        field="temperature_c",
        threshold=Decimal("38.5"),
        tier="same_day",
        title="Fever over 38.5 C",
        patient_message="We will call you.",
    )
    check_in(api, patient, temperature_c="38.3")
    assert not Alert.objects.exists()
    check_in(api, patient, temperature_c="38.6")
    assert Alert.objects.get().title == "Fever over 38.5 C"


def _open_alert(api, patient):
    check_in(api, patient, wound_opening=True)
    return Alert.objects.get()


def test_alert_lifecycle_and_permissions(api, patient, surgeon, nurse, other_patient, clinic):
    alert = _open_alert(api, patient)
    with pytest.raises(DomainError) as exc:
        alert_acknowledge(actor=patient.user, alert=alert)
    assert isinstance(exc.value, Forbidden)
    outsider = StaffFactory(clinic=clinic, role="surgeon")
    assert api(outsider).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert api(patient.user).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403

    response = api(nurse).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == nurse.pk
    assert api(nurse).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 400
    response = api(surgeon).post(
        f"/api/v1/alerts/{alert.pk}/resolve/",
        {"note": "Seen in clinic, steri-strips."},
        format="json",
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.acknowledged_by) == ("resolved", surgeon, nurse)
    # Resolved: the same cause may open a new alert.
    check_in(api, patient, wound_opening=True)
    assert Alert.objects.filter(rule_key="wound-opening").count() == 2


def test_alert_list_is_scoped(api, patient, surgeon, other_patient):
    _open_alert(api, patient)
    check_in(api, other_patient, wound_opening=True)
    listed = api(surgeon).get("/api/v1/alerts/").json()["results"]
    assert [a["patient"] for a in listed] == [patient.pk]
    assert api(patient.user).get("/api/v1/alerts/").status_code == 403


def test_care_team_is_emailed_without_clinical_detail(api, patient, surgeon, nurse):
    alert = _open_alert(api, patient)
    alert_notify(alert.pk)
    assert sorted(m.to for m in mail.outbox) == sorted([[surgeon.email], [nurse.email]])  # one each
    for message in mail.outbox:
        assert "wound" not in message.body.lower() and patient.user.last_name not in message.body


def test_unacknowledged_alert_escalates_to_the_surgeon_once(
    api, patient, surgeon, nurse, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(timezone.now())
    alert = _open_alert(api, patient)  # same day: 4 hours to acknowledge
    assert alerts_escalate_due() == []
    time_machine.shift(timedelta(hours=3, minutes=59))
    assert alerts_escalate_due() == []
    time_machine.shift(timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        escalate_alerts()
    assert len(queued) == 1  # one notification task, enqueued after commit
    alert.refresh_from_db()
    assert alert.escalated_at is not None
    alert_notify(alert.pk, escalation=True)  # what the worker runs
    escalations = [m for m in mail.outbox if "ESCALATED" in m.subject]
    assert len(escalations) == 1 and escalations[0].to == [surgeon.email]
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        escalate_alerts()  # a second beat, or the next minute: nothing twice
    assert queued_again == []


def test_acknowledged_alert_does_not_escalate(api, patient, nurse, time_machine):
    time_machine.move_to(timezone.now())
    alert = _open_alert(api, patient)
    alert_acknowledge(actor=nurse, alert=alert)
    time_machine.shift(timedelta(days=2))
    assert alerts_escalate_due() == []
    alert_resolve(actor=nurse, alert=alert, note="Called back: fine.")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_escalators_escalate_each_alert_once(patient):
    """Two beats (or workers) run the escalation at once: SKIP LOCKED hands each alert to one."""
    import threading

    from django.db import connection

    rules = TriageRule.objects.filter(clinic=None, source="check_in").exclude(key="neck-airway")[:8]
    for rule in rules:
        Alert.objects.create(
            patient=patient,
            rule_key=rule.key,
            cause_key=rule.key,
            tier=rule.tier,
            title=rule.title,
            acknowledge_by=timezone.now() - timedelta(minutes=1),
        )
    barrier = threading.Barrier(3)
    claimed: list[int] = []
    errors: list[Exception] = []

    def run():
        barrier.wait()
        try:
            claimed.extend(alerts_escalate_due(batch=3))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    for _ in range(3):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        barrier.reset()
    assert errors == []
    assert sorted(claimed) == sorted(Alert.objects.values_list("pk", flat=True))
    assert len(claimed) == len(set(claimed)) == 8


# --- Notifications are idempotent by state: one per alert, recipient and kind ------------------


class FlakyEmailBackend(locmem.EmailBackend):
    """The test outbox, with an SMTP server that refuses the addresses in ``failing``."""

    failing: set[str] = set()

    def send_messages(self, messages):
        for message in messages:
            if set(message.to) & self.failing:
                raise SMTPServerDisconnected("connection lost")
        return super().send_messages(messages)


def _mailed(kind=""):
    return Counter(address for m in mail.outbox if kind in m.subject for address in m.to)


def test_a_retried_or_duplicated_notification_tells_nobody_twice(api, patient, surgeon, nurse):
    alert = _open_alert(api, patient)
    alert_notify(alert.pk)
    alert_notify(alert.pk)  # a retry, or the same task delivered twice
    assert _mailed() == {surgeon.email: 1, nurse.email: 1}
    assert (
        AlertNotification.objects.filter(alert=alert, kind="opened", sent_at__isnull=False).count()
        == 2
    )

    alerts_escalate_due(now=alert.acknowledge_by + timedelta(minutes=1))
    alert_notify(alert.pk, escalation=True)
    alert_notify(alert.pk, escalation=True)
    assert _mailed("ESCALATED") == {surgeon.email: 1}  # the escalation is its own event, told once
    assert _mailed() == {surgeon.email: 2, nurse.email: 1}


def test_a_retry_after_a_transient_failure_tells_only_those_not_yet_told(
    api, patient, surgeon, nurse, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyEmailBackend"
    FlakyEmailBackend.failing = {nurse.email}
    alert = _open_alert(api, patient)
    with pytest.raises(SMTPServerDisconnected):
        alert_notify(alert.pk)  # the worker retries this with backoff
    assert _mailed() == {surgeon.email: 1}
    marker = AlertNotification.objects.get(alert=alert, recipient=nurse)
    assert (marker.claimed_at, marker.sent_at) == (None, None)  # released: the retry may send it

    FlakyEmailBackend.failing = set()
    alert_notify(alert.pk)
    assert _mailed() == {surgeon.email: 1, nurse.email: 1}


def test_a_claim_held_by_another_worker_is_not_sent_again(api, patient, surgeon, nurse):
    alert = _open_alert(api, patient)
    AlertNotification.objects.create(
        alert=alert, recipient=nurse, kind="opened", claimed_at=timezone.now()
    )
    alert_notify(alert.pk)
    assert _mailed() == {surgeon.email: 1}
