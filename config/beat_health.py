"""Health check for Celery beat (docker-compose): beat is alive when it wrote its schedule lately.

Beat has no ping. It saves its schedule file after every task it sends
(``CELERY_BEAT_SYNC_EVERY = 1``) and it sends ``reminders.dispatch_due`` every minute, so a file
older than ``MAX_AGE`` seconds means beat is stuck or gone. The shelve's files carry a suffix that
depends on the dbm module (``.db``, ``.dat``...), so every file named after the schedule counts.

    python -m config.beat_health var/celerybeat-schedule
"""

import sys
import time
from pathlib import Path

MAX_AGE = 300


def age_seconds(schedule: Path, *, now: float | None = None) -> float | None:
    """Seconds since beat last wrote ``schedule`` (any of its dbm files); None if none exists."""
    files = [p for p in schedule.parent.glob(f"{schedule.name}*") if p.is_file()]
    if not files:
        return None
    newest = max(p.stat().st_mtime for p in files)
    return (time.time() if now is None else now) - newest


def main(argv: list[str]) -> int:
    schedule = Path(argv[1] if len(argv) > 1 else "var/celerybeat-schedule")
    age = age_seconds(schedule)
    if age is None:
        print(f"unhealthy: no schedule file {schedule}*")
        return 1
    if age > MAX_AGE:
        print(f"unhealthy: {schedule} last written {age:.0f} s ago (limit {MAX_AGE} s)")
        return 1
    print(f"healthy: {schedule} written {age:.0f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
