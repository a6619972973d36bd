FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 REALIGN_VAR_DIR=/app/var
WORKDIR /app
# Exact versions from the lock first (a layer that changes only when the lock does), then the
# project itself without re-resolving; its templates are package data (pyproject.toml).
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY recovery ./recovery
COPY reminders ./reminders
COPY manage.py Procfile ./
RUN pip install --no-cache-dir --no-deps . && mkdir -p /app/var
# Static files for the admin and API docs, collected with the production storage (hashed names).
RUN REALIGN_MODE=production DJANGO_SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.db \
    REDIS_URL=redis://build CELERY_BROKER_URL=redis://build ALLOWED_HOSTS=build \
    EMAIL_URL=consolemail:// DEFAULT_FROM_EMAIL=build@localhost \
    python manage.py collectstatic --noinput
RUN useradd --create-home realign && chown -R realign /app/var
USER realign
EXPOSE 8000
# The web process by default (the Procfile's `web`); compose gives worker and beat their commands.
CMD ["gunicorn", "config.wsgi:application", "--config", "config/gunicorn.conf.py"]
