"""Channels for tests and benchmarks.

``NullChannel`` accepts everything (dispatch throughput). ``RecordingChannel`` behaves like a
provider in another process: it appends one line per call to ``REMINDERS_RECORD_FILE`` (so the
fault tests can count deliveries made by a separate worker process) and can be told to be slow
or to fail, through ``REMINDERS_RECORD_DELAY`` and ``REMINDERS_RECORD_FAIL`` (``transient:N`` =
the first N attempts of each reminder time out; ``permanent`` = every call is rejected).
"""

import os
import time

from . import SENT, Channel, Outcome, PermanentDeliveryError, TransientDeliveryError


class NullChannel(Channel):
    name = "null"

    def send(self, reminder) -> Outcome:
        return SENT


class RecordingChannel(Channel):
    name = "record"

    def send(self, reminder) -> Outcome:
        delay = float(os.environ.get("REMINDERS_RECORD_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        fail = os.environ.get("REMINDERS_RECORD_FAIL", "")
        if fail.startswith("transient:") and reminder.attempts <= int(fail.split(":")[1]):
            raise TransientDeliveryError(f"provider timed out (attempt {reminder.attempts})")
        if fail == "permanent":
            raise PermanentDeliveryError("provider rejected the message: invalid recipient")
        line = f"{reminder.pk} {reminder.dedup_key} {os.getpid()} {reminder.attempts}\n"
        fd = os.open(os.environ["REMINDERS_RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return SENT
