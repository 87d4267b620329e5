"""Shared renders hold nothing reader-specific: the profile page's parts are cached per reader variant,
and a variant is everything the parts render about the reader and the request — nothing more, so
junk query strings do not multiply entries."""

import datetime
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from membership.models import Application, Tier
from membership.readers import Reader

from .factories import BriefingFactory, InstitutionFactory, tier
from .factories_membership import pending_applicant

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
#: The templates the profile page's shared parts are rendered from (and what they include).
PART_TEMPLATES = [
    *sorted((TEMPLATES / "profiles" / "profile").rglob("*.html")),
    *sorted((TEMPLATES / "membership" / "includes").rglob("*.html")),
]


def used_attributes_in(templates, name: str) -> set[str]:
    """Every `<name>.<attribute>` these templates read (not a file name such as `profiles/reader.css`)."""
    pattern = re.compile(rf"(?<![/\w]){name}\.(\w+)")
    return {match for path in templates for match in pattern.findall(path.read_text())}


def used_attributes(name: str) -> set[str]:
    """Every `<name>.<attribute>` the part templates read."""
    return used_attributes_in(PART_TEMPLATES, name)


def alliance_locked_profile():
    """A published profile whose Leadership Alliance briefing shows a pending applicant their status."""
    profile = InstitutionFactory(name="Shared Render Exchange")
    BriefingFactory(institution=profile, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    return profile


def applicant_submitted_on(day: datetime.date):
    application = pending_applicant()
    submitted = timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))
    Application.objects.filter(pk=application.pk).update(created_at=submitted)
    return application.user


def fragment_keys(slug: str) -> list[str]:
    """The reader-variant parts (header, body) of one profile stored in the local-memory cache."""
    return [key for key in cache._cache if re.search(rf"btw:profile:{re.escape(slug)}:(top|body):", key)]


def test_each_pending_applicant_sees_their_own_submission_date_from_the_cache(client):
    profile = alliance_locked_profile()
    first = applicant_submitted_on(datetime.date(2026, 3, 2))
    second = applicant_submitted_on(datetime.date(2026, 9, 17))
    pages = {}
    for round_ in range(2):  # the second round is served from the cached parts
        for user in (first, second):
            client.force_login(user)
            pages[user.pk, round_] = client.get(profile.get_absolute_url()).content.decode()
    for round_ in range(2):
        assert "(submitted 2 March 2026)" in pages[first.pk, round_]
        assert "17 September 2026" not in pages[first.pk, round_]
        assert "(submitted 17 September 2026)" in pages[second.pk, round_]
        assert "2 March 2026" not in pages[second.pk, round_]
    assert len(fragment_keys(profile.slug)) == 4  # header and body per applicant


def test_every_reader_attribute_the_parts_render_is_part_of_the_variant():
    used = used_attributes("reader")
    assert used >= {"state", "application_submitted_at"}  # the grep itself still finds what it should
    outside = used - set(Reader.RENDERED)
    assert not outside, f"shared parts render reader.{sorted(outside)}, which Reader.render_key leaves out"


def test_the_variant_changes_with_each_rendered_reader_attribute():
    signed_in = SimpleNamespace(is_authenticated=True)
    registered = Reader(user=signed_in, email_verified=True)
    differing = {
        "level": Reader(user=signed_in, email_verified=True, level=1),
        "state": Reader(user=signed_in, email_verified=True, application_pending=True),
        "application_submitted_at": Reader(
            user=signed_in, email_verified=True, application_submitted_at=timezone.now()
        ),
    }
    assert set(differing) == set(Reader.RENDERED)
    for name, reader in differing.items():
        assert getattr(reader, name) != getattr(registered, name)
        assert reader.render_key != registered.render_key, name


def test_the_parts_read_nothing_of_the_request_but_its_path():
    assert used_attributes("request") <= {"get_full_path"}
    assert not used_attributes("user") and not used_attributes("perms")


def test_junk_query_strings_add_one_fragment_entry(client, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 0  # the fragment layer alone (the page cache keys itself)
    profile = alliance_locked_profile()
    url = profile.get_absolute_url()
    for n in range(1000):
        response = client.get(url, {"utm": n})
        assert response.status_code == 200
    assert len(fragment_keys(profile.slug)) == 2  # one header, one body
    # The shared render points the sign-in link at the page itself, not at the first junk query.
    body = client.get(url, {"utm_source": "elsewhere"}).content.decode()
    assert f'class="cta__secondary" href="/accounts/login/?next={url}"' in body and "utm" not in body
