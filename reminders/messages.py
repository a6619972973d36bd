"""What a reminder says on each channel.

Push and e-mail leave the phone's lock screen and the mail server: they say only the kind of
reminder, the clinic and the local time, never the title (which may name an imaging study or a
procedure). The in-app inbox, behind the patient's login, shows the title.

A caregiver's copy (``recipient`` set) is addressed to the caregiver and names the patient by
first name only, with the same generic sentence: nothing the patient's own e-mail would not say,
never the title (a caregiver has no inbox)."""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string

GENERIC = {
    "appointment": "You have an appointment coming up on {when}.",
    "pt_session": "You have a physical-therapy session at {when}.",
    "restriction_end": "One of your activity restrictions ends today. Check the app before you "
    "change what you do.",
    "milestone": "A recovery milestone is due. Open the app to see it.",
    "daily_checkin": "How is your pain today? Take a moment to log it in the app.",
    "outcome": "A short questionnaire about your recovery is due. It takes about five minutes in the app.",
    "prep_item": "An item on your preparation checklist for surgery is due. Open the app to see it.",
}


CAREGIVER = {
    "appointment": "{patient} has an appointment coming up on {when}.",
    "pt_session": "{patient} has a physical-therapy session at {when}.",
    "restriction_end": "One of {patient}'s activity restrictions ends today.",
    "milestone": "A recovery milestone of {patient}'s is due.",
    "daily_checkin": "{patient}'s daily pain check-in is due in the Realign app.",
    "outcome": "A short questionnaire about {patient}'s recovery is due in the Realign app.",
    "prep_item": "An item on {patient}'s preparation checklist for surgery is due.",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    push_title: str
    push_body: str
    inbox_title: str
    inbox_body: str


def _when(reminder) -> str:
    tz = reminder.patient.tz
    anchor = reminder.anchor_at
    if anchor is None:
        return ""
    local = anchor.astimezone(tz)
    return f"{local:%A %d %B at %H:%M} ({tz.key})"


def render(reminder) -> Rendered:
    clinic = reminder.patient.clinic.name
    if reminder.recipient_id is not None:
        return _render_for_caregiver(reminder, clinic)
    body = GENERIC.get(reminder.kind, "You have a reminder in the Realign app.").format(
        when=_when(reminder)
    )
    context = {"clinic": clinic, "body": body, "name": reminder.patient.user.first_name}
    return Rendered(
        subject=f"Reminder from {clinic}",
        text=render_to_string("reminders/email.txt", context),
        html=render_to_string("reminders/email.html", context),
        push_title=clinic,
        push_body=body,
        inbox_title=reminder.title or body,
        inbox_body=body,
    )


def _render_for_caregiver(reminder, clinic: str) -> Rendered:
    patient = reminder.patient.user.first_name or "The patient you care for"
    body = CAREGIVER.get(reminder.kind, "{patient} has a reminder in the Realign app.").format(
        patient=patient, when=_when(reminder)
    )
    body = body[0].upper() + body[1:]
    context = {
        "clinic": clinic,
        "body": body,
        "name": reminder.recipient.first_name,
        "caregiver": True,
    }
    return Rendered(
        subject=f"Reminder about {patient} from {clinic}",
        text=render_to_string("reminders/email.txt", context),
        html=render_to_string("reminders/email.html", context),
        push_title=clinic,
        push_body=body,
        inbox_title=body,
        inbox_body=body,
    )
