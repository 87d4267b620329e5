"""Shared fixtures: small factories for readers at each tier and for staff."""

import uuid

import pytest
from django.contrib.auth.models import Group

from membership.models import Membership, Tier

from .factories import MembershipFactory, StaffFactory, UserFactory, tier


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.BTW_REQUIRE_STAFF_MFA = False
    # API rate limits count requests per test client; tests of them set their own (test_api_rate_limits.py).
    settings.BTW_API_RATE_ANONYMOUS = settings.BTW_API_RATE_TOKEN = "off"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _reference_data_after_flush(request):
    """Transactional tests flush the database afterwards, taking the migration-seeded tiers and
    groups with it; put them back before each such test so test order never matters."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        from .factories_membership import ensure_reference_data

        request.getfixturevalue("transactional_db")
        ensure_reference_data()


@pytest.fixture(autouse=True)
def _tier_levels_read_once_per_process(request):
    """Tier levels are read once per process (`Tier.objects.level_of`) and kept: a query budget would
    count that one read only when its test happened to run first in its worker. Every database test
    starts with them read, the steady state of a serving process, whatever ran before (random order)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db", "live_server"} & set(request.fixturenames):
        return
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    if transactional:
        request.getfixturevalue("_reference_data_after_flush")
    Tier.objects.level_of(Tier.STRATEGIC_CIRCLE_SLUG)


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def member_factory(db):
    """`member_factory(tier_slug)` → a verified user with an active membership of that tier."""

    def make(tier_slug=Tier.STRATEGIC_CIRCLE_SLUG, **kwargs):
        user = UserFactory(verified=True, **kwargs)
        MembershipFactory(user=user, tier=tier(tier_slug), status=Membership.Status.ACTIVE)
        if tier_slug == Tier.LEADERSHIP_ALLIANCE_SLUG:
            MembershipFactory(user=user, tier=tier(Tier.STRATEGIC_CIRCLE_SLUG), status=Membership.Status.ACTIVE)
        return user

    return make


@pytest.fixture
def member_client(client, member_factory):
    """`member_client(tier=…)` → the test client logged in as a member of that tier."""

    def make(tier=Tier.STRATEGIC_CIRCLE_SLUG):
        client.force_login(member_factory(tier))
        return client

    return make


@pytest.fixture
def staff_factory(db):
    def make(*groups, **kwargs):
        user = StaffFactory(**kwargs)
        for name in groups:
            user.groups.add(Group.objects.get(name=name))
        return user

    return make


@pytest.fixture
def analyst(staff_factory):
    return staff_factory("Analysts")


@pytest.fixture
def moderator(staff_factory):
    return staff_factory("Moderators")


@pytest.fixture
def superuser(db):
    return StaffFactory(is_superuser=True)


@pytest.fixture
def secret():
    """A string to plant in members-only text: no reader below its tier may ever receive it."""
    return f"SECRET{uuid.uuid4().hex}"
