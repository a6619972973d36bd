"""Red-flag triage and the alert lifecycle.

A check-in or a pain log is triaged in the same transaction that stores it, against the
clinic's rules (``TriageRule``: defaults overridden per clinic by key). A check-in opens one
``Alert`` with all the red flags it raised (``Alert.causes``); a pain log one per pain rule. A
red flag already on an unresolved alert of the patient is not raised again until that alert is
resolved. The care team is told after commit (Celery, ``recovery.alert_notify``: one push and
one e-mail per alert and recipient), and an alert still open at its tier's deadline is
escalated to the surgeon of record by the beat task ``recovery.escalate_alerts``.

The rule functions (``check_in_rules_hit``, ``check_in_causes``, ``triage_check_in``,
``triage_pain_log``) take one record each; ``alert_open_for_causes`` opens the alert of one
record's red flags and ``alert_open`` that of one rule.
"""

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from smtplib import SMTPException

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.roles import is_care_team_member
from config.errors import Forbidden, Invalid
from recovery.record.models import (
    PainLog,
    Region,
    Surgery,
)
from reminders.channels import TransientDeliveryError
from reminders.channels.push import push_to_staff

from .models import (
    Alert,
    AlertNotification,
    AlertStatus,
    CheckIn,
    Tier,
    TriageRule,
)

ALERT_NOTIFY_TASK = "recovery.alert_notify"  # the task in recovery.care.tasks

# What happened to an alert, for the capabilities above care that act on it (webhooks): each
# hook registered with ``on_alert_event`` is called with ``(alert, event)`` inside the
# transaction that changed the alert, after the change.
ALERT_EVENTS = ("opened", "escalated", "acknowledged", "resolved")
AlertHook = Callable[[Alert, str], None]
_ALERT_HOOKS: list[AlertHook] = []


def on_alert_event(hook: AlertHook) -> AlertHook:
    """Registers ``hook(alert, event)``, ``event`` one of ``ALERT_EVENTS``."""
    if hook not in _ALERT_HOOKS:
        _ALERT_HOOKS.append(hook)
    return hook


def _alert_event(alert: Alert, event: str) -> None:
    for hook in _ALERT_HOOKS:
        hook(alert, event)


# What a retry of the notification may cure (the task retries exactly these).
TRANSIENT_NOTIFY_ERRORS = (SMTPException, ConnectionError, TimeoutError, TransientDeliveryError)


@dataclass(frozen=True)
class Triage:
    alerts: list[Alert]  # the unresolved alerts that hold the red flags raised (new or not)

    @property
    def emergency(self) -> Alert | None:
        return next((a for a in self.alerts if a.tier == Tier.EMERGENCY), None)


@dataclass(frozen=True)
class Cause:
    """One red flag: the rule it met and what it saw (``temperature_c = 38.6``)."""

    rule: TriageRule
    detail: str = ""

    def as_json(self) -> dict:
        return {
            "rule_key": self.rule.key,
            "tier": self.rule.tier,
            "title": self.rule.title,
            "detail": self.detail,
        }


def rules_for(clinic_id) -> dict[str, TriageRule]:
    """The rules in force for a clinic: its own rows replace the defaults with the same key."""
    rules: dict[str, TriageRule] = {}
    for rule in TriageRule.objects.filter(Q(clinic__isnull=True) | Q(clinic_id=clinic_id)).order_by(
        "clinic_id"
    ):
        if rule.clinic_id is None and rule.key in rules:
            continue
        rules[rule.key] = rule
    return {key: rule for key, rule in rules.items() if rule.is_active}


def _deadline(tier: str, now):
    return now + timedelta(minutes=settings.ALERT_ACKNOWLEDGE_MINUTES[tier])


TIER_ORDER = list(Tier.values)


def alert_cause_keys(alert: Alert) -> list[str]:
    """The rule keys of an alert's red flags (an alert from before ``causes``: its rule)."""
    return [c["rule_key"] for c in alert.causes] or [alert.rule_key]


def _alert_title(causes: list[Cause]) -> str:
    if len(causes) == 1:
        return causes[0].rule.title
    title = f"{len(causes)} red flags: " + ", ".join(c.rule.title for c in causes)
    return title if len(title) <= 200 else title[:199] + "\u2026"


def alert_open_for_causes(
    *, patient, causes: list[Cause], source_table: str, source_id: str
) -> list[Alert]:
    """Opens one alert for the red flags of one record (a check-in) that no unresolved alert
    of the patient holds yet; a red flag already held is not raised again until its alert is
    resolved. Returns the unresolved alerts that now hold ``causes``, the new one first.

    Called inside the write that stores the record, which holds the patient's sync clock lock:
    the patient's triages run one at a time."""
    if not causes:
        return []
    holding: dict[str, Alert] = {}
    for alert in Alert.objects.filter(patient=patient).exclude(status=AlertStatus.RESOLVED):
        for key in alert_cause_keys(alert):
            holding.setdefault(key, alert)
    new = sorted(
        (c for c in causes if c.rule.key not in holding),
        key=lambda c: TIER_ORDER.index(c.rule.tier),
    )
    held = list(
        {
            holding[c.rule.key].pk: holding[c.rule.key] for c in causes if c.rule.key in holding
        }.values()
    )
    if not new:
        return held
    top = new[0].rule
    now = timezone.now()
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                patient=patient,
                rule_key=top.key,
                cause_key=top.key,
                tier=top.tier,
                title=_alert_title(new),
                detail="; ".join(c.detail for c in new if c.detail)[:2000],
                causes=[c.as_json() for c in new],
                source_table=source_table,
                source_id=source_id,
                opened_at=now,
                acknowledge_by=_deadline(top.tier, now),
            )
    except IntegrityError:  # opened concurrently for the same cause
        alert = (
            Alert.objects.filter(patient=patient, cause_key=top.key)
            .exclude(status=AlertStatus.RESOLVED)
            .get()
        )
        return [alert, *held]
    _alert_event(alert, "opened")
    _notify_on_commit(alert.pk)
    return [alert, *held]


def alert_open(
    *, patient, rule: TriageRule, source_table: str, source_id: str, detail: str = ""
) -> Alert:
    """Opens the alert for this one rule, or returns the one still unresolved that holds it."""
    return alert_open_for_causes(
        patient=patient,
        causes=[Cause(rule, detail)],
        source_table=source_table,
        source_id=source_id,
    )[0]


def _had_neck_surgery(patient) -> bool:
    return Surgery.objects.filter(patient=patient, region=Region.CERVICAL).exists()


def _meets(rule: TriageRule, value) -> bool:
    if rule.threshold is None:
        return value is True
    if rule.direction == TriageRule.Direction.BELOW:
        return value < rule.threshold
    return value > rule.threshold


def check_in_rules_hit(*, check_in: CheckIn) -> list[TriageRule]:
    """The rules a check-in's answers meet, most urgent first. Opens nothing."""
    patient = check_in.patient
    hits = []
    neck = None
    for rule in rules_for(patient.clinic_id).values():
        if rule.source != TriageRule.Source.CHECK_IN:
            continue
        value = getattr(check_in, rule.field, None)
        if value is None or not _meets(rule, value):
            continue
        if rule.neck_surgery_only:
            neck = _had_neck_surgery(patient) if neck is None else neck
            if not neck:
                continue
        hits.append(rule)
    return sorted(hits, key=lambda r: TIER_ORDER.index(r.tier))


def check_in_causes(*, check_in: CheckIn, rules: list[TriageRule]) -> list[Cause]:
    """The red flags of a check-in for the rules it met, with the value each threshold saw."""
    return [
        Cause(
            rule,
            f"{rule.field} = {getattr(check_in, rule.field)}" if rule.threshold is not None else "",
        )
        for rule in rules
    ]


def triage_check_in(*, check_in: CheckIn) -> Triage:
    """One alert for all the new red flags of this check-in (see ``alert_open_for_causes``)."""
    causes = check_in_causes(check_in=check_in, rules=check_in_rules_hit(check_in=check_in))
    return Triage(
        alerts=alert_open_for_causes(
            patient=check_in.patient,
            causes=causes,
            source_table="check_ins",
            source_id=check_in.pk,
        )
    )


def triage_pain_log(*, pain_log: PainLog) -> Triage:
    """The pain-log rules: a 7-day mean rising by ``threshold`` points over the previous 7 days,
    or ``count`` logs in a row at or above ``threshold``."""
    return triage_pain_logs(pain_logs=[pain_log])


def _pain_trend(rule: TriageRule, at, times, sums) -> str | None:
    """The trend rule for a log at ``at``: ``times`` are the patient's log times in order and
    ``sums`` the running sums of their intensities. The detail when it fires."""

    def mean(after, upto):
        low, high = bisect_right(times, after), bisect_right(times, upto)
        return (sums[high] - sums[low]) / (high - low) if high > low else None

    recent = mean(at - timedelta(days=7), at)
    before = mean(at - timedelta(days=14), at - timedelta(days=7))
    if (
        recent is not None
        and before is not None
        and Decimal(recent) - Decimal(before) >= rule.threshold
    ):
        return f"7-day mean {recent:.1f}, previous 7 days {before:.1f}"
    return None


def _pain_streak(rule: TriageRule, at, times, intensities) -> str | None:
    """The streak rule for a log at ``at``: the last ``count`` logs up to it, all high."""
    high = bisect_right(times, at)
    last = intensities[max(0, high - rule.count) : high]
    if len(last) == rule.count and all(v >= rule.threshold for v in last):
        return f"last {rule.count} logs: {', '.join(map(str, last))}"
    return None


def triage_pain_logs(*, pain_logs: list[PainLog]) -> Triage:
    """``triage_pain_log`` for many new logs at once (a sync push): each log is judged, in time
    order, against the patient's live logs at or before its time, as one log is. Queries do not
    grow with the number of logs: the clinic's rules, the logs of the windows (one query, plus
    one for the streak's logs before them), and one ``alert_open`` per cause that fires (a
    cause already open for the patient is not opened twice, so later logs add nothing)."""
    by_patient: dict[int, list[PainLog]] = {}
    for log in pain_logs:
        by_patient.setdefault(log.patient_id, []).append(log)
    alerts = []
    for logs in by_patient.values():
        patient = logs[0].patient
        rules = [
            rule
            for rule in rules_for(patient.clinic_id).values()
            if rule.source in (TriageRule.Source.PAIN_TREND, TriageRule.Source.PAIN_STREAK)
        ]
        if not rules:
            continue
        logs = sorted(logs, key=lambda log: (log.recorded_at, log.pk))
        first, last = logs[0].recorded_at, logs[-1].recorded_at
        live = PainLog.objects.filter(patient=patient)
        columns = ("recorded_at", "id", "intensity")
        history = list(
            live.filter(
                recorded_at__gt=first - timedelta(days=14), recorded_at__lte=last
            ).values_list(*columns)
        )
        deepest = max(
            (r.count for r in rules if r.source == TriageRule.Source.PAIN_STREAK), default=0
        )
        if deepest:
            history += (
                live.filter(recorded_at__lte=first - timedelta(days=14))
                .order_by("-recorded_at", "-id")
                .values_list(*columns)[:deepest]
            )
        history.sort(key=lambda row: (row[0], row[1]))
        times = [row[0] for row in history]
        intensities = [row[2] for row in history]
        sums = [0]
        for value in intensities:
            sums.append(sums[-1] + value)
        fired = set()
        for log in logs:
            for rule in rules:
                if rule.key in fired:
                    continue  # alert_open would return the alert this push opened
                if rule.source == TriageRule.Source.PAIN_TREND:
                    detail = _pain_trend(rule, log.recorded_at, times, sums)
                else:
                    detail = _pain_streak(rule, log.recorded_at, times, intensities)
                if detail is None:
                    continue
                fired.add(rule.key)
                alerts.append(
                    alert_open(
                        patient=patient,
                        rule=rule,
                        source_table="pain_logs",
                        source_id=log.pk,
                        detail=detail,
                    )
                )
    return Triage(alerts=alerts)


def _care_team_member(actor: User, alert: Alert) -> None:
    if not is_care_team_member(actor, alert.patient):
        raise Forbidden(
            "Only the patient's care team acts on alerts.",
            code="permission_denied",
        )


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().select_related("patient").get(pk=alert.pk)


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert) -> Alert:
    alert = _locked(alert)
    _care_team_member(actor, alert)
    if alert.status != AlertStatus.OPEN:
        raise Invalid(f"This alert is already {alert.status}.", code="invalid_state", attr="status")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    _alert_event(alert, "acknowledged")
    return alert


RESOLUTION_NOTE_MAX = 2000


@transaction.atomic
def alert_resolve(*, actor: User, alert: Alert, note: str) -> Alert:
    """Closes the alert with a note of what was done or decided (required: the note is the
    record of the care team's answer to the red flag). An open alert is acknowledged too."""
    alert = _locked(alert)
    _care_team_member(actor, alert)
    if alert.status == AlertStatus.RESOLVED:
        raise Invalid("This alert is already resolved.", code="invalid_state", attr="status")
    note = (note or "").strip()
    if not note:
        raise Invalid(
            "A resolution needs a note: what was done or decided.", code="required", attr="note"
        )
    if len(note) > RESOLUTION_NOTE_MAX:
        raise Invalid(
            f"A resolution note has at most {RESOLUTION_NOTE_MAX} characters.",
            code="max_length",
            attr="note",
        )
    now = timezone.now()
    was_open = alert.status == AlertStatus.OPEN
    if was_open:  # resolving implies having seen it
        alert.acknowledged_at, alert.acknowledged_by = now, actor
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at, alert.resolved_by, alert.resolution_note = now, actor, note
    alert.save()
    if was_open:
        _alert_event(alert, "acknowledged")
    _alert_event(alert, "resolved")
    return alert


@transaction.atomic
def alerts_escalate_due(*, now=None, batch: int = 100) -> list[int]:
    """Claims open alerts past their acknowledgement deadline (SKIP LOCKED: two beats or
    workers never escalate the same alert twice) and escalates each once."""
    now = now or timezone.now()
    due = list(
        Alert.objects.select_for_update(skip_locked=True)
        .filter(status=AlertStatus.OPEN, acknowledge_by__lte=now, escalated_at__isnull=True)
        .order_by("acknowledge_by")[:batch]
    )
    for alert in due:
        alert.escalated_at = now
        alert.save(update_fields=["escalated_at"])
        _alert_event(alert, "escalated")
        _notify_on_commit(alert.pk, escalation=True)
    return [a.pk for a in due]


def _notify_on_commit(alert_id: int, escalation: bool = False) -> None:
    """After commit, enqueues ``recovery.care.tasks.alert_notify`` by its stable name: the task
    calls back into this module, so this module never imports the tasks."""
    transaction.on_commit(
        lambda: current_app.send_task(
            ALERT_NOTIFY_TASK, args=(alert_id,), kwargs={"escalation": escalation}
        )
    )


def alert_recipients(*, alert: Alert, escalation: bool) -> list[User]:
    """The surgeon of record, plus the rest of the care team unless this is an escalation."""
    patient = alert.patient
    people = [patient.surgeon] if patient.surgeon_id else []
    if not escalation or not people:
        people += [m.clinician for m in patient.memberships.select_related("clinician")]
    seen, result = set(), []
    for person in people:
        if person and person.is_active and person.pk not in seen:
            seen.add(person.pk)
            result.append(person)
    return result


def _claim(*, alert: Alert, person: User, kind: str) -> AlertNotification | None:
    """Claims telling ``person`` about this event, in its own transaction (committed before
    anything is sent). None when they were told already, or another worker is telling them."""
    now = timezone.now()
    with transaction.atomic():
        marker, _ = AlertNotification.objects.select_for_update().get_or_create(
            alert=alert, recipient=person, kind=kind
        )
        if marker.sent_at is not None:
            return None
        if (
            marker.claimed_at is not None
            and marker.claimed_at > now - AlertNotification.CLAIM_LEASE
        ):
            return None
        marker.claimed_at = now
        marker.save(update_fields=["claimed_at"])
    return marker


def _release(marker: AlertNotification) -> None:
    AlertNotification.objects.filter(pk=marker.pk, sent_at__isnull=True).update(claimed_at=None)


def alert_notification_send(*, alert_id: int, escalation: bool = False) -> int:
    """Pushes to and e-mails the care team about an alert (no clinical detail: it names the tier
    and links to the admin, where the clinician signs in to see the patient). Returns the
    number of people told now; nothing if the alert has been resolved meanwhile.

    Idempotent by state: each recipient is told once per alert and kind (``AlertNotification``
    claimed before sending), so a retried or duplicated task tells only those not told yet. A
    failure for one recipient does not hold up the others; the first error is raised at the
    end, for the task to retry."""
    alert = Alert.objects.select_related("patient__surgeon").filter(pk=alert_id).first()
    if alert is None or alert.status == AlertStatus.RESOLVED:
        return 0
    if escalation and alert.status != AlertStatus.OPEN:
        return 0
    kind = AlertNotification.Kind.ESCALATION if escalation else AlertNotification.Kind.OPENED
    prefix = "ESCALATED - not acknowledged: " if escalation else ""
    link = f"{settings.REALIGN_ADMIN_URL.rstrip('/')}/recovery/alert/{alert.pk}/change/"
    tier = alert.get_tier_display().split(":")[0]
    flags = len(alert.causes)
    flags_text = f" with {flags} red flags" if flags > 1 else ""
    told, failure = 0, None
    for person in alert_recipients(alert=alert, escalation=escalation):
        marker = _claim(alert=alert, person=person, kind=kind)
        if marker is None:
            continue
        try:
            if marker.pushed_at is None:  # urgent push first, then e-mail
                push_to_staff(
                    user_ids=[person.pk],
                    title=f"Realign: {prefix}{tier.lower()} alert",
                    body="A patient on your care team needs attention. Open Realign to see the alert.",
                    collapse_key=f"alert:{alert.pk}:{kind}",
                    data={"alert_id": alert.pk, "tier": alert.tier},
                )
                marker.pushed_at = timezone.now()
                marker.save(update_fields=["pushed_at"])
            if person.email:
                send_mail(
                    subject=f"[Realign] {prefix}{tier} alert for a patient on your team",
                    message=(
                        f"A patient on your care team has an open {alert.get_tier_display().lower()} alert"
                        f"{flags_text} (opened {alert.opened_at:%Y-%m-%d %H:%M} UTC).\n\n"
                        f"Open it in Realign: {link}\n"
                    ),
                    from_email=None,
                    recipient_list=[person.email],
                )
        except TRANSIENT_NOTIFY_ERRORS as exc:  # released; the others are still told; raised below
            _release(marker)
            failure = failure or exc
            continue
        except BaseException:
            _release(marker)
            raise
        marker.sent_at = timezone.now()
        marker.save(update_fields=["sent_at"])
        told += 1
    if failure is not None:
        raise failure
    return told
