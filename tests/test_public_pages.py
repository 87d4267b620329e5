"""The public reader pages, through the test client: what each reader may and may not see."""

import datetime
import json
import re
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from membership.models import Tier
from profiles.models import EvidenceItem, Institution, Relationship, Watchpoint
from profiles.views import server_error

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelatedLinkFactory,
    RelationshipFactory,
    SectorFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)
from .factories_pages import full_profile

pytestmark = pytest.mark.django_db

SC, LA = Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG


class Outline(HTMLParser):
    """Collects headings, form controls and labels of a page."""

    def __init__(self):
        super().__init__()
        self.headings: list[tuple[int, str]] = []
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.landmarks: set[str] = set()
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [int(tag[1]), ""]
        if tag in {"input", "select", "textarea"} and attrs.get("type") not in {"hidden", "submit"}:
            self.controls.append(attrs)
        if tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        if tag in {"header", "nav", "main", "footer"}:
            self.landmarks.add(tag)

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data

    def handle_endtag(self, tag):
        if self._heading is not None and re.fullmatch(r"h[1-6]", tag):
            self.headings.append((self._heading[0], " ".join(self._heading[1].split())))
            self._heading = None


def outline(response) -> Outline:
    parser = Outline()
    parser.feed(response.content.decode())
    return parser


def section_titles(response) -> list[str]:
    return [text for level, text in outline(response).headings if level == 2]


def get(client, institution, **params):
    return client.get(institution.get_absolute_url(), params)


JSON_LD = re.compile(r'<script type="application/ld\+json">.*?</script>', re.DOTALL)


#: The site's own script files (CSP script-src 'self'), e.g. the contents' current-section marker.
OWN_SCRIPT_FILES = re.compile(r'<script src="/static/[\w/.-]+" defer></script>')


def without_json_ld(body: str) -> str:
    """The page minus its JSON-LD block: data for search engines, never run as code."""
    return JSON_LD.sub("", body)


# ---------------------------------------------------------------------------------------------
# Who may open a profile
# ---------------------------------------------------------------------------------------------


def test_published_profile_is_open_to_anonymous_readers(client):
    institution = InstitutionFactory(name="Open Exchange")
    response = get(client, institution)
    assert response.status_code == 200
    assert "Open Exchange" in response.content.decode()
    assert "Preview — not public" not in response.content.decode()


def test_unknown_slug_is_404(client):
    assert client.get(reverse("profiles:detail", args=["no-such-profile"])).status_code == 404
    assert client.get(reverse("profiles:map", args=["no-such-profile"])).status_code == 404


@pytest.mark.parametrize("reader", ["anonymous", "member", "alliance"])
def test_draft_profile_is_404_for_readers(client, member_client, reader):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None, name="Secret Draft Co")
    if reader != "anonymous":
        client = member_client(SC if reader == "member" else LA)
    response = get(client, draft)
    assert response.status_code == 404
    assert "Secret Draft Co" not in response.content.decode()
    assert client.get(reverse("profiles:map", args=[draft.slug])).status_code == 404


def test_archived_profile_is_404_for_readers(client):
    archived = InstitutionFactory(status=Institution.Status.ARCHIVED)
    assert get(client, archived).status_code == 404


def test_scheduled_profile_is_404_until_its_time(client):
    goes_live = timezone.now() + datetime.timedelta(hours=2)
    scheduled = InstitutionFactory(published_at=goes_live)
    assert get(client, scheduled).status_code == 404
    with mock.patch("django.utils.timezone.now", return_value=goes_live + datetime.timedelta(minutes=1)):
        assert get(client, scheduled).status_code == 200


def test_404_page_is_in_the_site_look_and_names_nothing(client):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None, name="Hidden Name Ltd")
    response = get(client, draft)
    body = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in body and 'class="site-header"' in body
    assert "Hidden Name Ltd" not in body and draft.slug not in body


def test_500_page_renders_without_a_request_context_or_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Staff preview
# ---------------------------------------------------------------------------------------------


def test_staff_preview_shows_banner(client, staff_factory):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None, name="Draft Exchange")
    client.force_login(staff_factory())
    response = get(client, draft)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Preview — not public" in body and "Status: Draft" in body
    assert '<meta name="robots" content="noindex, nofollow">' in body
    assert "private" in response["Cache-Control"]


def test_staff_preview_of_scheduled_profile_says_when_it_goes_live(client, staff_factory):
    goes_live = timezone.now() + datetime.timedelta(days=3)
    scheduled = InstitutionFactory(published_at=goes_live)
    client.force_login(staff_factory())
    body = get(client, scheduled).content.decode()
    assert "Preview — not public" in body and "Status: Scheduled" in body
    assert goes_live.isoformat()[:16] in body  # the <time datetime="…"> of the scheduled moment


def test_staff_see_view_as_tier_switch_and_readers_do_not(client, staff_factory):
    institution = InstitutionFactory()
    assert "View as:" not in get(client, institution).content.decode()
    client.force_login(staff_factory())
    body = get(client, institution).content.decode()
    for slug in ["public", SC, LA]:
        assert f"?as_tier={slug}" in body
    assert "Staff view" in body and "Preview — not public" not in body


def test_staff_view_as_tier_shows_what_that_tier_sees(client, staff_factory):
    institution = InstitutionFactory()
    BriefingFactory(institution=institution, title="Circle brief", body="CIRCLE-BODY-71", required_tier=tier(SC))
    client.force_login(staff_factory())
    assert "CIRCLE-BODY-71" in get(client, institution).content.decode()
    as_public = get(client, institution, as_tier="public").content.decode()
    assert "CIRCLE-BODY-71" not in as_public and "Circle brief" in as_public
    assert "CIRCLE-BODY-71" in get(client, institution, as_tier=SC).content.decode()


def test_as_tier_is_ignored_for_readers(client, member_client):
    institution = InstitutionFactory()
    BriefingFactory(institution=institution, body="ALLIANCE-BODY-5", required_tier=tier(LA))
    client = member_client(SC)
    assert "ALLIANCE-BODY-5" not in get(client, institution, as_tier=LA).content.decode()


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------

REFERENCE_SECTIONS = [
    "Key points",
    "At a glance",
    "What happened",
    "Also read",
    "Domain of operation",
    "Timeline",
    "What it does",
    "Why it matters",
    "What to watch",
    "Deeper profile context",
    "Public view",
    "Watchpoints",
    "Dependencies",
    "Caveats",
    "FAQ",
    "Sources",
]


def test_profile_shows_every_section_of_the_reference_page(client):
    institution = full_profile(3)
    response = get(client, institution)
    titles = section_titles(response)
    for title in REFERENCE_SECTIONS:
        assert title in titles, title
    body = response.content.decode()
    assert "Member briefing" in body and "Last updated" in body
    assert "Operational criticality" in body and "Time horizon" in body and "Profile focus" in body


def test_body_sections_follow_the_reading_order(client):
    titles = section_titles(get(client, full_profile(2)))
    body_order = [t for t in REFERENCE_SECTIONS if t not in {"Key points", "At a glance"}]
    positions = [titles.index(t) for t in body_order]
    assert positions == sorted(positions)
    assert titles.index("Key points") < titles.index("What happened")


def test_empty_sections_are_omitted(client):
    institution = InstitutionFactory(what_it_does="", why_it_matters="")
    body = get(client, institution).content.decode()
    titles = section_titles(get(client, institution))
    for title in [
        "Key points", "What happened", "Also read", "Domain of operation", "Timeline", "What it does",
        "What to watch", "Deeper profile context", "Public view", "Watchpoints", "Dependencies", "Caveats",
        "FAQ", "Sources",
    ]:
        assert title not in titles, title
        assert f">{title}<" not in body
    assert titles[:1] == ["At a glance"]
    assert 'id="sources"' not in body and 'href="#sources"' not in body


def test_key_points_and_caveats_render_one_bullet_per_line(client):
    institution = InstitutionFactory(
        key_points="- Point **one**\n\n- Point two\n", caveats="First caveat\nSecond caveat"
    )
    body = get(client, institution).content.decode()
    assert "<li>Point <strong>one</strong></li><li>Point two</li>" in body
    assert "<li>First caveat</li><li>Second caveat</li>" in body


def test_analyst_text_is_sanitised_on_the_page(client):
    institution = InstitutionFactory(
        body="Story <script>alert('body')</script> [x](javascript:alert(1))",
        key_points="<img src=x onerror=alert(1)> point",
    )
    FAQItemFactory(institution=institution, answer='<iframe src="https://evil.example/"></iframe>Answer')
    body = without_json_ld(get(client, institution).content.decode())
    assert "<script" not in OWN_SCRIPT_FILES.sub("", body)
    assert "onerror" not in body and "javascript:" not in body and "<iframe" not in body


def test_profile_page_needs_no_inline_style_or_script(client):
    body = get(client, full_profile(2)).content.decode()
    assert body.count('<script type="application/ld+json">') == 1  # data, not code: CSP never runs it
    assert "<script" not in OWN_SCRIPT_FILES.sub("", without_json_ld(body))  # no inline script
    assert " style=" not in body


def test_faq_items_keep_their_order(client):
    institution = InstitutionFactory()
    FAQItemFactory(institution=institution, question="Second question?", order=2)
    FAQItemFactory(institution=institution, question="First question?", order=1)
    body = get(client, institution).content.decode()
    assert body.index("First question?") < body.index("Second question?")


# ---------------------------------------------------------------------------------------------
# Evidence, timeline and links
# ---------------------------------------------------------------------------------------------


def test_unapproved_evidence_not_listed(client):
    institution = InstitutionFactory()
    EvidenceItemFactory(institution=institution, title="Approved story")
    for state in [EvidenceItem.Review.SUBMITTED, EvidenceItem.Review.REJECTED, EvidenceItem.Review.RETRACTED]:
        EvidenceItemFactory(institution=institution, title=f"{state} story", review_state=state)
    body = get(client, institution).content.decode()
    assert "Approved story" in body
    for state in ["submitted", "rejected", "retracted"]:
        assert f"{state} story" not in body


def test_members_only_evidence_hidden_from_anonymous(client):
    institution = InstitutionFactory()
    EvidenceItemFactory(institution=institution, title="Circle-only filing", url="https://x.example.org/circle",
                        required_tier=tier(SC))
    body = get(client, institution).content.decode()
    assert "Circle-only filing" not in body and "x.example.org/circle" not in body


def test_members_only_evidence_shown_to_members_of_that_tier(client, member_client):
    institution = InstitutionFactory()
    EvidenceItemFactory(institution=institution, title="Circle-only filing", required_tier=tier(SC))
    EvidenceItemFactory(institution=institution, title="Alliance-only filing", required_tier=tier(LA))
    body = get(member_client(SC), institution).content.decode()
    assert "Circle-only filing" in body and "Alliance-only filing" not in body


def test_source_links_are_nofollow_noopener(client):
    item = EvidenceItemFactory(url="https://news.example.org/the-story", publisher="Example Wire")
    body = get(client, item.institution).content.decode()
    assert '<a href="https://news.example.org/the-story" rel="nofollow noopener">' in body
    assert "Example Wire" in body and 'id="evidence-' in body


def test_timeline_cites_evidence_only_when_visible_to_the_reader(client, member_client):
    institution = InstitutionFactory()
    public = EvidenceItemFactory(institution=institution, publisher="Open Wire")
    pending = EvidenceItemFactory(institution=institution, publisher="Pending Wire",
                                  review_state=EvidenceItem.Review.SUBMITTED)
    members = EvidenceItemFactory(institution=institution, publisher="Circle Wire", required_tier=tier(SC))
    for k, evidence in enumerate([public, pending, members]):
        TimelineEventFactory(institution=institution, title=f"Timeline entry {k}", evidence=evidence)
    body = get(client, institution).content.decode()
    assert f'href="#evidence-{public.pk}"' in body
    assert f'href="#evidence-{pending.pk}"' not in body and "Pending Wire" not in body
    assert f'href="#evidence-{members.pk}"' not in body and "Circle Wire" not in body
    assert "Timeline entry 2" in body  # the event itself is public; only its source is withheld
    assert f'href="#evidence-{members.pk}"' in get(member_client(SC), institution).content.decode()


def test_also_read_omits_links_to_unpublished_profiles(client):
    institution = InstitutionFactory()
    live = InstitutionFactory(name="Live Neighbour")
    draft = InstitutionFactory(name="Draft Neighbour", status=Institution.Status.DRAFT, published_at=None)
    RelatedLinkFactory(institution=institution, title="", url="", target=live)
    RelatedLinkFactory(institution=institution, title="", url="", target=draft)
    RelatedLinkFactory(institution=institution, title="Outside story", url="https://elsewhere.example.org/a")
    body = get(client, institution).content.decode()
    assert f'href="{live.get_absolute_url()}">Live Neighbour</a>' in body
    assert "Draft Neighbour" not in body and draft.slug not in body
    assert '<a href="https://elsewhere.example.org/a" rel="nofollow noopener">Outside story</a>' in body


# ---------------------------------------------------------------------------------------------
# Gated blocks
# ---------------------------------------------------------------------------------------------

SECRET_BODY = "SECRET-BODY-b7e1c9"
SECRET_NOTES = "SECRET-NOTES-4d20aa"


@pytest.mark.parametrize(
    ("reader", "sees_secret"),
    [("anonymous", False), ("member", False), ("alliance", True), ("staff", True)],
)
def test_locked_briefing_shows_title_and_call_to_action_not_body(
    client, member_client, staff_factory, reader, sees_secret
):
    institution = InstitutionFactory()
    BriefingFactory(
        institution=institution,
        title="Alliance supply-chain read",
        body=f"The body holds {SECRET_BODY}.",
        source_notes=f"Notes hold {SECRET_NOTES}.",
        required_tier=tier(LA),
    )
    if reader == "member":
        client = member_client(SC)
    elif reader == "alliance":
        client = member_client(LA)
    elif reader == "staff":
        client.force_login(staff_factory())
    body = get(client, institution).content.decode()
    assert "Alliance supply-chain read" in body
    assert (SECRET_BODY in body) is sees_secret
    assert (SECRET_NOTES in body) is sees_secret
    assert ("Only for Leadership Alliance" in body) is not sees_secret
    if not sees_secret:
        assert "locked-block" in body and ('href="/accounts/signup/' in body or "/membership/apply/" in body)


def test_strategic_circle_briefing_opens_for_members(client, member_client):
    institution = InstitutionFactory()
    BriefingFactory(institution=institution, body=SECRET_BODY, source_notes=SECRET_NOTES, required_tier=tier(SC))
    assert SECRET_BODY not in get(client, institution).content.decode()
    body = get(member_client(SC), institution).content.decode()
    assert SECRET_BODY in body and SECRET_NOTES in body and "Source notes" in body


def test_members_only_watchpoint_is_locked_for_anonymous_and_open_for_members(client, member_client):
    institution = InstitutionFactory()
    WatchpointFactory(institution=institution, text="Public watch item.")
    WatchpointFactory(institution=institution, text="WATCH-SECRET-9f acquisition talk.", required_tier=tier(SC))
    body = get(client, institution).content.decode()
    assert "Public watch item." in body
    assert "WATCH-SECRET-9f" not in body and "Only for Strategic Circle" in body
    assert "WATCH-SECRET-9f" in get(member_client(SC), institution).content.decode()


def test_triggered_watchpoint_shows_its_date_note_and_only_a_visible_source(client, member_client):
    institution = InstitutionFactory()
    members_source = EvidenceItemFactory(institution=institution, publisher="Circle Wire", required_tier=tier(SC))
    WatchpointFactory(
        institution=institution, text="Watch the first order.", status=Watchpoint.Status.TRIGGERED,
        triggered_at=datetime.date(2025, 12, 1), status_note="A first order was **announced**.",
        evidence=members_source,
    )
    body = get(client, institution).content.decode()
    assert "Triggered" in body and 'datetime="2025-12-01"' in body
    assert "A first order was <strong>announced</strong>." in body
    assert f'href="#evidence-{members_source.pk}"' not in body
    assert f'href="#evidence-{members_source.pk}"' in get(member_client(SC), institution).content.decode()


def test_closed_watchpoints_are_not_listed(client):
    institution = InstitutionFactory()
    WatchpointFactory(institution=institution, text="Old closed item.", status=Watchpoint.Status.CLOSED)
    body = get(client, institution).content.decode()
    assert "Old closed item." not in body and "Watchpoints" not in section_titles(get(client, institution))


# ---------------------------------------------------------------------------------------------
# Relationships and map
# ---------------------------------------------------------------------------------------------


def test_dependencies_summary_lists_approved_ties_both_ways(client):
    institution = InstitutionFactory()
    upstream = InstitutionFactory(name="Upstream Power")
    downstream = InstitutionFactory(name="Downstream Cloud")
    pending = InstitutionFactory(name="Pending Partner")
    RelationshipFactory(source=institution, target=upstream, kind=Relationship.Kind.DEPENDS_ON)
    RelationshipFactory(source=downstream, target=institution, kind=Relationship.Kind.DEPENDS_ON)
    RelationshipFactory(source=institution, target=pending, kind=Relationship.Kind.DEPENDS_ON,
                        review_state=Relationship.Review.SUBMITTED)
    body = get(client, institution).content.decode()
    assert "Depends on" in body and "Upstream Power" in body
    assert "Depended on by" in body and "Downstream Cloud" in body
    assert "Pending Partner" not in body


def test_map_lists_approved_relationships_in_both_directions(client):
    institution = InstitutionFactory(name="Hub")
    RelationshipFactory(source=institution, target=InstitutionFactory(name="Supplier A"),
                        kind=Relationship.Kind.DEPENDS_ON, description="Racks and cabling.")
    RelationshipFactory(source=InstitutionFactory(name="Investor B"), target=institution,
                        kind=Relationship.Kind.INVESTOR)
    RelationshipFactory(source=institution, target=InstitutionFactory(name="Rejected C"),
                        review_state=Relationship.Review.REJECTED)
    RelationshipFactory(source=institution, target=InstitutionFactory(
        name="Draft D", status=Institution.Status.DRAFT, published_at=None))
    response = client.get(reverse("profiles:map", args=[institution.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Supplier A" in body and "Racks and cabling." in body and "Depends on" in body
    assert "Investor B" in body and "Investor in" in body
    assert "Rejected C" not in body and "Draft D" not in body
    assert [h for h in outline(response).headings if h[0] == 1] == [(1, "Relationship map")]


# ---------------------------------------------------------------------------------------------
# Home and directory
# ---------------------------------------------------------------------------------------------


def test_home_lists_recently_updated_published_profiles_and_the_tiers(client):
    now = timezone.now()
    InstitutionFactory(name="Older Profile", public_updated_at=now - datetime.timedelta(days=5))
    InstitutionFactory(name="Newer Profile", public_updated_at=now - datetime.timedelta(days=1))
    InstitutionFactory(name="Draft Profile", status=Institution.Status.DRAFT, published_at=None)
    InstitutionFactory(name="Scheduled Profile", published_at=now + datetime.timedelta(days=1))
    body = client.get(reverse("home")).content.decode()
    assert body.index("Newer Profile") < body.index("Older Profile")
    assert "Draft Profile" not in body and "Scheduled Profile" not in body
    assert "Strategic Circle" in body and "Leadership Alliance" in body
    assert f'href="{reverse("membership:tiers")}"' in body


def test_directory_lists_only_published_profiles_newest_update_first(client):
    now = timezone.now()
    InstitutionFactory(name="Alpha Old", public_updated_at=now - datetime.timedelta(days=3))
    InstitutionFactory(name="Beta New", public_updated_at=now - datetime.timedelta(hours=1))
    InstitutionFactory(name="Gamma Draft", status=Institution.Status.DRAFT, published_at=None)
    InstitutionFactory(name="Delta Archived", status=Institution.Status.ARCHIVED)
    body = client.get(reverse("profiles:directory")).content.decode()
    assert body.index("Beta New") < body.index("Alpha Old")
    assert "Gamma Draft" not in body and "Delta Archived" not in body
    assert "2 profiles" in body


def test_directory_filters_combine(client):
    cloud = SectorFactory(name="Cloud", slug="cloud")
    match = InstitutionFactory(name="Match Me", type=Institution.Type.EXCHANGE, base_region=Institution.Region.EUROPE,
                               criticality=Institution.Criticality.HIGH, time_horizon=Institution.Horizon.NOW)
    match.sectors.add(cloud)
    wrong_region = InstitutionFactory(name="Wrong Region", type=Institution.Type.EXCHANGE,
                                      criticality=Institution.Criticality.HIGH, time_horizon=Institution.Horizon.NOW)
    wrong_region.sectors.add(cloud)
    InstitutionFactory(name="No Sector", type=Institution.Type.EXCHANGE, base_region=Institution.Region.EUROPE,
                       criticality=Institution.Criticality.HIGH, time_horizon=Institution.Horizon.NOW)
    response = client.get(reverse("profiles:directory"), {
        "type": "exchange", "region": "europe", "criticality": "high", "horizon": "now", "sector": "cloud",
    })
    body = response.content.decode()
    assert "Match Me" in body and "Wrong Region" not in body and "No Sector" not in body
    assert '<option value="europe" selected>' in body and '<option value="cloud" selected>' in body


def test_directory_text_query_matches_name_or_summary(client):
    InstitutionFactory(name="Subsea Cable Consortium", dek="Operates a cable.")
    InstitutionFactory(name="Plain Registry", dek="Runs the subsea registry of landing stations.")
    InstitutionFactory(name="Unrelated Exchange", dek="Peering in Frankfurt.")
    body = client.get(reverse("profiles:directory"), {"q": "subsea"}).content.decode()
    assert "Subsea Cable Consortium" in body and "Plain Registry" in body and "Unrelated Exchange" not in body


@pytest.mark.parametrize(
    "params",
    [
        {"type": "not-a-type"},
        {"region": "<script>alert(1)</script>"},
        {"criticality": "'; DROP TABLE profiles_institution; --"},
        {"horizon": "9" * 500},
        {"sector": "no-such-sector"},
        {"sector": "../../etc/passwd"},
        {"page": "abc"},
        {"page": "-1"},
        {"page": "99999"},
        {"q": "\x00\x01 weird \u202e"},
        {"type": ["bogus", "worse"]},
        {"criticality[]": "high", "region": ""},
    ],
)
def test_malformed_filter_values_are_ignored(client, params):
    InstitutionFactory(name="Still Listed")
    response = client.get(reverse("profiles:directory"), params)
    assert response.status_code == 200
    if "q" not in params:
        assert "Still Listed" in response.content.decode()
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_directory_pages_hold_twenty_and_an_out_of_range_page_shows_the_last(client):
    now = timezone.now()
    for k in range(25):
        InstitutionFactory(name=f"Listed {k:02d}", public_updated_at=now - datetime.timedelta(minutes=k))
    first = client.get(reverse("profiles:directory")).content.decode()
    assert first.count('class="card profile-card"') == 20 and "Page 1 of 2" in first
    assert "Listed 00" in first and "Listed 20" not in first
    last = client.get(reverse("profiles:directory"), {"page": 7}).content.decode()
    assert last.count('class="card profile-card"') == 5 and "Page 2 of 2" in last


def test_directory_pagination_keeps_the_filters(client):
    for _ in range(21):
        InstitutionFactory(type=Institution.Type.REGISTRY)
    body = client.get(reverse("profiles:directory"), {"type": "registry"}).content.decode()
    assert 'href="?type=registry&amp;page=2"' in body


def test_directory_filter_controls_are_labelled(client):
    SectorFactory(name="Cloud", slug="cloud")
    page = outline(client.get(reverse("profiles:directory")))
    names = {control.get("name") for control in page.controls}
    assert {"q", "type", "region", "criticality", "horizon", "sector"} <= names
    for control in page.controls:
        assert control.get("id") in page.label_for, control


# ---------------------------------------------------------------------------------------------
# Structure and accessibility
# ---------------------------------------------------------------------------------------------


def test_one_h1_on_profile_page(client):
    response = get(client, full_profile(2, body="# Analyst heading\n\nText.\n\n<h1>Raw heading</h1>"))
    assert [text for level, text in outline(response).headings if level == 1] == [response.context["object"].name]


@pytest.mark.parametrize("url_name", ["home", "profiles:directory"])
def test_one_h1_on_listing_pages(client, url_name):
    InstitutionFactory()
    assert len([1 for level, _ in outline(client.get(reverse(url_name))).headings if level == 1]) == 1


@pytest.mark.parametrize("reader", ["anonymous", "member"])
def test_profile_headings_never_skip_a_level(client, member_client, reader):
    if reader == "member":
        client = member_client(SC)
    levels = [level for level, _ in outline(get(client, full_profile(3))).headings]
    assert levels[0] == 1
    for previous, current in zip(levels, levels[1:], strict=False):
        assert current <= previous + 1, levels


def test_pages_have_landmarks_and_a_skip_link(client):
    institution = InstitutionFactory()
    for url in [reverse("home"), reverse("profiles:directory"), institution.get_absolute_url()]:
        response = client.get(url)
        assert {"header", "nav", "main", "footer"} <= outline(response).landmarks
        assert '<a class="skip-link" href="#main">' in response.content.decode()


def test_profile_meta_description_is_the_public_dek_only(client):
    institution = InstitutionFactory(dek="A short public summary.")
    BriefingFactory(institution=institution, body=SECRET_BODY, required_tier=tier(SC))
    body = get(client, institution).content.decode()
    assert '<meta name="description" content="A short public summary.">' in body
    assert '<meta property="og:description" content="A short public summary.">' in body
    assert SECRET_BODY not in body


# ---------------------------------------------------------------------------------------------
# Health check
# ---------------------------------------------------------------------------------------------


def test_healthz_reports_database_and_cache_ok(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert json.loads(response.content) == {"database": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]


def test_healthz_is_503_when_the_cache_fails(client):
    with mock.patch("profiles.views.cache.set", side_effect=ConnectionError("redis down")):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert json.loads(response.content) == {"database": "ok", "cache": "error"}


def test_healthz_is_503_when_the_cache_loses_writes(client):
    with mock.patch("profiles.views.cache.get", return_value=None):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert json.loads(response.content)["cache"] == "error"


def test_healthz_is_503_when_the_database_fails(client):
    with mock.patch("profiles.views.connection.cursor", side_effect=RuntimeError("db down")):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert json.loads(response.content) == {"database": "error", "cache": "ok"}
