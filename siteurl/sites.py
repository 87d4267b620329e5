"""The Sites framework's row follows `settings.SITE_URL`: what allauth and Django's syndication read
from it can never disagree with `siteurl`."""

from django.conf import settings
from django.contrib.sites.models import Site

from . import domain, name


def sync_site_row(using="default", **kwargs) -> None:
    """post_migrate receiver (after Django's own creates the default row): domain and name from settings."""
    Site.objects.using(using).update_or_create(pk=settings.SITE_ID, defaults={"domain": domain(), "name": name()})
    Site.objects.clear_cache()
