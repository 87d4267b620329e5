"""The project's error views (handler403/404/500): the reader's site layout, the admin's under /admin/,
or a JSON body under /api/ (a program reads it, not a person).

A request under the admin gets its error inside the admin's own layout (header, breadcrumbs, the staff
member's tools); every other request gets the site's. What an error page says is fixed text, plus — on
a 403 — the refusal's `reader_reason` when the code that refused wrote one for readers
(e.g. `profiles.watch.MembersOnly`). An exception's own message is never shown to readers: it could
name a draft or quote text the reader may not see (DESIGN.md, gating rule 4). The 500 pages are
static: no request context, no database, no context processor (whatever broke stays broken).
"""

from __future__ import annotations

import logging

from django.contrib import admin
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import requires_csrf_token

from profiles import views as profile_views

logger = logging.getLogger(__name__)

ADMIN_403 = "errors/admin_403.html"
ADMIN_404 = "errors/admin_404.html"
ADMIN_500 = "errors/admin_500.html"


def is_admin_request(request) -> bool:
    """Whether the request is for the admin (its pages, its login door, its static-less views)."""
    try:
        prefix = reverse("admin:index")
    except NoReverseMatch:  # a URLconf without the admin (a test's) has no admin requests
        return False
    return request.path.startswith(prefix)


def is_api_request(request) -> bool:
    return request.path.startswith("/api/")


def _api_error(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def reader_reason(exception) -> str:
    """What a refusal says to the reader: only text written for them (`reader_reason`), never its message."""
    return str(getattr(exception, "reader_reason", "") or "")


def _admin_context(request, title: str) -> dict:
    """The admin site's own context (header, titles, the staff member's tools), as its pages have it."""
    return {**admin.site.each_context(request), "title": title}


@requires_csrf_token
def permission_denied(request, exception=None):
    reason = reader_reason(exception)
    if is_api_request(request):
        return _api_error(403, reason or "Not allowed.")
    if is_admin_request(request):
        context = _admin_context(request, "Not allowed")
        context["reason"] = reason
        return render(request, ADMIN_403, context, status=403)
    return render(request, "403.html", {"reason": reason}, status=403)


@requires_csrf_token
def page_not_found(request, exception=None):
    # The exception's message is never shown: it could name a draft the reader may not know of.
    if is_api_request(request):
        return _api_error(404, "Not found.")
    if is_admin_request(request):
        return render(request, ADMIN_404, _admin_context(request, "Page not found"), status=404)
    return profile_views.page_not_found(request, exception)


@requires_csrf_token
def server_error(request):
    """Static templates, rendered with no request context: the admin's look under /admin/, else the site's."""
    if is_api_request(request):
        return _api_error(500, "Server error: it has been logged.")
    if not is_admin_request(request):
        return profile_views.server_error(request)
    try:
        return HttpResponseServerError(loader.get_template(ADMIN_500).render())
    except Exception:
        logger.exception("admin 500 template failed to render")
        return profile_views.server_error(request)
