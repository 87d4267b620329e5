"""The WSGI application: Django behind the fast path that answers anonymous page-cache hits itself
(btwprofiles/fastpath.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "btwprofiles.settings")
django_application = get_wsgi_application()

from btwprofiles.fastpath import FastPath  # noqa: E402 - imports models: after the apps are loaded above

application = FastPath(django_application)
