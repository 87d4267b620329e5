"""Settings for BTW Profiles: one module, configured entirely by the environment.

The defaults make `make run` work on a bare laptop (SQLite, local-memory cache, console
e-mail); production sets DJANGO_SECURE=1 plus DATABASE_URL, REDIS_URL and EMAIL_URL.
"""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

import siteurl

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
TESTING = "pytest" in sys.modules or env.bool("DJANGO_TESTING", default=False)
SECURE = env.bool("DJANGO_SECURE", default=False)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105 - DEBUG/tests only
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = _DEV_SECRET_KEY
    else:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it, or set DJANGO_DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "guardian",
    "simple_history",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "csp",
    "siteurl",
    "django_tasks",
    "django_tasks_db",
    "jobs",
    "outbox",
    "audit",
    "membership",
    "profiles",
]

# Compression and revalidation (btwprofiles/http.py, profiles/cache.py; Django's ordering rules):
# - whitenoise answers static files first (pre-compressed by collectstatic), so GZip never re-encodes them;
# - ConditionalGet sits inside GZip: it sets an ETag (MD5 of the body, on pages the page cache did not
#   serve; a cached page brings the ETag it was stored with) and answers If-None-Match/If-Modified-Since
#   with 304 before GZip sees the response; GZip then weakens an ETag it encodes under.
# - BREACH: every HTML page, feed and sitemap is gzipped, also signed-in pages that carry a CSRF token
#   or member text. The CSRF token is masked afresh in every response (nothing stable to guess), Django's
#   GZipMiddleware pads each compressed body with 0-100 random bytes ("Heal the BREACH"), the session
#   cookie is SameSite=Lax (a cross-site page cannot make the requests the attack measures), and a page
#   showing member text reflects no attacker-chosen input (profile pages read no query string).
# Brotli is not offered: no brotli package is installed here; gzip for every client that accepts it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "btwprofiles.http.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "membership.middleware.StaffMFARequiredMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "membership.middleware.ReaderMiddleware",
]

ROOT_URLCONF = "btwprofiles.urls"
WSGI_APPLICATION = "btwprofiles.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "membership.context_processors.reader",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
# A health check is one more round trip (SELECT 1) at the start of every request, about a quarter
# of a signed-in profile page's worker CPU here (bench/serve_bench.py). Off, as Django ships it: a
# connection the server dropped fails that one request, and the worker reconnects for the next.
# Turn it on where the database fails over without a pooler in front.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DJANGO_CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE columns) speed up PostgreSQL; SQLite builds them without the extra
# columns, which is fine for a laptop, so its warning about that is noise.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# The cache holds the content version that retires every cached page and fragment, so it must be
# one cache shared by every process that serves or changes content: gunicorn workers, other app
# machines, `manage.py` (shell, cron). Redis when REDIS_URL is set; otherwise the database's own
# cache table (`manage.py createcachetable`, run by `make run`/`make serve` before migrate): shared
# by construction, one indexed query per page instead of a render (bench figures in the README).
# Never a per-process memory cache outside tests: gunicorn.conf.py refuses one with several workers.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis down → pages are built from the database (a miss), never a 500.
            "BACKEND": "btwprofiles.redis_cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="btw"),
        },
        # Where the Redis cache keeps its epoch, the record of writes it dropped while Redis was
        # unreachable (btwprofiles/redis_cache.py): it must outlive a Redis that lost them.
        "durable": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "btw_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="btw"),
        },
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "btw_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="btw"),
            # Django culls a third of the table past MAX_ENTRIES (300 by default: a few dozen pages).
            "OPTIONS": {"MAX_ENTRIES": env.int("BTW_DB_CACHE_MAX_ENTRIES", default=20000), "CULL_FREQUENCY": 4},
        }
    }

# Background jobs (Django's Tasks API through the django-tasks backport; jobs/): "immediate" runs each
# job in the process that enqueued it, once its transaction commits (make run, tests); "database"
# writes it as a row in that same transaction, for `make worker` processes on any machine to run.
_TASK_BACKENDS = {"immediate": "jobs.backends.ImmediateOnCommitBackend", "database": "django_tasks_db.DatabaseBackend"}
BTW_TASKS_BACKEND = env.str("BTW_TASKS_BACKEND", default="immediate")
if BTW_TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"BTW_TASKS_BACKEND is immediate or database, not {BTW_TASKS_BACKEND!r}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[BTW_TASKS_BACKEND]}}
# A worker renews a lease on its running jobs by a heartbeat (every quarter of it); a job whose worker
# missed a whole lease (killed, machine gone) goes back to the queue, at most this many runs in all.
BTW_TASK_LEASE = env.float("BTW_TASK_LEASE", default=60.0)
BTW_TASK_MAX_ATTEMPTS = env.int("BTW_TASK_MAX_ATTEMPTS", default=5)
# CDN purge by surrogate key (profiles/purge.py): off unless BTW_CDN_PURGE names varnish, fastly or cloudflare.
# Tokens come from the environment only, travel only in request headers and never appear in logs.
BTW_CDN_PURGE = env.str("BTW_CDN_PURGE", default="").strip().lower()
if BTW_CDN_PURGE not in ("", "varnish", "fastly", "cloudflare"):
    raise ImproperlyConfigured(f"BTW_CDN_PURGE is varnish, fastly or cloudflare (or empty), not {BTW_CDN_PURGE!r}.")
BTW_CDN_PURGE_URLS = env.list("BTW_CDN_PURGE_URLS", default=[])  # varnish: every server, e.g. http://10.0.0.5:6081/
BTW_CDN_SOFT_PURGE = env.bool("BTW_CDN_SOFT_PURGE", default=False)
BTW_CDN_PURGE_TIMEOUT = env.float("BTW_CDN_PURGE_TIMEOUT", default=3.0)
# A failed purge is queued again after BTW_CDN_PURGE_BACKOFF seconds, doubling (database queue), at most this many runs.
BTW_CDN_PURGE_ATTEMPTS = env.int("BTW_CDN_PURGE_ATTEMPTS", default=5)
BTW_CDN_PURGE_BACKOFF = env.float("BTW_CDN_PURGE_BACKOFF", default=30.0)
BTW_FASTLY_API_URL = env.str("BTW_FASTLY_API_URL", default="https://api.fastly.com")
BTW_FASTLY_SERVICE_ID = env.str("BTW_FASTLY_SERVICE_ID", default="")
BTW_FASTLY_API_TOKEN = env.str("BTW_FASTLY_API_TOKEN", default="")
BTW_CLOUDFLARE_API_URL = env.str("BTW_CLOUDFLARE_API_URL", default="https://api.cloudflare.com")
BTW_CLOUDFLARE_ZONE_ID = env.str("BTW_CLOUDFLARE_ZONE_ID", default="")
BTW_CLOUDFLARE_API_TOKEN = env.str("BTW_CLOUDFLARE_API_TOKEN", default="")
# Periodic jobs (jobs/schedule.py): every worker's heartbeat enqueues each one once per period, whichever
# worker gets there first. Seconds; 0 turns one off (then run its command from cron instead). Off under
# the tests, whose workers must run only the jobs a test queues.
BTW_PERIODIC_JOBS = {
    "check-sources": {
        "task": "profiles.sources.recheck.check_sources_job",
        "every": env.float("BTW_SOURCE_CHECK_EVERY", default=0.0 if TESTING else 3600.0),
    },
    "archive-sources": {
        "task": "profiles.sources.archive.archive_sources_job",
        "every": env.float("BTW_ARCHIVE_EVERY", default=0.0 if TESTING else 300.0),
    },
}
# Watchlist digests: members per job on the queue (send_watch_digests fans out one job per batch).
BTW_DIGEST_BATCH_SIZE = env.int("BTW_DIGEST_BATCH_SIZE", default=200)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="BTW Profiles <profiles@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # Django's and allauth's backends, loading the user's reader row with the user (one query).
    "membership.backends.ModelBackend",
    "membership.backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous readers hold no object permissions
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False

SITE_ID = 1
SITE_NAME = "BTW Profiles"
# The one public address of every absolute URL (siteurl): an origin, checked here so a bad one stops start-up.
SITE_URL = siteurl.checked(env.str("DJANGO_SITE_URL", default="http://127.0.0.1:8000"))

# Accounts (django-allauth): e-mail only, mandatory verification, rate limits on.
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_ADAPTER = "membership.adapters.AccountAdapter"
ACCOUNT_USER_DISPLAY = "membership.adapters.user_display"  # usernames are generated, never shown
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_EMAIL_NOTIFICATIONS = True  # tell the owner when their password or e-mail changes
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
# Sign-up policy (membership.adapters.AccountAdapter.is_open_for_signup); 0 closes sign-up.
BTW_SIGNUP_OPEN = env.bool("BTW_SIGNUP_OPEN", default=True)
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SECURE else "http"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "BTW Profiles"
# Staff must enrol a TOTP authenticator before they reach the admin. Off only for local demos.
BTW_REQUIRE_STAFF_MFA = env.bool("BTW_REQUIRE_STAFF_MFA", default=not DEBUG)
# Four eyes: nobody approves what they submitted. A one-person newsroom may switch it off.
BTW_ALLOW_SELF_REVIEW = env.bool("BTW_ALLOW_SELF_REVIEW", default=False)
# Freshness: a profile nobody has confirmed for this many days joins the re-verification queue.
BTW_REVERIFY_DAYS = env.int("BTW_REVERIFY_DAYS", default=90)
# The lead analyst's dashboard lists profiles nobody has saved for this many days as stale.
BTW_STALE_DAYS = env.int("BTW_STALE_DAYS", default=180)
# Read API rate limits (membership.api_auth.ReaderRateThrottle): "<requests>/<s|min|hour|day>", "0"/"off"
# for none. One counter per token (and per signed-in session), one per client address for anonymous calls.
BTW_API_RATE_TOKEN = env.str("BTW_API_RATE_TOKEN", default="600/min")
BTW_API_RATE_ANONYMOUS = env.str("BTW_API_RATE_ANONYMOUS", default="60/min")

# How long cached reads live (seconds; 0 turns that cache off). Every entry also carries the content
# version it was read under, so an edit retires it at once whatever these say (profiles/cache.py).
# Page cache: whole anonymous responses; and how long a downstream shared cache may keep one.
BTW_PAGE_CACHE_TIMEOUT = env.int("BTW_PAGE_CACHE_TIMEOUT", default=60 * 60)
BTW_PAGE_SHARED_MAX_AGE = env.int("BTW_PAGE_SHARED_MAX_AGE", default=60)
# Profile page: the profile's row, its rendered parts per reader variant, a member's followed profiles.
BTW_FRAGMENT_CACHE_TIMEOUT = env.int("BTW_FRAGMENT_CACHE_TIMEOUT", default=60 * 60)
# Directory: facet counts, and the count and ranked order of a search's first pages.
BTW_FACET_COUNTS_TIMEOUT = env.int("BTW_FACET_COUNTS_TIMEOUT", default=60 * 60)
BTW_SEARCH_RESULTS_TIMEOUT = env.int("BTW_SEARCH_RESULTS_TIMEOUT", default=60 * 60)
# Version feed (profiles/version_feed.py): the fast path reuses versions until a move is announced or TRUST s pass.
BTW_VERSION_FEED = env.bool("BTW_VERSION_FEED", default=True)
BTW_VERSION_FEED_TRUST = env.float("BTW_VERSION_FEED_TRUST", default=1.0)

# Reverting from history would skip optimistic locking and evidence review: edits go through the form.
SIMPLE_HISTORY_REVERT_DISABLED = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"

# The read API (profiles/api): JSON only, read-only, gated like the pages. Who calls it and how often
# is membership.api_auth's (tokens, rate limits); what it shows is profiles.api.visibility's.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "membership.api_auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["membership.api_auth.ReaderRateThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Bulk dumps (manage.py export_dump; profiles/api/dumps.py): where they are written and served from.
BTW_DUMP_DIR = env.path("BTW_DUMP_DIR", default=BASE_DIR / "dumps")
# Fetching sources (profiles/sources/fetch.py: capture on approval, re-checks): strict limits, and the
# SSRF guard refuses every address not on the public internet. Hosts named in BTW_FETCH_ALLOWED_HOSTS skip
# the guard (tests, demos): production (DJANGO_SECURE=1) refuses to start with any. Under the tests only
# those hosts are fetched at all, so the suite never reaches the internet.
BTW_FETCH_CONNECT_TIMEOUT = env.float("BTW_FETCH_CONNECT_TIMEOUT", default=5.0)
BTW_FETCH_READ_TIMEOUT = env.float("BTW_FETCH_READ_TIMEOUT", default=10.0)
BTW_FETCH_TOTAL_TIMEOUT = env.float("BTW_FETCH_TOTAL_TIMEOUT", default=30.0)
BTW_FETCH_MAX_BYTES = env.int("BTW_FETCH_MAX_BYTES", default=5 * 1024 * 1024)
BTW_FETCH_MAX_REDIRECTS = env.int("BTW_FETCH_MAX_REDIRECTS", default=5)
BTW_FETCH_ALLOWED_HOSTS = env.list("BTW_FETCH_ALLOWED_HOSTS", default=[])
BTW_FETCH_ONLY_ALLOWED_HOSTS = env.bool("BTW_FETCH_ONLY_ALLOWED_HOSTS", default=TESTING)
if SECURE and BTW_FETCH_ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "BTW_FETCH_ALLOWED_HOSTS lets source fetches reach private addresses, for tests and demos only; "
        "leave it empty with DJANGO_SECURE=1."
    )
# Re-checks of approved sources (manage.py check_sources, and the periodic job; profiles/sources/recheck.py):
# each source is looked at again every BTW_SOURCE_CHECK_DAYS, one request at a time per host, at most
# BTW_SOURCE_CHECK_BUDGET sources per run. A text differing from the verified one by more than
# BTW_SOURCE_CHANGE_THRESHOLD (0-1, share of the words) is "changed"; a source failing
# BTW_SOURCE_GONE_AFTER checks in a row is "gone".
BTW_SOURCE_CHECK_DAYS = env.float("BTW_SOURCE_CHECK_DAYS", default=7.0)
BTW_SOURCE_CHECK_BUDGET = env.int("BTW_SOURCE_CHECK_BUDGET", default=2000)
BTW_SOURCE_CHECK_CONCURRENCY = env.int("BTW_SOURCE_CHECK_CONCURRENCY", default=8)
BTW_SOURCE_CHANGE_THRESHOLD = env.float("BTW_SOURCE_CHANGE_THRESHOLD", default=0.1)
BTW_SOURCE_GONE_AFTER = env.int("BTW_SOURCE_GONE_AFTER", default=3)
# A run holds the sources it took this long (seconds): a second run skips them, a dead run's come back.
BTW_SOURCE_CHECK_LEASE = env.float("BTW_SOURCE_CHECK_LEASE", default=3 * 60 * 60)
# The archive service (profiles/sources/archive.py), Wayback "Save Page Now" compatible: off unless
# BTW_ARCHIVE_URL is set (e.g. https://web.archive.org); its keys come from the environment only.
BTW_ARCHIVE_URL = env.str("BTW_ARCHIVE_URL", default="")
BTW_ARCHIVE_ACCESS_KEY = env.str("BTW_ARCHIVE_ACCESS_KEY", default="")
BTW_ARCHIVE_SECRET_KEY = env.str("BTW_ARCHIVE_SECRET_KEY", default="")
BTW_ARCHIVE_MAX_ATTEMPTS = env.int("BTW_ARCHIVE_MAX_ATTEMPTS", default=6)
BTW_ARCHIVE_TIMEOUT = env.float("BTW_ARCHIVE_TIMEOUT", default=30.0)
# Failures wait BTW_ARCHIVE_BACKOFF seconds, doubling each time (at most a day); a pending copy is asked
# about every BTW_ARCHIVE_POLL_SECONDS, and given up after BTW_ARCHIVE_POLL_LIMIT seconds.
BTW_ARCHIVE_BACKOFF = env.float("BTW_ARCHIVE_BACKOFF", default=60.0)
BTW_ARCHIVE_POLL_SECONDS = env.float("BTW_ARCHIVE_POLL_SECONDS", default=30.0)
BTW_ARCHIVE_POLL_LIMIT = env.float("BTW_ARCHIVE_POLL_LIMIT", default=3600.0)
BTW_ARCHIVE_BUDGET = env.int("BTW_ARCHIVE_BUDGET", default=500)
SPECTACULAR_SETTINGS = {
    "TITLE": "BTW Profiles API",
    "DESCRIPTION": "Read API of the public data layer: profiles of internet-infrastructure institutions, their "
    "evidence, relationships, watchpoints and timelines, gated by membership tier exactly like the pages.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation's error answers, 304 and caching headers, declared once (profiles/api/errors.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "profiles.api.errors.declare_responses"],
}

# Content-Security-Policy: everything is served by us; no inline script, no CDN.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # The one hash allows a <style> element holding a single line break and nothing else: the
        # empty one django-guardian's object-permissions page ships (tests/browser/test_admin_console.py).
        "style-src": ["'self'", "'sha256-AbpHGcgLb+kRsJGnwFEktk7uzpZOCcBY74+YBdrKVGs='"],
        "script-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Sessions are read from the shared cache and written through to the database: a cache read
# instead of a query on every signed-in request, and nothing lost if the cache is flushed. The cache
# is shared by every process (Redis, or the database's cache table), so a sign-out deletes the one
# copy every worker reads; without Redis a session read is still one query, as with plain `db`.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if SECURE:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preload is a promise to browsers' built-in lists (hard to undo): only when the operator asks.
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")  # "not preloaded": a choice here, not an oversight
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECURE=1 needs a real DJANGO_SECRET_KEY.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="WARNING")},
}
