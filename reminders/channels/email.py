import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from ..messages import render
from . import SENT, Channel, Outcome, PermanentDeliveryError, TransientDeliveryError


class EmailChannel(Channel):
    """Django's e-mail backend (console in development, locmem in tests, SMTP in production)."""

    name = "email"

    def send(self, reminder) -> Outcome:
        caregiver = reminder.recipient if reminder.recipient_id else None
        address = (caregiver or reminder.patient.user).email
        if not address:
            who = "caregiver" if caregiver else "patient"
            return Outcome(sent=False, note=f"the {who} has no e-mail address")
        rendered = render(reminder)
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            to=[address],
            headers={"X-Realign-Reminder": reminder.dedup_key},
            connection=get_connection(timeout=settings.REMINDERS_PROVIDER_TIMEOUT),
        )
        message.attach_alternative(rendered.html, "text/html")
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise TransientDeliveryError(f"SMTP unreachable: {exc!r}") from exc
        return SENT
