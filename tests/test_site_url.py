"""One site URL: `DJANGO_SITE_URL` (settings.SITE_URL, read through `siteurl`) is the address in the
sitemap, robots.txt and every canonical link, whatever Host a request names; the Sites row follows it
after migrate; `make run HOST=…` sets it from HOST; a malformed one stops start-up."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sites.models import Site
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import reverse

import siteurl

from .factories import InstitutionFactory

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
OTHER_HOST = "mirror.example.net"


@pytest.fixture
def site(settings):
    """The site configured at https://profiles.example.org, with another name it also answers to."""
    settings.SITE_URL = "https://profiles.example.org"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, OTHER_HOST]
    return settings


def canonical(response) -> str:
    match = re.search(r'<link rel="canonical" href="([^"]+)">', response.content.decode())
    assert match, "no canonical link"
    return match.group(1)


def addresses(client, profile, **headers) -> dict[str, list[str]]:
    """Every absolute address the sitemap, robots.txt and the pages' canonical links give."""
    def get(url, data=None):
        return client.get(url, data, **headers)

    sitemap = get(reverse("sitemap")).content.decode()
    robots = get(reverse("robots_txt")).content.decode()
    return {
        "canonical": [
            canonical(get(reverse("home"))),
            canonical(get(reverse("profiles:directory"), {"sector": "none", "page": "1"})),
            canonical(get(profile.get_absolute_url())),
            canonical(get(reverse("profiles:map", args=[profile.slug]))),
            canonical(get(reverse("profiles:changes", args=[profile.slug]))),
        ],
        "sitemap": re.findall(r"<loc>([^<]+)</loc>", sitemap),
        "robots": re.findall(r"^Sitemap: (\S+)$", robots, re.MULTILINE),
    }


def test_another_allowed_host_gets_the_configured_site_url_everywhere(client, site):
    profile = InstitutionFactory()
    found = addresses(client, profile, HTTP_HOST=OTHER_HOST)
    assert found["robots"] == ["https://profiles.example.org/sitemap.xml"]
    assert "https://profiles.example.org" + profile.get_absolute_url() in found["sitemap"]
    assert found["canonical"][2] == "https://profiles.example.org" + profile.get_absolute_url()
    for channel, urls in found.items():
        assert urls, channel
        for url in urls:
            assert url.startswith("https://profiles.example.org/"), (channel, url)


def test_changing_the_site_url_changes_every_address(client, site):
    profile = InstitutionFactory()
    before = addresses(client, profile)
    site.SITE_URL = "http://newsroom.example.com:8080"
    cache.clear()  # a new address takes a restart; the local-memory cache does not outlive it
    after = addresses(client, profile)
    for channel in before:
        assert [url.replace("https://profiles.example.org/", "http://newsroom.example.com:8080/")
                for url in before[channel]] == after[channel], channel


def test_the_sites_row_follows_the_setting_after_migrate(settings):
    # The test database was built by migrate: the row already names the configured address.
    assert Site.objects.get(pk=settings.SITE_ID).domain == siteurl.domain()
    settings.SITE_URL = "https://profiles.example.org:8443"
    call_command("migrate", verbosity=0)
    row = Site.objects.get_current()
    assert (row.domain, row.name) == ("profiles.example.org:8443", settings.SITE_NAME)


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://profiles.example.org", "https://profiles.example.org"),
        ("https://profiles.example.org/", "https://profiles.example.org"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_an_origin_is_a_valid_site_url(given, origin):
    assert siteurl.checked(given) == origin


@pytest.mark.parametrize(
    "given",
    [
        "",
        "profiles.example.org",
        "ftp://profiles.example.org",
        "https://",
        "https://profiles.example.org/newsroom",
        "https://profiles.example.org/?next=1",
        "https://profiles.example.org#top",
        "https://user:secret@profiles.example.org",
        "https://profiles.example.org:port",
    ],
)
def test_anything_but_an_origin_is_refused(given):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SITE_URL"):
        siteurl.checked(given)


def test_a_malformed_site_url_stops_start_up_with_one_clear_line():
    env = {**os.environ, "DJANGO_SITE_URL": "https://profiles.example.org/newsroom", "DJANGO_DEBUG": "1"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: DJANGO_SITE_URL must be")
    assert "'https://profiles.example.org/newsroom'" in last


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
@pytest.mark.parametrize(
    ("make_args", "environment", "site_url"),
    [
        ([], {}, "http://127.0.0.1:8000"),
        (["HOST=0.0.0.0:8000"], {}, "http://127.0.0.1:8000"),
        (["HOST=localhost:9000"], {}, "http://localhost:9000"),
        (["HOST=8001"], {}, "http://127.0.0.1:8001"),
        (["HOST=0.0.0.0:8000"], {"DJANGO_SITE_URL": "https://profiles.example.org"}, "https://profiles.example.org"),
    ],
)
def test_make_run_migrates_seeds_and_serves_on_one_site_url(tmp_path, make_args, environment, site_url):
    """`make run` with a stand-in interpreter that prints the address each step would use."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "$DJANGO_SITE_URL $*"\n')
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SITE_URL", "MAKEFLAGS", "HOST")}
    result = subprocess.run(  # noqa: S603 - make, on the project's Makefile
        ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", "run", f"PY={python}", *make_args],  # noqa: S607
        cwd=BASE_DIR, env={**env, **environment}, capture_output=True, text=True, timeout=60, check=True,
    )
    steps = [line.split(" ", 1) for line in result.stdout.splitlines()]
    commands = [command.split()[1] for _, command in steps]
    assert {"migrate", "seed_demo"} <= set(commands[:-1]) and commands[-1] == "runserver"
    assert {address for address, _ in steps} == {site_url}
