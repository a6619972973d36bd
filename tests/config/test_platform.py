import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from tests.conftest import use_broker
from tests.factories import PASSWORD, PatientFactory

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_api_url_is_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["errors"][0]["code"] == "not_found"


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "broker": True}


@pytest.mark.django_db
def test_readyz_503_when_broker_is_down(client, monkeypatch):
    use_broker(monkeypatch, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] is False


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_with_real_redis_broker(client, monkeypatch):
    use_broker(monkeypatch, os.environ["REDIS_URL"])
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert "/api/v1/auth/token/" in schema["paths"]


@pytest.mark.django_db
def test_swagger_ui_is_served(client):
    assert client.get("/api/docs/").status_code == 200


def test_the_app_serves_its_static_files(client):
    """WhiteNoise serves the admin's styles and the API docs' scripts from the app itself (no
    collectstatic in development, no web server in front in the embedded default)."""
    for path, content_type in [
        ("/static/admin/css/base.css", "text/css"),
        ("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", "javascript"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert content_type in response["Content-Type"], path
        assert b"".join(response.streaming_content), path
    assert client.get("/static/admin/css/no-such-file.css").status_code == 404


def _procfile() -> dict:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_compose_runs_the_same_processes_as_make_run():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis-cache", "redis-broker", "web", "worker", "beat"} <= set(services)
    for name, command in _procfile().items():
        assert services[name]["command"] == command, name
    for name in ("postgres", "redis-cache", "redis-broker", "web", "worker", "beat"):
        assert "healthcheck" in services[name], name
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    env = services["web"]["environment"]
    assert env["REALIGN_MODE"] == "production"
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"):
        assert var in env
    # The cache and the broker are different servers: one may evict, the other never.
    assert "redis-cache:" in env["REDIS_URL"]
    assert "redis-broker:" in env["CELERY_BROKER_URL"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("service", "policy", "maxmemory"),
    [
        ("redis-broker", "noeviction", str(512 * 1024 * 1024)),
        ("redis-cache", "allkeys-lru", str(256 * 1024 * 1024)),
    ],
)
def test_compose_redis_commands_run_with_their_policy(service, policy, maxmemory, tmp_path):
    """The compose commands start a real redis-server with the limits they claim."""
    import shlex
    import time

    import redis

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service][
        "command"
    ]
    argv = shlex.split(command)
    assert argv[0] == "redis-server"
    port = _free_port()
    server = subprocess.Popen(
        [*argv, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == policy
        assert client.config_get("maxmemory")["maxmemory"] == maxmemory
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_beat_health_follows_the_schedule_file(tmp_path):
    from config.beat_health import MAX_AGE, main

    schedule = tmp_path / "celerybeat-schedule"
    assert main(["x", str(schedule)]) == 1  # beat never wrote it
    written = tmp_path / "celerybeat-schedule.dat"
    written.write_bytes(b"x")
    assert main(["x", str(schedule)]) == 0
    old = written.stat().st_mtime - MAX_AGE - 10
    os.utime(written, (old, old))
    assert main(["x", str(schedule)]) == 1


def test_dockerfile_starts_the_web_process_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert (
        'CMD ["gunicorn", "config.wsgi:application", "--config", "config/gunicorn.conf.py"]'
        in dockerfile
    )
    assert _procfile()["web"] == "gunicorn config.wsgi:application --config config/gunicorn.conf.py"
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile


def _locked(path: Path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith(("#", " ")):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


@pytest.mark.parametrize(
    ("lock", "groups"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_locks_pin_every_dependency_within_its_range(lock, groups):
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for group in groups:
        wanted += project["optional-dependencies"][group]
    pins = _locked(ROOT / lock)
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {lock}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]} outside {requirement.specifier}: run make lock"
        )


@pytest.mark.integration
def test_the_wheel_carries_the_templates(tmp_path):
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("realign-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    on_disk = {
        str(p.relative_to(ROOT))
        for app in ("accounts", "recovery", "reminders", "config")
        for p in (ROOT / app).glob("templates/**/*")
        if p.is_file()
    }
    assert on_disk, "no templates found"
    assert on_disk <= names, sorted(on_disk - names)


def test_makefile_run_uses_the_procfile_and_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m config.run" in makefile
    assert "-c requirements-dev.lock -e '.[dev]'" in makefile


PRODUCTION_ENV = {
    "REALIGN_MODE": "production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-Production-Secret-Key-For-Tests-Only!",
    "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "api.example.com",
    "EMAIL_URL": "smtp+tls://u:p@smtp.example.com:587",
    "DEFAULT_FROM_EMAIL": "no-reply@example.com",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_check_deploy_reports_nothing(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        env={**PRODUCTION_ENV, "REALIGN_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"])
def test_production_refuses_to_start_without_secrets(missing, tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env={**env, "REALIGN_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_SECRET_KEY", "change-me-to-a-long-random-string", "is 33 characters long"),
        ("DJANGO_SECRET_KEY", "ab" * 40, "has 2 different characters"),
        (
            "DJANGO_SECRET_KEY",
            "django-insecure-" + "k3$x9!q@z7#m2&w5*r8^t1%y4(u6)p0_a" * 2,
            "django-insecure",
        ),
        (
            "DJANGO_SECRET_KEY",
            "dev-only-insecure-key-never-use-in-production-0123456789",
            "development key",
        ),
        ("JWT_SIGNING_KEY", "short-jwt-key", "JWT_SIGNING_KEY is 13 characters long"),
        ("ALLOWED_HOSTS", "*", "ALLOWED_HOSTS must name the hosts"),
        ("ALLOWED_HOSTS", "api.example.com,*", "ALLOWED_HOSTS must name the hosts"),
    ],
)
def test_production_refuses_a_weak_key_or_a_wildcard_host(variable, value, message, tmp_path):
    env = {**PRODUCTION_ENV, variable: value, "REALIGN_VAR_DIR": str(tmp_path)}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr, result.stderr[-2000:]
    if variable != "ALLOWED_HOSTS":
        assert value not in result.stderr  # the key itself is never printed


def test_production_loads_with_a_random_key_and_named_hosts(tmp_path):
    import secrets

    env = {
        **PRODUCTION_ENV,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "api.example.com,.example.org",
        "REALIGN_VAR_DIR": str(tmp_path),
    }
    result = _manage("check", env=env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_seed_demo_refuses_production(tmp_path):
    result = _manage("seed_demo", env={**PRODUCTION_ENV, "REALIGN_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "refuses to run in production" in result.stderr


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_accounts_can_sign_in(client):
    from accounts.models import PatientProfile, User

    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.filter(email__endswith="@demo.test").count() == 6
    assert PatientProfile.objects.count() == 2
    from recovery.models import ActivityRestriction, Appointment, PainLog, PTSession, Surgery

    revision = Surgery.objects.get(patient__user__email="patient@demo.test", is_revision=True)
    assert revision.prior_surgery is not None and "pseudarthrosis" in revision.revision_reasons
    logs = PainLog.objects.filter(patient=revision.patient).order_by("recorded_at")
    assert logs.count() > 100
    first_week = [p.intensity for p in logs[:14]]
    last_week = [p.intensity for p in logs.reverse()[:14]]
    assert sum(last_week) < sum(first_week)  # trending down
    assert PTSession.objects.filter(patient=revision.patient).count() >= 14
    # Five by hand and the plan's NSAID restriction (the plan skips what the five cover).
    assert ActivityRestriction.objects.filter(patient=revision.patient).count() == 6
    assert set(
        Appointment.objects.filter(patient=revision.patient).values_list("imaging", flat=True)
    ) == {"none", "xray", "ct"}
    for email in ("patient@demo.test", "surgeon@demo.test", "admin@demo.test"):
        response = client.post(
            "/api/v1/auth/token/",
            {"email": email, "password": "realign-demo"},
            content_type="application/json",
        )
        assert response.status_code == 200, email


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2(settings, clinic):
    """Production and development hash with Argon2 (the tests run with a fast hasher:
    config/settings_test.py)."""
    from config import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    patient = PatientFactory(clinic=clinic)
    assert patient.user.password.startswith("argon2$")
    assert patient.user.check_password(PASSWORD)


def test_the_suite_hashes_passwords_fast():
    """pyproject points pytest at config/settings_test.py: Argon2 would slow every test that
    makes a user."""
    from django.conf import settings

    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
def test_flush_expired_tokens_task_runs(patient):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.tasks import flush_expired_tokens
    from accounts.tokens import tokens_for

    tokens_for(patient.user)
    OutstandingToken.objects.update(expires_at="2000-01-01T00:00:00Z")
    flush_expired_tokens()
    assert OutstandingToken.objects.count() == 0


def test_wsgi_process_freezes_what_it_loaded_out_of_the_collector():
    probe = "import gc, config.wsgi; print(gc.get_freeze_count() > 10000, gc.get_threshold())"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split("\n")[0] == "True (50000, 20, 20)"


def test_the_filesystem_broker_writes_only_under_var(tmp_path):
    """The embedded broker keeps its queue, processed messages and exchange table (kombu's
    ``control_folder``, ``./control`` by default) under ``REALIGN_VAR_DIR``, never in the
    working directory. A broadcast (``control.ping``) is what writes the exchange table."""
    var_dir = tmp_path / "var"
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "filesystem://",
        "REALIGN_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }
    script = "from config.celery import app; app.control.ping(timeout=0.2)"
    subprocess.run([sys.executable, "-c", script], cwd=work_dir, env=env, check=True, timeout=60)
    assert list(work_dir.iterdir()) == []
    assert (var_dir / "broker" / "control").is_dir()
