from ..messages import render
from ..services import notification_create
from . import SENT, Channel, Outcome


class InboxChannel(Channel):
    """Writes the notification in the same transaction that marks the reminder sent: exactly
    once, with no provider in between."""

    name = "inbox"
    synced_writes = True

    def send(self, reminder) -> Outcome:
        rendered = render(reminder)
        notification_create(
            patient_id=reminder.patient_id,
            kind=reminder.kind,
            title=rendered.inbox_title,
            body=rendered.inbox_body,
            reminder=reminder,
            due_at=reminder.anchor_at,
        )
        return SENT
