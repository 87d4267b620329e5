"""gunicorn settings for `make serve` and production; every value can come from the environment."""

import multiprocessing
import os
import sys

from django.conf import settings as django_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "btwprofiles.settings")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync" if threads == 1 else "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
wsgi_app = "btwprofiles.wsgi:application"

# Refuse what cannot be correct with several workers: each would keep its own content version,
# pages and sessions (an edit, a re-tiering or a sign-out reaches one worker in N), or its own
# in-memory database. Settings are only read here, not set up; one readable line, then exit.
PROCESS_LOCAL_CACHES = {"django.core.cache.backends.locmem.LocMemCache"}
if workers > 1:
    _cache = django_settings.CACHES["default"]["BACKEND"]
    _database = django_settings.DATABASES["default"]
    _problem = None
    if _cache in PROCESS_LOCAL_CACHES:
        _problem = f"the cache {_cache} is private to each worker; set REDIS_URL or use the database cache"
    elif _database["ENGINE"].endswith("sqlite3") and str(_database["NAME"]) in ("", ":memory:"):
        _problem = "an in-memory SQLite database is private to each worker; use a file or PostgreSQL"
    if _problem:
        sys.exit(f"Refusing to start {workers} gunicorn workers: {_problem}.")
