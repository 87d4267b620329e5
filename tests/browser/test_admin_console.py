"""Every admin page in real Chromium, as a superuser and as an analyst: the strict
Content-Security-Policy (no inline script or style) is never violated, so the browser console
stays free of "Refused to …" errors — on page load, and while editing the demo profile
(collapsed sections opened, inline rows added, a Markdown preview and the citation picker).

The pages come from the admin site's own URL patterns (like tests/test_admin_permission_matrix.py),
so a page added later is visited too. Pages a role may not open (403) are visited anyway: the
error page is part of the admin and must be clean as well.
"""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import NoReverseMatch, URLPattern, URLResolver, reverse

from profiles import demo_data
from profiles.models import Institution
from tests.browser.journeys import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_SLUG = "foxconn-openai-ai-infrastructure"
#: Not pages to look at: signing in and out, JSON, and links out to the public site.
SKIPPED = {"login", "logout", "autocomplete", "view_on_site", "jsi18n", "profiles_evidenceitem_citable"}
CSP_SIGNS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


def _walk(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern


def _first_object(model, demo):
    field_names = {field.name for field in model._meta.get_fields()}
    if model is Institution or issubclass(model, Institution):
        return demo
    for parent in ("institution", "source"):
        if parent in field_names:
            found = model._default_manager.filter(**{parent: demo}).order_by("pk").first()
            if found is not None:
                return found
    return model._default_manager.order_by("pk").first()


def admin_pages() -> list[str]:
    """One address for every named admin URL pattern, its parameters filled from the demo data."""
    demo = Institution.objects.get(slug=DEMO_SLUG)
    by_prefix = {
        f"{opts.app_label}_{opts.model_name}_": model
        for model, opts in ((model, model._meta) for model in admin.site._registry)
    }
    someone = get_user_model().objects.get(email=demo_data.ANALYST)
    urls = []
    for pattern in _walk(admin.site.get_urls()):
        name = pattern.name
        if name in SKIPPED or name.endswith(("_preview", "_citable")):
            continue
        params = set(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else set()
        kwargs = {}
        model = next((m for prefix, m in sorted(by_prefix.items(), key=lambda p: -len(p[0]))
                      if name.startswith(prefix)), None)
        obj = _first_object(model, demo) if model is not None else None
        for param in params:
            if param in ("object_id", "object_pk"):
                if obj is None:
                    break
                kwargs[param] = obj.pk
            elif param == "version_id":
                history = getattr(obj, "history", None)
                if history is None or not history.exists():
                    break
                kwargs[param] = history.order_by("-history_id").first().history_id
            elif param == "user_id":
                kwargs[param] = someone.pk
            elif param == "group_id":
                kwargs[param] = Group.objects.get(name="Moderators").pk
            elif param == "app_label":
                kwargs[param] = "profiles"
            else:
                break
        else:
            try:
                urls.append(reverse(f"admin:{name}", kwargs=kwargs))
            except NoReverseMatch:
                continue
    return sorted(set(urls))


def watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"{page.url}: {message.text}")
        if any(sign in message.text for sign in CSP_SIGNS)
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error}"))
    return problems


@pytest.fixture
def demo():
    call_command("seed_demo", stdout=io.StringIO())
    return Institution.objects.get(slug=DEMO_SLUG)


def edit_the_demo_profile(page, demo):
    """Use the change form as an editor would: every section open, rows added, preview, picker."""
    page.goto(reverse("admin:profiles_institution_change", args=[demo.pk]))
    for summary in page.locator("details:not([open]) > summary").all():
        if summary.is_visible():
            summary.click()
    for add_row in page.locator(".add-row a").all():
        if add_row.is_visible():
            add_row.click()
    body = page.locator("textarea[name=body]")
    body.focus()
    body.press("End")
    body.type(" More.")
    page.locator(".md-editor:has(textarea[name=body]) .md-preview").wait_for()
    page.locator(".md-editor:has(textarea[name=body]) .md-editor__cite").click()
    page.locator("dialog.md-cite .md-cite__item").first.wait_for()
    page.keyboard.press("Escape")


@pytest.mark.parametrize("email", ["admin@example.org", demo_data.ANALYST])
def test_no_csp_errors_on_any_admin_page(new_page, demo, email):
    urls = admin_pages()
    assert len(urls) > 40
    assert reverse("admin:profiles_institution_change", args=[demo.pk]) in urls
    page = new_page()
    problems = watch_console(page)
    sign_in(page, email, password=demo_data.DEMO_PASSWORD)
    for url in urls:
        page.goto(url)
    edit_the_demo_profile(page, demo)
    assert not problems, "\n".join(problems)
