"""Gunicorn settings shared by `make run` (Procfile) and docker-compose."""

import os

from config.run import gunicorn_bind

bind = gunicorn_bind()  # the address `make run` prints
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The longest request line gunicorn takes (its maximum; its default is 4094): Django answers
# query strings over API_MAX_QUERY_STRING_BYTES under /api/ with a JSON 414 itself, so a client
# sees gunicorn's HTML error page only beyond this.
limit_request_line = 8190
