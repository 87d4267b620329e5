"""API rate limits (membership.api_auth.ReaderRateThrottle): one fixed-window counter per token, per
signed-in user and per client address, in the shared cache; over the limit a 429 with Retry-After."""

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from membership import api_auth, tokens

from .factories_membership import strategic_member

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_test_urls")]

API = "/api-test/level/"
WINDOW_START = 1_800_000_000 - (1_800_000_000 % 3600)  # a whole hour, so every window starts here


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, fixed 15 s into a minute (and an hour) unless a test moves it."""
    now = {"t": WINDOW_START + 15.0}
    monkeypatch.setattr(api_auth.time, "time", lambda: now["t"])
    return now


def call(ip="203.0.113.7", token=None, client=None, **headers):
    client = client or Client()
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.get(API, REMOTE_ADDR=ip, **headers)


def statuses(n, **kwargs):
    return [call(**kwargs).status_code for _ in range(n)]


def test_anonymous_over_the_limit_gets_429_with_retry_after_to_the_windows_end(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "3/min"
    assert statuses(3) == [200, 200, 200]

    refused = call()

    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"  # 15 s into the minute
    assert refused["Content-Type"] == "application/json"
    assert "throttled" in refused.json()["detail"].lower()


def test_next_window_opens_again(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "2/min"
    assert statuses(3) == [200, 200, 429]
    clock["t"] += 45  # the next minute
    assert statuses(2) == [200, 200]


def test_each_client_address_has_its_own_counter(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "2/min"
    assert statuses(3, ip="203.0.113.7") == [200, 200, 429]
    assert statuses(2, ip="198.51.100.9") == [200, 200]
    assert statuses(1, ip="2001:db8::1") == [200]


def test_a_forged_x_forwarded_for_does_not_escape_the_limit(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "2/min"
    codes = [call(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_a_trusted_proxy_count_counts_the_forwarded_address(settings, clock):
    """Behind a proxy the operator sets allauth's setting, which sign-in rate limits follow too."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.BTW_API_RATE_ANONYMOUS = "1/min"
    assert call(ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200
    assert call(ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 200
    assert call(ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429


def test_each_token_has_its_own_counter_and_its_own_rate(settings, clock):
    settings.BTW_API_RATE_TOKEN = "2/min"
    settings.BTW_API_RATE_ANONYMOUS = "1/min"
    member = strategic_member()
    first = tokens.create_token(owner=member, name="One", lifetime_days=30).text
    second = tokens.create_token(owner=member, name="Two", lifetime_days=30).text

    assert statuses(3, token=first) == [200, 200, 429]
    assert statuses(2, token=second) == [200, 200]
    # The same address without a token counts apart, at the anonymous rate.
    assert statuses(2) == [200, 429]
    assert call(token=first)["Retry-After"] == "45"


def test_signed_in_session_is_counted_per_user_at_the_token_rate(settings, clock):
    settings.BTW_API_RATE_TOKEN = "2/min"
    settings.BTW_API_RATE_ANONYMOUS = "1/min"
    member_client = Client()
    member_client.force_login(strategic_member())
    other_client = Client()
    other_client.force_login(strategic_member())
    assert [call(client=member_client).status_code for _ in range(3)] == [200, 200, 429]
    assert call(client=other_client).status_code == 200


def test_rates_are_configurable_per_hour(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "1/hour"
    assert statuses(2) == [200, 429]
    assert call()["Retry-After"] == str(3600 - 15)


@pytest.mark.parametrize("rate", ["0", "off", "OFF", ""])
def test_a_rate_of_zero_or_off_disables_the_limit(settings, clock, rate):
    settings.BTW_API_RATE_ANONYMOUS = rate
    assert set(statuses(30)) == {200}


def test_default_rates_from_settings():
    """The shipped defaults (tests/conftest.py turns limits off for every other test)."""
    from btwprofiles import settings as project_settings

    assert api_auth.parse_rate(project_settings.BTW_API_RATE_TOKEN) == (600, 60)
    assert api_auth.parse_rate(project_settings.BTW_API_RATE_ANONYMOUS) == (60, 60)


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("600/min", (600, 60)),
        ("60/m", (60, 60)),
        ("10/s", (10, 1)),
        ("5000/hour", (5000, 3600)),
        ("1/day", (1, 86400)),
        ("0/min", None),
    ],
)
def test_rate_format(rate, parsed):
    assert api_auth.parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["fast", "10", "10/week", "-1/min", "ten/min"])
def test_a_malformed_rate_is_a_configuration_error(rate):
    with pytest.raises(ImproperlyConfigured):
        api_auth.parse_rate(rate)


def test_counters_live_in_the_shared_cache(settings, clock):
    """The counter is a cache entry (Redis when REDIS_URL is set), so every process counts together:
    what one process counted, another sees."""
    settings.BTW_API_RATE_ANONYMOUS = "2/min"
    statuses(2)
    key = f"api-rate:ip:203.0.113.7:60:{int(clock['t'] // 60)}"
    assert cache.get(key) == 2
    cache.set(key, 0)  # as if another process's window were fresh
    assert call().status_code == 200


def test_a_cache_that_cannot_count_lets_requests_through(settings, clock):
    """Redis away: the API stays up, unthrottled, rather than failing every reader."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.BTW_API_RATE_ANONYMOUS = "1/min"
    assert statuses(3) == [200, 200, 200]


def test_an_invalid_token_is_refused_before_it_is_counted(settings, clock):
    settings.BTW_API_RATE_ANONYMOUS = "1/min"
    assert call(token="btw_1234abcd_" + "0" * 64).status_code == 401
    assert call().status_code == 200
