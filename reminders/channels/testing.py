"""Channels for tests and benchmarks.

``NullChannel`` accepts everything (dispatch throughput). ``RecordingChannel`` behaves like a
provider in another process: it appends one line per accepted call to ``REMINDERS_RECORD_FILE``
(so the fault tests can count what a separate worker process delivered), waits
``REMINDERS_RECORD_DELAY`` seconds per call like a network round trip, and obeys directives in
the reminder's title: ``[transient:N]`` times out on the first N attempts, ``[permanent]``
rejects every call, ``[crash]`` kills the process making the call with SIGKILL (an OOM kill or
a segfault in a provider library: a poison reminder) before anything is recorded.
"""

import os
import re
import signal
import time

from . import SENT, Channel, Outcome, PermanentDeliveryError, TransientDeliveryError

_TRANSIENT = re.compile(r"\[transient:(\d+)\]")


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
        title = reminder.title or ""
        if "[crash]" in title:
            os.kill(os.getpid(), signal.SIGKILL)
        transient = _TRANSIENT.search(title)
        if transient and reminder.attempts <= int(transient.group(1)):
            raise TransientDeliveryError(f"provider timed out (attempt {reminder.attempts})")
        if "[permanent]" in title:
            raise PermanentDeliveryError("provider rejected the message: invalid recipient")
        line = f"{reminder.pk} {reminder.dedup_key} {os.getpid()} {reminder.attempts}\n"
        fd = os.open(os.environ["REMINDERS_RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return SENT
