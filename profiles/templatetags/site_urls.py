"""`{% site_url "name" %}`: the address of a page that takes no arguments, reversed once per process.

The header, footer and feed links of every page name the same few pages, and Django's `{% url %}`
reverses each on every render (tens of microseconds apiece, a tenth of a cached page's time). Such
an address depends only on the URLconf and the script prefix, so it is kept per (name, prefix,
URLconf). Loaded in templates with `{% load site_urls %}` (found by name in this app's templatetags).
"""

import functools

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@functools.lru_cache(maxsize=128)
def _reversed(name: str, prefix: str, urlconf: str) -> str:
    return reverse(name, urlconf=urlconf)


@register.simple_tag
def site_url(name: str) -> str:
    return _reversed(name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
