"""HTTP done right: compression, revalidation, headers replayed by the page cache, Permissions-Policy,
favicon and touch icon, HSTS preload only when asked for."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

from btwprofiles.http import PERMISSIONS_POLICY

from .factories import EvidenceItemFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}  # a client without brotli


# --- the page cache replays what the view said -------------------------------------------------


def test_a_cached_feed_keeps_its_last_modified(client):
    EvidenceItemFactory(title="Dated source", reviewed_at=timezone.now())
    miss, hit = client.get(reverse("feed_rss")), client.get(reverse("feed_rss"))
    assert miss["X-Page-Cache"] == "miss" and hit["X-Page-Cache"] == "hit"
    assert hit["Last-Modified"] == miss["Last-Modified"]
    assert hit["Content-Type"] == miss["Content-Type"]


def test_a_cached_sitemap_keeps_its_robots_header(client):
    InstitutionFactory()
    miss, hit = client.get(reverse("sitemap")), client.get(reverse("sitemap"))
    assert hit["X-Page-Cache"] == "hit"
    assert hit["X-Robots-Tag"] == miss["X-Robots-Tag"] == "noindex, noodp, noarchive"


# --- revalidation -------------------------------------------------------------------------------


@pytest.mark.parametrize("cached", [False, True], ids=["on-the-render", "on-a-cache-hit"])
def test_anonymous_profile_page_answers_a_matching_if_none_match_with_304(client, cached):
    url = InstitutionFactory().get_absolute_url()
    first = client.get(url)
    if cached:
        assert client.get(url)["X-Page-Cache"] == "hit"
    etag = first["ETag"]
    assert etag.startswith('"')  # strong: the exact bytes, hashed once when stored
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_an_edit_changes_the_etag(client):
    inst = InstitutionFactory(dek="Before the edit.")
    etag = client.get(inst.get_absolute_url())["ETag"]
    inst.dek = "After the edit."
    inst.save()
    response = client.get(inst.get_absolute_url(), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response["ETag"] != etag


@pytest.mark.parametrize("name", ["feed_rss", "feed_atom"])
def test_feeds_answer_if_modified_since_with_304(client, name):
    inst = InstitutionFactory()
    EvidenceItemFactory(institution=inst, reviewed_at=timezone.now())
    first = client.get(reverse(name))
    assert first.status_code == 200 and first["Last-Modified"]
    later = http_date(timezone.now().timestamp() + 60)
    assert client.get(reverse(name), HTTP_IF_MODIFIED_SINCE=later).status_code == 304


@pytest.mark.parametrize("name", ["feed_rss", "feed_atom", "sitemap"])
def test_feeds_and_sitemap_answer_a_matching_etag_with_304(client, name):
    InstitutionFactory()
    first = client.get(reverse(name))
    assert client.get(reverse(name), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


# --- compression --------------------------------------------------------------------------------


@pytest.mark.parametrize("cached", [False, True], ids=["miss", "hit"])
def test_anonymous_page_is_gzipped_for_a_reader_who_accepts_it(client, cached):
    url = InstitutionFactory().get_absolute_url()
    plain = client.get(url)
    if cached:
        assert client.get(url, **GZIP)["X-Page-Cache"] == "hit"
    response = client.get(url, **GZIP)
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(response.content) == plain.content
    assert len(response.content) < len(plain.content) / 3
    # Another representation, another strong validator; each revalidates itself.
    assert response["ETag"] != plain["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"], **GZIP).status_code == 304


def test_a_reader_who_does_not_accept_gzip_gets_plain_bytes(client):
    url = InstitutionFactory().get_absolute_url()
    client.get(url, **GZIP)  # stored by a gzip reader
    response = client.get(url, HTTP_ACCEPT_ENCODING="identity")
    assert response["X-Page-Cache"] == "hit" and not response.has_header("Content-Encoding")
    assert response.content.startswith(b"<!doctype html>")


@pytest.mark.parametrize("name", ["feed_rss", "feed_atom", "sitemap"])
def test_feeds_and_sitemap_are_gzipped(client, name):
    for _ in range(3):
        InstitutionFactory()
    response = client.get(reverse(name), **GZIP)
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content).lstrip().startswith(b"<?xml")


def test_signed_in_pages_with_a_csrf_token_are_gzipped_with_breach_padding(client, member_factory):
    """The choice (settings.MIDDLEWARE): compress them; the token is masked per response and Django pads
    each gzipped body with random bytes, so two renders of the same page differ in length."""
    url = InstitutionFactory().get_absolute_url()
    client.force_login(member_factory())
    responses = [client.get(url, **GZIP) for _ in range(6)]
    assert all(r["Content-Encoding"] == "gzip" for r in responses)
    assert b"csrfmiddlewaretoken" in gzip.decompress(responses[0].content)
    assert len({len(r.content) for r in responses}) > 1


# --- headers on every response ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/profiles/", "/no-such-page/", "/favicon.ico", "/feeds/profiles/",
                                  "/accounts/login/", "/admin/"])
def test_every_response_denies_powerful_features(client, path):
    response = client.get(path)
    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"):
        assert f"{feature}=()" in response["Permissions-Policy"]


def test_a_304_carries_the_permissions_policy_too(client):
    url = InstitutionFactory().get_absolute_url()
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag)["Permissions-Policy"] == PERMISSIONS_POLICY


# --- icons --------------------------------------------------------------------------------------


def test_favicon_ico_is_served_where_browsers_look(client):
    response = Client().get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in response["Cache-Control"]


def test_every_page_links_its_icons_and_they_exist(client):
    html = client.get("/").content.decode()
    for name, rel in [("favicon.ico", "icon"), ("icon.svg", "icon"), ("apple-touch-icon.png", "apple-touch-icon")]:
        assert f'rel="{rel}" href="/static/{name}"' in html
        assert finders.find(name), name
    assert Path(finders.find("apple-touch-icon.png")).read_bytes()[16:24] == (180).to_bytes(4, "big") * 2


# --- HSTS preload: only when asked for ----------------------------------------------------------


def _production_settings(**extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(DJANGO_SECURE="1", DJANGO_SECRET_KEY="x" * 60 + "-test-only-production-key",
               DJANGO_ALLOWED_HOSTS="profiles.example.org", **extra)
    code = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'btwprofiles.settings');"
            "django.setup(); from django.conf import settings; from django.core.management import call_command;"
            "print('preload', settings.SECURE_HSTS_PRELOAD);"
            "call_command('check', deploy=True, fail_level='WARNING')")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)


@pytest.mark.parametrize(("asked", "preload"), [({}, False), ({"DJANGO_HSTS_PRELOAD": "1"}, True)],
                         ids=["default", "asked-for"])
def test_hsts_preload_only_when_asked_for_and_check_deploy_stays_clean(asked, preload):
    result = _production_settings(**asked)
    assert result.returncode == 0, result.stderr
    assert f"preload {preload}" in result.stdout
    assert "WARNING" not in result.stderr and "System check identified no issues" in result.stdout


def test_cached_public_page_is_brotli_for_a_reader_who_accepts_it(client):
    """Brotli is offered on page-cached public pages, compressed once when stored: it is preferred
    over gzip, it decodes to the same bytes, and it is its own representation for revalidation."""
    import brotli

    url = InstitutionFactory(status="published").get_absolute_url()
    plain = client.get(url, HTTP_ACCEPT_ENCODING="identity")
    for state in ("first", "hit"):
        response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
        assert response["Content-Encoding"] == "br", state
        assert brotli.decompress(response.content) == plain.content
        assert response["ETag"].endswith('-br"')
    again = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_signed_in_pages_are_never_brotli(client, member_factory):
    """Brotli carries no BREACH padding, so pages with a CSRF token or member text keep padded gzip."""
    client.force_login(member_factory())
    url = InstitutionFactory(status="published").get_absolute_url()
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response["Content-Encoding"] == "gzip"
