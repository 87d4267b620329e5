"""The site header tells readers where their own pages are: a signed-in reader reaches their account
(the e-mail page) and, as a member, their watchlist, besides signing out; the anonymous header is the
one cached anonymous pages carry, unchanged."""

import re

import pytest
from django.urls import reverse

from membership.models import Tier

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def header_links(client, url_name="home") -> dict[str, str]:
    """The main navigation's links, text → href, and its buttons, text → "button"."""
    body = client.get(reverse(url_name)).content.decode()
    match = re.search(r'<nav class="site-nav" aria-label="Main">(.*?)</nav>', body, re.DOTALL)
    assert match, "every page should carry the site header's main navigation"
    nav = match.group(1)
    links = {text.strip(): href for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>([^<]*)</a>', nav)}
    buttons = {text.strip(): "button" for text in re.findall(r"<button [^>]*>([^<]*)</button>", nav)}
    return links | buttons


def href(url_name: str) -> str:
    """The link as the header writes it (`site_url`: the site's path, under its configured prefix)."""
    return reverse(url_name)


def test_anonymous_readers_are_offered_sign_in_and_joining_only(client):
    assert header_links(client) == {
        "Profiles": href("profiles:directory"),
        "Membership": href("membership:tiers"),
        "Sign in": href("account_login"),
        "Join free": href("account_signup"),
    }


def test_a_registered_reader_without_membership_reaches_their_account_but_has_no_watchlist(client):
    client.force_login(UserFactory(verified=True))
    links = header_links(client)
    assert links["Account"] == href("account_email")
    assert links["Sign out"] == "button"
    assert "Watchlist" not in links and "Sign in" not in links and "Join free" not in links


def test_a_member_reaches_their_watchlist_and_account(member_client):
    links = header_links(member_client(Tier.STRATEGIC_CIRCLE_SLUG))
    assert links == {
        "Profiles": href("profiles:directory"),
        "Membership": href("membership:tiers"),
        "Watchlist": href("watch:list"),
        "Account": href("account_email"),
        "Sign out": "button",
    }


def test_the_header_marks_the_readers_own_page_as_current(member_client):
    client = member_client(Tier.STRATEGIC_CIRCLE_SLUG)
    for url_name, text in (("watch:list", "Watchlist"), ("account_email", "Account")):
        body = client.get(reverse(url_name)).content.decode()
        assert re.search(rf'<a href="{re.escape(href(url_name))}" aria-current="page">{text}</a>', body)
