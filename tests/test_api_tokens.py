"""Personal API tokens: made, shown once, listed and revoked on the account page; checked on every API
request (membership.tokens, membership.api_auth.TokenAuthentication), audited, and managed by superusers."""

import datetime
import hashlib
import re

import pytest
from django.contrib.sessions.models import Session
from django.core import serializers
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from membership import services, tokens
from membership.models import ApiToken, Membership, Tier
from membership.readers import member_reader

from .factories import StaffFactory, UserFactory
from .factories_membership import alliance_member, pending_applicant, strategic_member, unverified_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_test_urls")]

PAGE = "/membership/api-tokens/"
API = "/api-test/level/"
TOKEN_IN_HTML = re.compile(r"btw_[0-9a-f]{8}_[0-9a-f]{64}")


def api_get(token_text=None, **headers):
    client = Client()
    if token_text is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token_text}")
    return client.get(API, **headers)


def issue(owner, name="Notebook", lifetime_days=90):
    return tokens.create_token(owner=owner, name=name, lifetime_days=lifetime_days)


# --- the account page --------------------------------------------------------------------------------------


def test_account_pages_link_to_api_tokens(client):
    client.force_login(strategic_member())
    response = client.get(reverse("account_email"))
    assert f'href="{PAGE}"' in response.content.decode()


def test_token_page_needs_sign_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    assert client.post(PAGE, {"name": "x", "lifetime": "30"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_member_creates_token_and_its_secret_is_shown_once(client):
    member = strategic_member()
    client.force_login(member)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "private" in page["Cache-Control"] and "no-store" in page["Cache-Control"]

    response = client.post(PAGE, {"name": "Research notebook", "lifetime": "30"})

    assert response.status_code == 201
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    [text] = set(TOKEN_IN_HTML.findall(html))
    assert "shown only this once" in html
    token = ApiToken.objects.get(owner=member)
    assert token.name == "Research notebook"
    assert text.startswith(f"btw_{token.prefix}_")
    assert token.expires_at - timezone.now() > datetime.timedelta(days=29, hours=23)
    # Stored as its SHA-256 digest, nowhere as text: not in any column, the session or the audit log.
    assert token.digest == hashlib.sha256(text.encode()).hexdigest()
    secret = text.rsplit("_", 1)[1]
    stored = serializers.serialize("json", [*ApiToken.objects.all(), *AuditEntry.objects.all(), *Session.objects.all()])
    assert secret not in stored and text not in stored
    assert secret not in str(dict(client.session.items()))

    later = client.get(PAGE)
    html_later = later.content.decode()
    assert secret not in html_later
    assert "Research notebook" in html_later and f"btw_{token.prefix}_…" in html_later


def test_the_new_token_reads_the_api_at_its_owners_level(client):
    client.force_login(strategic_member())
    text = TOKEN_IN_HTML.search(client.post(PAGE, {"name": "CLI", "lifetime": "never"}).content.decode())[0]
    assert ApiToken.objects.get().expires_at is None
    response = api_get(text)
    assert response.status_code == 200
    assert response.json() == {"level": 1}


def test_token_list_shows_name_prefix_dates_and_a_revoke_button(client):
    member = strategic_member()
    token = issue(member, name="Dashboard", lifetime_days=365).token
    token.last_used_at = timezone.now()
    token.save()
    client.force_login(member)
    html = client.get(PAGE).content.decode()
    assert "Dashboard" in html
    assert token.display_prefix in html
    assert f"{token.created_at:%-d %b %Y}" in html
    assert f"{token.expires_at:%-d %b %Y}" in html
    assert f'action="{reverse("membership:revoke_api_token", args=[token.pk])}"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_member_revokes_token_and_it_stops_working_at_once(client):
    member = strategic_member()
    issued = issue(member)
    assert api_get(issued.text).status_code == 200
    client.force_login(member)

    response = client.post(reverse("membership:revoke_api_token", args=[issued.token.pk]))

    assert response.status_code == 302
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    assert "Revoke the token Notebook" not in client.get(PAGE).content.decode()
    refused = api_get(issued.text)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "This API token has been revoked."}


def test_revoke_needs_post_and_csrf(client):
    member = strategic_member()
    token = issue(member).token
    client.force_login(member)
    assert client.get(reverse("membership:revoke_api_token", args=[token.pk])).status_code == 405
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(member)
    assert csrf_client.post(reverse("membership:revoke_api_token", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_reader_cannot_revoke_someone_elses_token(client):
    token = issue(strategic_member()).token
    client.force_login(strategic_member())
    assert client.post(reverse("membership:revoke_api_token", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_unverified_reader_cannot_create_tokens(client):
    client.force_login(unverified_user())
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Verify your e-mail address before creating API tokens" in page.content.decode()
    assert 'name="name"' not in page.content.decode()

    response = client.post(PAGE, {"name": "Sneaky", "lifetime": "30"})

    assert response.status_code == 403
    assert "Verify your e-mail address" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_verified_reader_without_membership_may_create_a_token_that_reads_public(client):
    reader = UserFactory(verified=True)
    client.force_login(reader)
    text = TOKEN_IN_HTML.search(client.post(PAGE, {"name": "Public", "lifetime": "90"}).content.decode())[0]
    assert api_get(text).json() == {"level": 0}


def test_eleventh_live_token_refused_until_one_is_revoked(client):
    member = strategic_member()
    made = [issue(member, name=f"Token {n}") for n in range(ApiToken.MAX_LIVE_PER_OWNER)]
    client.force_login(member)
    assert "the most one account may hold" in client.get(PAGE).content.decode()

    refused = client.post(PAGE, {"name": "One more", "lifetime": "30"})

    assert refused.status_code == 409
    assert "Revoke one you no longer use" in refused.content.decode()
    assert ApiToken.objects.filter(owner=member).count() == ApiToken.MAX_LIVE_PER_OWNER
    tokens.revoke_token(token=made[0].token, by=member)
    assert client.post(PAGE, {"name": "One more", "lifetime": "30"}).status_code == 201


def test_expired_tokens_do_not_count_towards_the_limit():
    member = strategic_member()
    for n in range(ApiToken.MAX_LIVE_PER_OWNER):
        issue(member, name=f"Old {n}")
    ApiToken.objects.update(expires_at=timezone.now() - datetime.timedelta(days=1))
    assert issue(member, name="Fresh").token.is_live()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "lifetime": "30"}, "name", "Give the token a name"),
        ({"name": "   ", "lifetime": "30"}, "name", "Give the token a name"),
        ({"name": "x" * 81, "lifetime": "30"}, "name", "at most 80 characters"),
        ({"name": "Fine", "lifetime": "7"}, "lifetime", "Select a valid choice"),
        ({"name": "Fine"}, "lifetime", "Choose when the token expires"),
    ],
)
def test_bad_token_form_shows_field_errors(client, data, field, message):
    client.force_login(strategic_member())
    response = client.post(PAGE, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_token_names_are_unique_per_owner_among_unrevoked_tokens(client):
    member = strategic_member()
    first = issue(member, name="Notebook").token
    client.force_login(member)
    response = client.post(PAGE, {"name": "Notebook", "lifetime": "30"})
    assert "You already have a token with this name" in response.content.decode()
    assert ApiToken.objects.filter(owner=member).count() == 1
    tokens.revoke_token(token=first, by=member)
    assert client.post(PAGE, {"name": "Notebook", "lifetime": "30"}).status_code == 201
    # Another reader may use the same name.
    assert issue(strategic_member(), name="Notebook").token.pk


@pytest.mark.parametrize("count", [1, 200])
def test_token_page_query_budget(client, django_assert_max_num_queries, count):
    member = strategic_member()
    now = timezone.now()
    ApiToken.objects.bulk_create(
        ApiToken(
            owner=member,
            name=f"T{n}",
            prefix=f"{n:08x}",
            digest=f"{n:064x}",
            created_at=now,
            expires_at=now - datetime.timedelta(days=1),
        )
        for n in range(count)
    )
    client.force_login(member)
    client.get(PAGE)  # session and first-use reads settle
    # The user with their reader row, the verified-e-mail and live-token checks, the list: 4.
    with django_assert_max_num_queries(4):
        response = client.get(PAGE)
    assert response.status_code == 200
    assert response.content.decode().count("Revoke the token") == count


# --- audit ---------------------------------------------------------------------------------------------------


def test_creating_and_revoking_a_token_are_in_the_audit_log():
    member = strategic_member()
    issued = issue(member, name="Audited")
    tokens.revoke_token(token=issued.token, by=member)
    entries = AuditEntry.objects.about(issued.token).order_by("created_at", "pk")
    assert [e.action for e in entries] == [AuditEntry.Action.API_TOKEN] * 2
    assert [e.data["event"] for e in entries] == ["created", "revoked"]
    assert all(e.actor == member for e in entries)
    assert "Audited" in entries[0].summary and issued.token.display_prefix in entries[0].summary
    assert issued.text.rsplit("_", 1)[1] not in str([(e.summary, e.data) for e in entries])


def test_revoking_twice_records_once():
    member = strategic_member()
    token = issue(member).token
    assert tokens.revoke_token(token=token, by=member) is True
    assert tokens.revoke_token(token=token, by=member) is False
    assert AuditEntry.objects.about(token).filter(data__event="revoked").count() == 1


def test_only_owner_or_superuser_may_revoke():
    token = issue(strategic_member()).token
    with pytest.raises(tokens.NotPermitted):
        tokens.revoke_token(token=token, by=strategic_member())
    assert tokens.revoke_token(token=token, by=StaffFactory(is_superuser=True)) is True


# --- authentication ----------------------------------------------------------------------------------------


def test_token_is_found_by_the_digest_of_its_text():
    issued = issue(strategic_member())
    assert ApiToken.objects.get(digest=hashlib.sha256(issued.text.encode()).hexdigest()) == issued.token
    assert tokens.authenticate(issued.text) == issued.token


def test_no_authorization_header_reads_as_anonymous():
    response = api_get()
    assert response.status_code == 200
    assert response.json() == {"level": 0}


def test_other_authorization_schemes_are_left_to_other_classes():
    assert api_get(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz").json() == {"level": 0}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
        ("Bearer not-a-token", "Malformed API token"),
        ("Bearer btw_1234abcd_short", "Malformed API token"),
        ("bearer btw_ABCDEF12_" + "0" * 64, "Malformed API token"),
        ("Bearer btw_1234abcd_" + "0" * 64, "Unknown API token"),
    ],
)
def test_malformed_or_unknown_token_is_401_json(header, reason):
    response = api_get(HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert reason in response.json()["detail"]


def test_non_ascii_token_is_401_not_500():
    response = Client().get(API, HTTP_AUTHORIZATION="Bearer btw_é".encode().decode("latin-1"))
    assert response.status_code == 401


def test_expired_token_is_401():
    issued = issue(strategic_member(), lifetime_days=30)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = api_get(issued.text)
    assert response.status_code == 401
    assert "expired on" in response.json()["detail"]


def test_revoked_token_is_401():
    member = strategic_member()
    issued = issue(member)
    tokens.revoke_token(token=issued.token, by=member)
    response = api_get(issued.text)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_token_of_a_disabled_account_is_401():
    member = strategic_member()
    issued = issue(member)
    member.is_active = False
    member.save()
    response = api_get(issued.text)
    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]


def test_lapsed_membership_reads_at_the_lower_level_on_the_next_request():
    member = alliance_member()
    issued = issue(member)
    assert api_get(issued.text).json() == {"level": 2}
    alliance = Membership.objects.get(user=member, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)

    services.lapse_membership(membership=alliance, by=StaffFactory(is_superuser=True))

    assert api_get(issued.text).json() == {"level": 1}
    assert member_reader(tokens.authenticate(issued.text).owner).level == 1
    strategic = Membership.objects.get(user=member, tier__slug=Tier.STRATEGIC_CIRCLE_SLUG)
    services.lapse_membership(membership=strategic, by=None)
    assert api_get(issued.text).json() == {"level": 0}


def test_pending_applicant_token_reads_at_strategic_circle():
    applicant = pending_applicant().user
    assert api_get(issue(applicant).text).json() == {"level": 1}


def test_staff_token_reads_at_membership_level_never_with_staff_sight(settings):
    settings.BTW_REQUIRE_STAFF_MFA = False  # staff would have full sight in a session
    staff = StaffFactory(is_superuser=True, verified=True)
    assert api_get(issue(staff).text).json() == {"level": 0}


def test_last_used_is_written_at_most_once_an_hour(django_assert_num_queries):
    issued = issue(strategic_member())
    assert issued.token.last_used_at is None
    api_get(issued.text)
    issued.token.refresh_from_db()
    first_use = issued.token.last_used_at
    assert first_use is not None

    api_get(issued.text)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at == first_use
    with django_assert_num_queries(1):  # the token with its owner; no write
        tokens.touch(tokens.authenticate(issued.text))

    an_hour_ago = timezone.now() - datetime.timedelta(hours=1, seconds=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=an_hour_ago)
    api_get(issued.text)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at > an_hour_ago + datetime.timedelta(hours=1)


def test_token_request_costs_one_query_for_token_and_owner_plus_the_reader_row(django_assert_num_queries):
    issued = issue(strategic_member())
    api_get(issued.text)  # first use writes last_used_at
    with django_assert_num_queries(2):
        assert api_get(issued.text).json() == {"level": 1}


def test_token_responses_are_private():
    issued = issue(strategic_member())
    assert "private" in api_get(issued.text)["Cache-Control"]


# --- the admin ---------------------------------------------------------------------------------------------


def test_superuser_sees_tokens_without_digests_and_revokes_them(client):
    member = strategic_member()
    issued = issue(member, name="Admin-visible")
    client.force_login(StaffFactory(is_superuser=True))
    changelist = client.get(reverse("admin:membership_apitoken_changelist"))
    assert changelist.status_code == 200
    assert "Admin-visible" in changelist.content.decode()
    change = client.get(reverse("admin:membership_apitoken_change", args=[issued.token.pk]))
    for html in (changelist.content.decode(), change.content.decode()):
        assert issued.token.digest not in html
        assert issued.text.rsplit("_", 1)[1] not in html

    response = client.post(
        reverse("admin:membership_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [issued.token.pk]},
    )

    assert response.status_code == 302
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    assert api_get(issued.text).status_code == 401
    assert AuditEntry.objects.about(issued.token).filter(data__event="revoked").exists()


def test_staff_who_are_not_superusers_do_not_see_tokens(client, analyst, moderator):
    issue(strategic_member())
    for user in (analyst, moderator):
        client.force_login(user)
        assert client.get(reverse("admin:membership_apitoken_changelist")).status_code == 403


@pytest.mark.parametrize("count", [1, 200])
def test_token_admin_changelist_query_budget(client, django_assert_max_num_queries, count):
    owner = strategic_member()
    ApiToken.objects.bulk_create(
        ApiToken(owner=owner, name=f"T{n}", prefix=f"{n:08x}", digest=f"{n:064x}") for n in range(count)
    )
    client.force_login(StaffFactory(is_superuser=True))
    url = reverse("admin:membership_apitoken_changelist")
    client.get(url)
    # Four queries whatever the number of tokens (owners joined, no per-row query).
    with django_assert_max_num_queries(4):
        response = client.get(url)
    assert response.status_code == 200
