"""The public changelog page of one profile (`/profiles/<slug>/changes/`); what it lists is `profiles.changelog`.

Like the profile page: published profiles only (a draft, scheduled or archived profile is a 404 for
everyone, staff included: a changelog is what readers saw), rendered for the request's reader. The
reader is resolved for every request, so the response varies by Cookie and, signed in, is private;
anonymous renders are shared through the page cache (`urls.py`, keyed by `?page=`).
"""

from django.shortcuts import get_object_or_404, render
from django.urls import reverse

import siteurl
from membership.gating import reader_for_request

from . import changelog
from .models import Institution


def changes_page(request, slug):
    institution = get_object_or_404(Institution.objects.published().defer("search_vector"), slug=slug)
    number = changelog.page_number(request.GET.get("page"))
    log = changelog.changelog_page(reader_for_request(request), institution, number=number)
    canonical = siteurl.absolute(reverse("profiles:changes", args=[institution.slug]))
    if number > 1:
        canonical += f"?page={number}"
    context = {
        "institution": institution,
        "log": log,
        "canonical_url": canonical,
        "profile_url": institution.get_absolute_url(),
    }
    return render(request, "profiles/changes.html", context)
