FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 REALIGN_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY recovery ./recovery
COPY reminders ./reminders
COPY manage.py Procfile ./
RUN pip install --no-cache-dir . && mkdir -p /app/var
# Static files for the admin and API docs, collected with the production storage (hashed names).
RUN REALIGN_MODE=production DJANGO_SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.db \
    REDIS_URL=redis://build CELERY_BROKER_URL=redis://build ALLOWED_HOSTS=build \
    EMAIL_URL=consolemail:// DEFAULT_FROM_EMAIL=build@localhost \
    python manage.py collectstatic --noinput
RUN useradd --create-home realign && chown -R realign /app/var
USER realign
EXPOSE 8000
