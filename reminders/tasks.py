"""Celery tasks: thin, ids in, services do the work. See docs/tasks.md for what each guarantees.

Global settings already make every task ``acks_late`` with ``reject_on_worker_lost``: a task
whose worker process dies is requeued. Delivery is idempotent by state (row lock + status), so a
requeued or duplicated message is harmless. No task is ever scheduled with an ETA or countdown:
the reminder row is the schedule, and retries are rows with a later ``available_at``.
"""

from celery import shared_task

from . import delivery, services


def _enqueue(ids: list[int]) -> None:
    deliver_reminders.apply_async(args=[ids])


@shared_task(name="reminders.dispatch_due", time_limit=120, soft_time_limit=100)
def dispatch_due() -> int:
    return delivery.reminders_dispatch_due(enqueue=_enqueue)


@shared_task(name="reminders.deliver", time_limit=300, soft_time_limit=270)
def deliver_reminders(reminder_ids: list[int]) -> dict:
    return delivery.reminders_deliver(reminder_ids=reminder_ids)


@shared_task(name="reminders.plan_daily_checkins", time_limit=900, soft_time_limit=840)
def plan_daily_checkins() -> int:
    return services.daily_checkins_plan()
