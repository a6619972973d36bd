"""The Celery broker settings per transport (Redis or RabbitMQ, docs/operations.md "Choosing a
broker"), and the broker-facing health check against the machine's RabbitMQ.

Settings are read in a fresh process with the broker URL in its environment, as a worker reads
them. The machine's RabbitMQ is used read-only: no vhost, no policy; a uniquely named queue
(and the exchange Celery makes for it) is declared, used and deleted.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import kombu
import pytest

from tests.conftest import use_broker

ROOT = Path(__file__).resolve().parents[2]

# RabbitMQ's default consumer_timeout (30 min): a delivery unacknowledged longer than this
# closes the worker's channel and is redelivered.
RABBITMQ_CONSUMER_TIMEOUT = 30 * 60

_CONF = """
import json
import django
django.setup()
from config.celery import app
app.loader.import_default_modules()
c = app.conf
print(json.dumps({
    "broker_url": c.broker_url,
    "transport_options": c.broker_transport_options,
    "acks_late": c.task_acks_late,
    "reject_on_worker_lost": c.task_reject_on_worker_lost,
    "prefetch_multiplier": c.worker_prefetch_multiplier,
    "queue_type": c.task_default_queue_type,
    "delivery_mode": c.task_default_delivery_mode,
    "cancel_on_connection_loss": c.worker_cancel_long_running_tasks_on_connection_loss,
    "connection_retry": c.broker_connection_retry,
    "time_limits": {
        name: task.time_limit or c.task_time_limit
        for name, task in app.tasks.items() if not name.startswith("celery.")
    },
}))
"""


def _conf(broker_url: str, tmp_path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PYTEST"))}
    done = subprocess.run(
        [sys.executable, "-c", _CONF],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": broker_url,
            "REALIGN_VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "amqp": "amqp://guest:guest@127.0.0.1:5672//",
    "pyamqp": "pyamqp://guest:guest@127.0.0.1:5672//",
}


@pytest.mark.parametrize("scheme", BROKERS)
def test_late_acks_and_requeue_on_a_lost_worker_on_every_broker(scheme, tmp_path):
    conf = _conf(BROKERS[scheme], tmp_path)
    assert conf["broker_url"] == BROKERS[scheme]
    assert conf["acks_late"] is True
    assert conf["reject_on_worker_lost"] is True
    assert conf["prefetch_multiplier"] == 1
    assert conf["connection_retry"] is True
    # A running task is left to finish on a lost connection (its redelivered copy is a no-op).
    assert conf["cancel_on_connection_loss"] is False
    if scheme == "redis":
        assert conf["transport_options"] == {"visibility_timeout": 1200}
    else:
        # Publisher confirms; durable classic queues and persistent messages.
        assert conf["transport_options"] == {"confirm_publish": True}
        assert conf["queue_type"] == "classic"
        assert conf["delivery_mode"] == "persistent"


def test_every_task_is_acknowledged_before_either_broker_hands_it_out_again(tmp_path):
    """A late-acked task running longer than Redis's visibility timeout is given to a second
    worker; one unacknowledged longer than RabbitMQ's consumer_timeout gets its channel closed.
    Every task's hard time limit (with the worker's prefetch of one per process, a delivered
    task starts at once) stays below both."""
    conf = _conf(BROKERS["redis"], tmp_path)
    limits = conf["time_limits"]
    assert {"reminders.deliver", "reminders.dispatch_due", "reminders.plan_daily_checkins"} <= set(
        limits
    )
    visibility = conf["transport_options"]["visibility_timeout"]
    too_long = {
        name: limit
        for name, limit in limits.items()
        if not limit or limit >= min(visibility, RABBITMQ_CONSUMER_TIMEOUT)
    }
    assert not too_long, f"time limits not below {visibility} s: {too_long}"


def test_readyz_503_when_rabbitmq_is_down(client, monkeypatch, db):
    use_broker(monkeypatch, "amqp://guest:guest@127.0.0.1:1//")  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] is False


@pytest.mark.rabbitmq
@pytest.mark.django_db
def test_readyz_with_real_rabbitmq_broker(client, monkeypatch):
    use_broker(monkeypatch, os.environ["RABBITMQ_URL"])
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] is True


@pytest.mark.rabbitmq
@pytest.mark.integration
def test_a_task_published_to_rabbitmq_is_persistent_and_confirmed(tmp_path):
    """A process with the RabbitMQ settings (publisher confirms) publishes a task to a queue of
    this test's own on the machine's RabbitMQ; it arrives persistent (delivery mode 2), as a
    task message with JSON arguments. The queue and its exchange are deleted afterwards."""
    url = os.environ["RABBITMQ_URL"]
    name = f"realign-test-{uuid.uuid4().hex}"
    publish = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "assert app.conf.broker_transport_options == {'confirm_publish': True}\n"
        f"app.send_task('reminders.deliver', args=[[41, 42]], queue={name!r})\n"
        "print('published')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PYTEST"))}
    with kombu.Connection(url, connect_timeout=5) as conn:
        try:
            done = subprocess.run(
                [sys.executable, "-c", publish],
                cwd=ROOT,
                env={
                    **clean,
                    "DJANGO_SETTINGS_MODULE": "config.settings",
                    "CELERY_BROKER_URL": url,
                    "REALIGN_VAR_DIR": str(tmp_path),
                },
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0 and "published" in done.stdout, done.stderr[-3000:]
            queue = conn.SimpleQueue(name)
            message = queue.get(timeout=10)
            assert message.headers["task"] == "reminders.deliver"
            assert message.properties["delivery_mode"] == 2
            assert message.decode()[0] == [[41, 42]]
            message.ack()
            queue.close()
        finally:
            channel = conn.channel()
            channel.queue_delete(name)
            channel.exchange_delete(name)
            channel.close()


def test_compose_offers_rabbitmq_as_the_broker():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    rabbit = compose["services"]["rabbitmq"]
    assert rabbit["profiles"] == ["rabbitmq"]  # opt-in; Redis stays the default broker
    assert rabbit["hostname"] == "rabbitmq"  # node rabbit@rabbitmq finds its data again
    assert "rabbitmqdata:/var/lib/rabbitmq" in rabbit["volumes"]  # durable queues survive
    assert "rabbitmqdata" in compose["volumes"]
    assert rabbit["environment"]["RABBITMQ_DEFAULT_USER"] != "guest"  # guest is localhost-only
    assert "healthcheck" in rabbit
    broker_url = compose["x-app"]["environment"]["CELERY_BROKER_URL"]
    assert broker_url == "${CELERY_BROKER_URL:-redis://redis-broker:6379/0}"
    for name in ("web", "worker", "beat", "migrate"):  # no hard dependency on a profile service
        assert "rabbitmq" not in compose["services"][name].get("depends_on", {}), name
