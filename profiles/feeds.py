"""RSS and Atom feeds of public profile updates: site-wide, per profile and per sector.

Feeds are read by anonymous machines, so they are built for the anonymous reader: public
fields and approved public evidence only. They are valid for their formats
(tests/test_syndication_validity.py): Atom per RFC 4287 (every entry has an id, `updated`, an
alternate link; the site is the feed's author), RSS 2.0 per the W3C feed validator's rules.

Every address in them is absolute on the configured site URL (`siteurl`), never the Host header:
a cached feed is the same whoever asked first. Entry text is the analyst's Markdown rendered and
sanitised as on the page (`profiles.markdown`), its citations gated for the anonymous reader
exactly as the page gates them, each linking to its source on the profile page.
"""

from django.contrib.auth.models import AnonymousUser
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import format_html

import siteurl

from .markdown import render_markdown, to_plain_text
from .models import Institution, Sector
from .updates import updates_for

FEED_LENGTH = 50


class ProfileUpdatesFeed(Feed):
    title = "BTW Profiles — profile updates"
    description = "New profiles, newly approved public sources, timeline events and corrections."
    #: The feed's own address (its rel="self" link), by URL name.
    url_name = "feed_rss"

    def link(self):
        return siteurl.absolute(reverse("profiles:directory"))

    def feed_url(self, obj=None):
        return siteurl.absolute(reverse(self.url_name, args=[obj.slug] if obj is not None else []))

    def author_name(self):
        return siteurl.name()

    def author_link(self):
        return siteurl.absolute("/")

    def items(self):
        return updates_for(AnonymousUser(), Institution.objects.published(), limit=FEED_LENGTH)

    def item_title(self, item):
        return f"{item.kind_label}: {item.title}"

    def item_description(self, item):
        """The update's Markdown as sanitised HTML (escaped once more by the feed's XML).

        An update without text (a timeline event with a title only) says its title: feed readers
        and the W3C validator expect every entry to carry some text.
        """
        html = render_markdown(item.description, item.citations, base_url=self._page_url(item))
        return str(html or format_html("<p>{}</p>", item.title))

    def item_link(self, item):
        return siteurl.absolute(item.link)

    def item_guid(self, item):
        return f"btw-profiles:{item.key}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.at

    def item_updateddate(self, item):
        return item.at

    def item_categories(self, item):
        return [item.institution.get_type_display()]

    @staticmethod
    def _page_url(item) -> str:
        """The profile page the update's citations point into."""
        return siteurl.absolute(item.institution.get_absolute_url())


class ProfileUpdatesAtomFeed(ProfileUpdatesFeed):
    feed_type = Atom1Feed
    subtitle = ProfileUpdatesFeed.description
    url_name = "feed_atom"


class InstitutionFeed(ProfileUpdatesFeed):
    """Updates of one published profile."""

    url_name = "feed_profile"

    def get_object(self, request, slug):
        return get_object_or_404(Institution.objects.published(), slug=slug)

    def title(self, obj):
        return f"BTW Profiles — {obj.name}"

    def link(self, obj):
        return siteurl.absolute(obj.get_absolute_url())

    def description(self, obj):
        return to_plain_text(obj.dek) or f"Updates of the {obj.name} profile."

    def items(self, obj):
        return updates_for(AnonymousUser(), Institution.objects.published().filter(pk=obj.pk), limit=FEED_LENGTH)


class SectorFeed(ProfileUpdatesFeed):
    """Updates of published profiles in one sector."""

    url_name = "feed_sector"

    def get_object(self, request, slug):
        return get_object_or_404(Sector, slug=slug)

    def title(self, obj):
        return f"BTW Profiles — {obj.name}"

    def link(self, obj):
        return siteurl.absolute(obj.get_absolute_url())

    def description(self, obj):
        return f"Profile updates in {obj.name}."

    def items(self, obj):
        return updates_for(AnonymousUser(), Institution.objects.published().filter(sectors=obj), limit=FEED_LENGTH)
