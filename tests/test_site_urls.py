"""`{% site_url %}` keeps reversed addresses per script prefix: a site mounted under a path stays right."""

from django.template import Context, Template
from django.urls import clear_script_prefix, reverse, set_script_prefix


def render(name: str) -> str:
    return Template("{% load site_urls %}{% site_url '" + name + "' %}").render(Context())


def test_site_url_matches_reverse():
    for name in ("home", "profiles:directory", "membership:tiers", "feed_rss", "account_login"):
        assert render(name) == reverse(name)


def test_site_url_follows_the_script_prefix():
    assert render("home") == "/"
    set_script_prefix("/newsroom/")
    try:
        assert render("home") == "/newsroom/" == reverse("home")
    finally:
        clear_script_prefix()
    assert render("home") == "/"
