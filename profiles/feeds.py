"""RSS and Atom feeds of public profile updates: site-wide, per profile and per sector.

Feeds are read by anonymous machines, so they are built for the anonymous reader: public
fields and approved public evidence only.
"""

from django.contrib.auth.models import AnonymousUser
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from .models import Institution, Sector
from .updates import updates_for

FEED_LENGTH = 50


class ProfileUpdatesFeed(Feed):
    title = "BTW Profiles — profile updates"
    description = "New profiles, newly approved public sources and timeline events."

    def link(self):
        return reverse("profiles:directory")

    def items(self):
        return updates_for(AnonymousUser(), Institution.objects.published(), limit=FEED_LENGTH)

    def item_title(self, item):
        return f"{item.kind_label}: {item.title}"

    def item_description(self, item):
        return item.description

    def item_link(self, item):
        return item.link

    def item_guid(self, item):
        return f"btw-profiles:{item.key}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.at

    def item_categories(self, item):
        return [item.institution.get_type_display()]


class ProfileUpdatesAtomFeed(ProfileUpdatesFeed):
    feed_type = Atom1Feed
    subtitle = ProfileUpdatesFeed.description


class InstitutionFeed(ProfileUpdatesFeed):
    """Updates of one published profile."""

    def get_object(self, request, slug):
        return get_object_or_404(Institution.objects.published(), slug=slug)

    def title(self, obj):
        return f"BTW Profiles — {obj.name}"

    def link(self, obj):
        return obj.get_absolute_url()

    def description(self, obj):
        return obj.dek

    def items(self, obj):
        return updates_for(AnonymousUser(), Institution.objects.published().filter(pk=obj.pk), limit=FEED_LENGTH)


class SectorFeed(ProfileUpdatesFeed):
    """Updates of published profiles in one sector."""

    def get_object(self, request, slug):
        return get_object_or_404(Sector, slug=slug)

    def title(self, obj):
        return f"BTW Profiles — {obj.name}"

    def link(self, obj):
        return obj.get_absolute_url()

    def description(self, obj):
        return f"Profile updates in {obj.name}."

    def items(self, obj):
        return updates_for(AnonymousUser(), Institution.objects.published().filter(sectors=obj), limit=FEED_LENGTH)
