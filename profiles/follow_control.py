"""The follow control of the profile page: what a reader is offered for following this profile.

Following itself (the watchlist, its cache and digests) lives in `watch`; this is only the page's
decision of which control to show, from what the page's cache look-up (`profile_parts.lookup`) already fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string

from membership.gating import Reader

from . import watch
from .models import Institution
from .profile_parts import CSRF_HOLE, CachedProfile


@dataclass(frozen=True)
class FollowControl:
    """What the profile page offers for following.

    `state` is "member" (a POST form, follow or unfollow), "registered" (signed in but not a member:
    a link to the tiers) or "anonymous" (a plain sign-in link: the anonymous render carries no form
    and no CSRF token, so a shared cache can serve it to anyone).
    """

    state: str
    following: bool = False


def follow_control(reader: Reader, institution: Institution, cached: CachedProfile) -> FollowControl | None:
    """None while the profile is not public (staff preview): only published profiles can be followed.
    For members, whether they already follow it: their followed profiles come with the page's cache
    look-up (one query when not cached)."""
    if not institution.is_published():
        return None
    if not reader.is_authenticated:
        return FollowControl("anonymous")
    if not watch.may_follow(reader):
        return FollowControl("registered")
    return FollowControl("member", institution.pk in cached.followed_ids(reader.user))


def render_follow_control(follow: FollowControl | None, institution: Institution) -> str:
    """The control's HTML ("" when there is none), a hole of the cached page. It reads nothing of the
    request: rendered without one (no context processors), its form's token is the page's CSRF hole,
    filled with the page's (`profile_parts.fill`)."""
    if follow is None:
        return ""
    context = {"follow": follow, "institution": institution, "csrf_token": CSRF_HOLE}
    return render_to_string("profiles/includes/follow_control.html", context)
