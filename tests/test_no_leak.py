"""Locked text reaches nobody below its tier, through any output (DESIGN.md, gating rule 4).

A unique secret is planted in every members-only field of a published profile: a Leadership
Alliance briefing's body and source notes, a members-only approved evidence item's title,
claim and quote, and a members-only watchpoint's text. Then every OUTPUT below is fetched as
each reader who must not see it, and the secret must be absent; for an alliance member and
for staff the profile page must show it (so the test cannot pass by showing nothing).
"""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.test import Client, override_settings
from django.urls import include, path, reverse
from django.utils import timezone

from btwprofiles import urls as project_urls
from membership.models import Tier
from profiles import search, watch
from profiles.models import Follow, Institution, RelatedLink, WatchSettings

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    StaffFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import (
    alliance_member,
    lapsed_member,
    pending_applicant,
    strategic_member,
    unverified_user,
)

pytestmark = pytest.mark.django_db


# --- a URLconf for this module: the project's URLs plus one view that fails mid-render -------------------


def _view_that_fails(request, slug):
    """Loads the secret into memory, then breaks: the 500 page must not carry any of it."""
    from profiles.models import Briefing

    briefing = Briefing.objects.get(institution__slug=slug, required_tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    raise RuntimeError(f"failed while rendering {briefing.body}")  # the message holds the secret


urlpatterns = [
    path("__leak__/<slug:slug>/fail/", _view_that_fails),
    path("", include("btwprofiles.urls")),
]
handler404, handler500 = project_urls.handler404, project_urls.handler500  # the project's own error views


# --- the planted profile -----------------------------------------------------------------------------------


@pytest.fixture
def profile(secret):
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    institution = InstitutionFactory(name="Leak Test Exchange", slug="leak-test-exchange")
    BriefingFactory(
        institution=institution,
        title="Alliance context",
        body=f"Alliance body {secret} ends here.",
        source_notes=f"Alliance notes {secret}.",
        required_tier=alliance,
    )
    BriefingFactory(institution=institution, title="Circle context", body="Circle body, no secret here.")
    EvidenceItemFactory(
        institution=institution,
        title=f"Evidence title {secret}",
        claim=f"Evidence claim {secret}",
        quote=f"Evidence quote {secret}",
        required_tier=alliance,
        reviewed_at=timezone.now(),
    )
    EvidenceItemFactory(
        institution=institution, title="Public source", claim="A public claim.", reviewed_at=timezone.now()
    )
    institution.sectors.add(SectorFactory(name="Leak sector", slug="leak-sector"))
    search.refresh_search_index([institution.pk])
    WatchpointFactory(institution=institution, text=f"Watch for {secret}", required_tier=alliance)
    WatchpointFactory(institution=institution, text="A public watchpoint.")
    return institution


# --- readers -----------------------------------------------------------------------------------------------

LOCKED_OUT = {
    "anonymous": lambda: None,
    "signed-up, unverified": unverified_user,
    "Strategic Circle member": strategic_member,
    "pending Leadership Alliance applicant": lambda: pending_applicant().user,
    "lapsed Leadership Alliance member": lapsed_member,
    "staff without MFA": StaffFactory,  # with BTW_REQUIRE_STAFF_MFA on: reads at membership level
}
NEEDS_MFA_SETTING = {"staff without MFA"}
ALLOWED = {
    "Leadership Alliance member": alliance_member,
    "staff": StaffFactory,
}


def client_for(make_user):
    client = Client(raise_request_exception=False)
    user = make_user()
    client.reader_user = user
    if user is not None:
        client.force_login(user)
    return client


def full_text(response) -> str:
    """Everything a reader receives: headers and body (head, meta, JSON-LD included)."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return headers + "\n" + body.decode("utf-8", "replace")


# --- OUTPUTS -----------------------------------------------------------------------------------------------
# Every output added later (feeds, sitemap, search, map, exports, e-mails, digests) must join this list.
# Each entry: name -> function(client, profile) returning the text that reader receives.


def _profile_page(client, profile):
    return full_text(client.get(reverse("profiles:detail", kwargs={"slug": profile.slug})))


def _profile_page_cached_after_a_member(client, profile):
    """A shared or page cache must never hand an alliance member's render to this reader."""
    url = reverse("profiles:detail", kwargs={"slug": profile.slug})
    member = Client()
    member.force_login(alliance_member())
    assert member.get(url).status_code == 200
    return full_text(client.get(url))


def _directory(client, profile):
    return full_text(client.get(reverse("profiles:directory")))


def _directory_search(client, profile):
    return full_text(client.get(reverse("profiles:directory"), {"q": "Leak Test"}))


def _home(client, profile):
    return full_text(client.get(reverse("home")))


def _home_cached_after_a_member(client, profile):
    member = Client()
    member.force_login(alliance_member())
    member.get(reverse("home"))
    return full_text(client.get(reverse("home")))


def _not_found_page(client, profile):
    return full_text(client.get(f"/profiles/{profile.slug}/no-such-page/")) + full_text(
        client.get("/profiles/no-such-profile/")
    )


def _server_error_page(client, profile):
    response = client.get(f"/__leak__/{profile.slug}/fail/")
    assert response.status_code == 500
    return full_text(response)


def _admin_index(client, profile):
    response = client.get("/admin/", follow=True)
    return full_text(response)


def _admin_briefing_change_page(client, profile):
    briefing = profile.briefings.get(required_tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    text = ""
    for url in (
        reverse("admin:profiles_briefing_change", args=[briefing.pk]),
        reverse("admin:profiles_briefing_changelist"),
        reverse("admin:profiles_evidenceitem_changelist"),
        reverse("admin:profiles_watchpoint_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302  # to sign in (readers) or to the second factor (staff)
        text += full_text(response) + full_text(client.get(url, follow=True))
    return text


def _membership_pages(client, profile):
    return full_text(client.get(reverse("membership:tiers"))) + full_text(client.get(reverse("membership:apply")))


def _feeds(client, profile):
    urls = [
        reverse("feed_rss"),
        reverse("feed_atom"),
        reverse("feed_profile", args=[profile.slug]),
        reverse("feed_sector", args=["leak-sector"]),
    ]
    return "".join(full_text(client.get(url)) for url in urls)


def _sitemap_and_robots(client, profile):
    return full_text(client.get("/sitemap.xml")) + full_text(client.get("/robots.txt"))


def _map_page(client, profile):
    return full_text(client.get(reverse("profiles:map", args=[profile.slug])))


def _changelog_page(client, profile):
    return full_text(client.get(reverse("profiles:changes", args=[profile.slug])))


def _watchlist_and_digest(client, profile):
    """The reader follows the profile: their watchlist page and their digest e-mail."""
    user = client.reader_user
    if user is None:
        return full_text(client.get(reverse("watch:list")))
    Follow.objects.get_or_create(user=user, institution=profile)
    Follow.objects.filter(user=user).update(last_seen_at=timezone.now() - timezone.timedelta(days=3))
    settings_row, _ = WatchSettings.objects.update_or_create(
        user=user, defaults={"frequency": WatchSettings.Frequency.DAILY, "last_digest_at": None}
    )
    text = full_text(client.get(reverse("watch:list")))
    mail.outbox = []
    assert watch.send_digest(settings_row.pk) > 0, "the digest should carry the public updates"
    for message in mail.outbox:
        text += message.subject + message.body + "".join(content for content, _ in message.alternatives)
    return text


OUTPUTS = {
    "profile page (head and body)": _profile_page,
    "profile page served again after an alliance member's request": _profile_page_cached_after_a_member,
    "directory /profiles/": _directory,
    "directory search results": _directory_search,
    "home page /": _home,
    "home page served again after an alliance member's request": _home_cached_after_a_member,
    "404 page": _not_found_page,
    "500 page": _server_error_page,
    "admin index for non-staff": _admin_index,
    "admin briefing/evidence/watchpoint pages for non-staff": _admin_briefing_change_page,
    "membership pages": _membership_pages,
    "RSS, Atom, per-profile and per-sector feeds": _feeds,
    "sitemap.xml and robots.txt": _sitemap_and_robots,
    "dependency map page": _map_page,
    "changelog page": _changelog_page,
    "watchlist page and digest e-mail": _watchlist_and_digest,
}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("reader", list(LOCKED_OUT))
def test_locked_text_is_absent(output, reader, profile, secret, settings):
    settings.BTW_REQUIRE_STAFF_MFA = reader in NEEDS_MFA_SETTING
    text = OUTPUTS[output](client_for(LOCKED_OUT[reader]), profile)
    assert secret not in text, f"{output} leaks members-only text to the {reader} reader"


@pytest.mark.parametrize("reader", list(LOCKED_OUT))
def test_searching_for_locked_words_finds_nothing(reader, profile, secret, settings):
    settings.BTW_REQUIRE_STAFF_MFA = reader in NEEDS_MFA_SETTING
    """Briefings and members-only evidence are never indexed, so their words find no profile."""
    response = client_for(LOCKED_OUT[reader]).get(reverse("profiles:directory"), {"q": secret})
    assert response.status_code == 200
    assert list(response.context["profiles"]) == []


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("reader", list(ALLOWED))
def test_locked_text_is_present_for_readers_of_the_tier(reader, profile, secret):
    html = _profile_page(client_for(ALLOWED[reader]), profile)
    for planted in (
        f"Alliance body {secret}",
        f"Alliance notes {secret}",
        f"Evidence claim {secret}",
        f"Watch for {secret}",
    ):
        assert planted in html, f"{reader} should read: {planted}"


@pytest.mark.urls(__name__)
def test_profile_page_for_a_locked_out_reader_still_names_the_locked_briefing(profile, secret):
    html = _profile_page(client_for(strategic_member), profile)
    assert "Alliance context" in html and "Only for Leadership Alliance" in html
    assert "Circle body, no secret here." in html  # the Strategic Circle briefing is open to them


@pytest.mark.urls(__name__)
def test_reader_dependent_pages_are_never_shared_by_caches(profile):
    url = reverse("profiles:detail", kwargs={"slug": profile.slug})
    member = Client()
    member.force_login(strategic_member())
    response = member.get(url)
    assert "private" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]
    assert "Cookie" in Client().get(url)["Vary"]


def test_error_view_loads_the_secret_it_must_not_show(profile, secret):
    """Guards the 500 case above: the failing view really does hold the secret when it breaks."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with pytest.raises(RuntimeError, match=secret):
        _view_that_fails(request, profile.slug)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("end", ["lapse", "revoke"])
def test_ended_membership_locks_the_profile_on_the_next_page_view(profile, secret, end):
    """No cache (page, fragment or Reader) may keep a briefing open after the membership ends."""
    from membership import services
    from membership.models import Membership

    from .factories_membership import moderator

    member = alliance_member()
    client = Client()
    client.force_login(member)
    assert secret in _profile_page(client, profile)
    membership = Membership.objects.get(user=member, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    if end == "lapse":
        services.lapse_membership(membership=membership)
    else:
        services.revoke_membership(membership=membership, by=moderator())
    html = _profile_page(client, profile)
    assert secret not in html
    assert "Circle body, no secret here." in html  # still a Strategic Circle member


# --- unpublished profiles: their names and every relationship to them are locked for every reader -------


@pytest.fixture
def unpublished_secret():
    return f"UNPUBLISHED{uuid.uuid4().hex}"


@pytest.fixture
def unpublished(profile, unpublished_secret):
    """A draft and a scheduled profile tied to the published one by approved relationships both ways,
    and linked from it ("Also read"). Readers must learn nothing of them."""
    draft = InstitutionFactory(
        name=f"Draft {unpublished_secret}", slug="leak-draft", status=Institution.Status.DRAFT, published_at=None
    )
    scheduled = InstitutionFactory(
        name=f"Scheduled {unpublished_secret}",
        slug="leak-scheduled",
        published_at=timezone.now() + timezone.timedelta(days=30),
    )
    now = timezone.now()
    RelationshipFactory(source=profile, target=draft, description=f"Tie to the draft {unpublished_secret}",
                        reviewed_at=now)
    RelationshipFactory(source=scheduled, target=profile, kind="depends-on",
                        description=f"Tie from the scheduled {unpublished_secret}", reviewed_at=now)
    RelatedLink.objects.create(institution=profile, target=draft, order=1)
    return draft, scheduled


NO_UNPUBLISHED_NAMES = {**LOCKED_OUT, "Leadership Alliance member": alliance_member}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("reader", list(NO_UNPUBLISHED_NAMES))
def test_unpublished_profiles_are_named_in_no_output(
    output, reader, profile, unpublished, unpublished_secret, settings
):
    settings.BTW_REQUIRE_STAFF_MFA = reader in NEEDS_MFA_SETTING
    text = OUTPUTS[output](client_for(NO_UNPUBLISHED_NAMES[reader]), profile)
    assert unpublished_secret not in text, f"{output} names an unpublished profile to the {reader} reader"


@pytest.mark.urls(__name__)
def test_staff_see_ties_to_unpublished_profiles_marked_as_such(profile, unpublished, unpublished_secret):
    draft, _ = unpublished
    client = client_for(StaffFactory)
    assert f"Draft {unpublished_secret}" in _profile_page(client, profile)  # the "Also read" link
    assert f"Tie to the draft {unpublished_secret}" in _map_page(client, draft)  # the draft's preview


@pytest.mark.urls(__name__)
def test_published_ties_are_named_to_readers(profile, unpublished, unpublished_secret):
    """The twin: once the draft is published, its name reaches readers through the same outputs."""
    draft, _ = unpublished
    Institution.objects.filter(pk=draft.pk).update(
        status=Institution.Status.PUBLISHED, published_at=timezone.now() - timezone.timedelta(hours=1)
    )
    client = client_for(strategic_member)
    assert f"Tie to the draft {unpublished_secret}" in _map_page(client, profile)
    assert f"Tie to the draft {unpublished_secret}" in _watchlist_and_digest(client, profile)


# --- evidence waiting for review: only staff with full sight see it, marked "pending review" --------------


@pytest.fixture
def pending_secret():
    return f"PENDING{uuid.uuid4().hex}"


@pytest.fixture
def pending(profile, pending_secret):
    """A submitted (not yet approved) public source of the published profile, cited in its body."""
    item = EvidenceItemFactory(
        institution=profile,
        title=f"Pending title {pending_secret}",
        claim=f"Pending claim {pending_secret}",
        quote=f"Pending quote {pending_secret}",
        url=f"https://news.example.org/{pending_secret}",
        review_state="submitted",
    )
    Institution.objects.filter(pk=profile.pk).update(body=f"Capacity doubled [^ev:{item.pk}].")
    return item


def _profile_page_after_a_staff_preview(client, profile):
    """A staff preview (full sight, pending items listed) must leave nothing for the next reader."""
    url = reverse("profiles:detail", kwargs={"slug": profile.slug})
    staff = Client()
    staff.force_login(StaffFactory())
    with override_settings(BTW_REQUIRE_STAFF_MFA=False):  # this staff member reads with full sight
        assert "Pending review" in staff.get(url).content.decode()
    return full_text(client.get(url))


def _profile_page_as_tier_previews(client, profile):
    """Staff previewing "as a tier" read as that tier: no pending item either."""
    url = reverse("profiles:detail", kwargs={"slug": profile.slug})
    staff = Client()
    staff.force_login(StaffFactory())
    with override_settings(BTW_REQUIRE_STAFF_MFA=False):
        return "".join(
            full_text(staff.get(url, {"as_tier": slug}))
            for slug in (Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG)
        )


PENDING_OUTPUTS = {
    **OUTPUTS,
    "profile page after a staff preview": _profile_page_after_a_staff_preview,
    "staff 'view as tier' previews": _profile_page_as_tier_previews,
}
PENDING_LOCKED_OUT = {**LOCKED_OUT, "Leadership Alliance member": alliance_member}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("output", list(PENDING_OUTPUTS))
@pytest.mark.parametrize("reader", list(PENDING_LOCKED_OUT))
def test_pending_evidence_is_absent_for_every_reader(output, reader, profile, pending, pending_secret, settings):
    settings.BTW_REQUIRE_STAFF_MFA = reader in NEEDS_MFA_SETTING
    text = PENDING_OUTPUTS[output](client_for(PENDING_LOCKED_OUT[reader]), profile)
    assert pending_secret not in text, f"{output} shows evidence waiting for review to the {reader} reader"


@pytest.mark.urls(__name__)
def test_pending_evidence_is_present_and_marked_in_the_staff_preview(profile, pending, pending_secret):
    html = _profile_page(client_for(StaffFactory), profile)
    assert f"Pending title {pending_secret}" in html and f"Pending claim {pending_secret}" in html
    assert "Pending review" in html
    assert f'href="#evidence-{pending.pk}"' in html  # its citation resolves in the preview
