"""Error pages (btwprofiles/errors.py): the reader's site layout, or the admin's under /admin/.

A 403 says why when the refusing code wrote a reason for readers, never an exception's own message;
a 404 names nothing it was asked for; a 500 renders with no request context and no database.
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import include, path, reverse

from btwprofiles import errors
from btwprofiles import urls as project_urls
from profiles.models import Institution
from profiles.watch import MembersOnly

from .factories import InstitutionFactory
from .factories_membership import analyst, strategic_member

pytestmark = pytest.mark.django_db

INTERNAL = "internal detail: draft Hidden Harbour Exchange"


def _refused_for_readers(request):
    raise MembersOnly()


def _refused_with_an_internal_message(request):
    raise PermissionDenied(INTERNAL)


def _broken(request):
    raise RuntimeError(INTERNAL)


urlpatterns = [
    path("__errors__/members-only/", _refused_for_readers),
    path("__errors__/internal/", _refused_with_an_internal_message),
    path("__errors__/broken/", _broken),
    path("admin/__errors__/internal/", _refused_with_an_internal_message),
    path("admin/__errors__/broken/", _broken),
    path("", include("btwprofiles.urls")),
]
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500

use_these_urls = pytest.mark.urls(__name__)


def test_the_project_wires_all_three_error_views():
    assert project_urls.handler403 == "btwprofiles.errors.permission_denied"
    assert project_urls.handler404 == "btwprofiles.errors.page_not_found"
    assert project_urls.handler500 == "btwprofiles.errors.server_error"


@use_these_urls
def test_reader_403_says_why_in_the_site_layout(client):
    response = client.get("/__errors__/members-only/")
    body = response.content.decode()
    assert response.status_code == 403
    assert 'class="site-header"' in body and 'class="site-footer"' in body
    assert "Watchlists are for members" in body
    assert reverse("account_login") in body and reverse("profiles:directory") in body


@use_these_urls
def test_reader_403_never_shows_an_exceptions_own_message(client):
    response = client.get("/__errors__/internal/")
    body = response.content.decode()
    assert response.status_code == 403
    assert "This page isn't open to you" in body
    assert INTERNAL not in body and "Hidden Harbour" not in body


@use_these_urls
def test_reader_403_offers_members_no_sign_in(client):
    client.force_login(strategic_member())
    body = client.get("/__errors__/members-only/").content.decode()
    assert "Sign in</a>" not in body
    assert 'class="site-header"' in body


def test_admin_403_is_inside_the_admin_layout(client):
    unassigned = InstitutionFactory(name="Unassigned Exchange")
    client.force_login(analyst())
    response = client.get(reverse("admin:profiles_institution_change", args=[unassigned.pk]))
    body = response.content.decode()
    assert response.status_code == 403
    assert 'id="header"' in body and 'id="site-name"' in body  # the admin's own header
    assert "You can't open this page" in body
    assert 'class="site-header"' not in body
    assert reverse("admin:index") in body


@use_these_urls
def test_admin_403_shows_no_internal_message(client):
    client.force_login(analyst())
    response = client.get("/admin/__errors__/internal/")
    assert response.status_code == 403
    assert INTERNAL not in response.content.decode()


def test_admin_404_is_inside_the_admin_layout_and_echoes_nothing(client):
    client.force_login(analyst())
    response = client.get("/admin/no-such-desk-page-xyz/")
    body = response.content.decode()
    assert response.status_code == 404
    assert 'id="header"' in body and "We can't find that admin page" in body
    assert "no-such-desk-page-xyz" not in body


def test_reader_404_stays_in_the_site_layout_with_search(client):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None, name="Hidden Harbour Exchange")
    response = client.get(draft.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 404
    assert 'class="site-header"' in body and 'role="search"' in body
    assert "Hidden Harbour" not in body


@pytest.mark.parametrize(
    ("path", "marker"),
    [("/profiles/x/", 'class="site-header"'), ("/admin/profiles/", 'id="header"')],
)
def test_500_pages_render_without_context_or_database(path, marker, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = errors.server_error(RequestFactory().get(path))
    body = response.content.decode()
    assert response.status_code == 500
    assert marker in body and "Something went wrong on our side" in body


@use_these_urls
@pytest.mark.parametrize(
    ("path", "marker"), [("/__errors__/broken/", "site-header"), ("/admin/__errors__/broken/", 'id="header"')]
)
def test_500_through_the_client_carries_no_exception_text(client, path, marker):
    client.raise_request_exception = False
    response = client.get(path)
    body = response.content.decode()
    assert response.status_code == 500
    assert marker in body and INTERNAL not in body
