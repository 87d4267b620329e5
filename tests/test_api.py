"""The read API (/api/v1/): what each endpoint shows, its filters and pages, HTTP caching, bad input,
and query budgets that hold with 1 and with 200 rows."""

import datetime
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openapi_spec_validator import validate

from membership.models import Tier
from profiles.models import Identifier, Institution

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    IdentifierFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    StaffFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import alliance_member, strategic_member
from .factories_pages import full_profile, published_profiles

pytestmark = pytest.mark.django_db

RESOURCES = ["institutions", "evidence", "relationships", "watchpoints", "timeline", "sectors", "tiers"]


def get(client, url, **params):
    response = client.get(url, params)
    assert response["Content-Type"].startswith("application/json"), url
    return response


def crawl(client, url) -> list[dict]:
    """Every row of a list, following its cursor pages."""
    rows = []
    while url:
        page = get(client, url).json()
        rows += page["results"]
        url = page["next"]
    return rows


@pytest.fixture
def api(client):
    return client


# --- what the endpoints show -------------------------------------------------------------------------------

def test_a_published_profile_is_listed_and_readable_whole(api):
    institution = InstitutionFactory(body="Built with partners [^ev:999999].")
    institution.sectors.add(SectorFactory(slug="ai-compute"))
    IdentifierFactory(institution=institution, scheme=Identifier.Scheme.ASN, value="13335")
    listed = crawl(api, "/api/v1/institutions/")
    assert [row["slug"] for row in listed] == [institution.slug]
    assert listed[0]["sectors"] == ["ai-compute"]
    assert listed[0]["identifiers"][0]["value"] == "13335"
    whole = get(api, f"/api/v1/institutions/{institution.slug}/").json()
    assert whole["name"] == institution.name
    assert whole["body"] == "Built with partners."  # a citation the reader cannot see vanishes


@pytest.mark.parametrize("status", ["draft", "archived", "scheduled"])
def test_a_profile_readers_cannot_see_is_absent_everywhere(api, status):
    published_at = timezone.now() + datetime.timedelta(days=3) if status == "scheduled" else timezone.now()
    hidden = InstitutionFactory(
        status=Institution.Status.DRAFT if status == "draft" else (
            Institution.Status.ARCHIVED if status == "archived" else Institution.Status.PUBLISHED),
        published_at=published_at,
    )
    EvidenceItemFactory(institution=hidden)
    RelationshipFactory(source=InstitutionFactory(), target=hidden)
    assert get(api, f"/api/v1/institutions/{hidden.slug}/").status_code == 404
    for resource in ("institutions", "evidence", "relationships"):
        assert hidden.slug not in json.dumps(crawl(api, f"/api/v1/{resource}/"))


def test_staff_read_the_api_at_their_membership_level_never_drafts(settings):
    settings.BTW_REQUIRE_STAFF_MFA = False  # staff sight everywhere else: the API still never gives it
    draft = InstitutionFactory(status=Institution.Status.DRAFT)
    pending = EvidenceItemFactory(institution=InstitutionFactory(), review_state="submitted")
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    assert get(client, f"/api/v1/institutions/{draft.slug}/").status_code == 404
    assert get(client, f"/api/v1/evidence/{pending.pk}/").status_code == 404


def test_evidence_opens_by_tier(api):
    institution = InstitutionFactory()
    public = EvidenceItemFactory(institution=institution)
    circle = EvidenceItemFactory(institution=institution, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    alliance = EvidenceItemFactory(institution=institution, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    EvidenceItemFactory(institution=institution, review_state="submitted")
    ids = lambda client: {row["id"] for row in crawl(client, "/api/v1/evidence/")}  # noqa: E731
    assert ids(api) == {public.pk}
    member = Client()
    member.force_login(strategic_member())
    assert ids(member) == {public.pk, circle.pk}
    member.force_login(alliance_member())
    assert ids(member) == {public.pk, circle.pk, alliance.pk}


def test_locked_briefing_comes_as_title_and_tier_only(api):
    institution = InstitutionFactory()
    BriefingFactory(institution=institution, title="Deeper context", body="Body words", source_notes="Notes words",
                    required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    briefing = get(api, f"/api/v1/institutions/{institution.slug}/").json()["briefings"][0]
    assert briefing == {"id": briefing["id"], "title": "Deeper context", "tier": "leadership-alliance",
                        "locked": True, "body": None, "source_notes": None}


def test_relationship_evidence_is_named_only_when_the_reader_may_read_it(api):
    locked = EvidenceItemFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    relationship = RelationshipFactory(source=locked.institution, evidence=locked)
    assert get(api, f"/api/v1/relationships/{relationship.pk}/").json()["evidence"] is None
    member = Client()
    member.force_login(alliance_member())
    assert get(member, f"/api/v1/relationships/{relationship.pk}/").json()["evidence"] == locked.pk


def test_watchpoints_and_timeline_list_what_the_page_shows(api):
    institution = InstitutionFactory()
    open_one = WatchpointFactory(institution=institution)
    WatchpointFactory(institution=institution, status="closed")
    WatchpointFactory(institution=institution, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    event = TimelineEventFactory(institution=institution)
    assert [row["id"] for row in crawl(api, "/api/v1/watchpoints/")] == [open_one.pk]
    assert [row["id"] for row in crawl(api, "/api/v1/timeline/")] == [event.pk]


def test_sectors_and_tiers_are_listed(api):
    SectorFactory(slug="subsea-cables")
    assert "subsea-cables" in {row["slug"] for row in crawl(api, "/api/v1/sectors/")}
    assert [row["slug"] for row in crawl(api, "/api/v1/tiers/")][:3] == [
        "public", "strategic-circle", "leadership-alliance"]


# --- filters and pages -------------------------------------------------------------------------------------

def test_identifier_filters_find_the_profile(api):
    cloudflare = InstitutionFactory()
    IdentifierFactory(institution=cloudflare, scheme=Identifier.Scheme.ASN, value="13335")
    IdentifierFactory(institution=cloudflare, scheme=Identifier.Scheme.WIKIDATA, value="Q4778915")
    InstitutionFactory()
    for params in ({"asn": "13335"}, {"asn": "AS13335"}, {"wikidata": "q4778915"}):
        assert [row["id"] for row in get(api, "/api/v1/institutions/", **params).json()["results"]] == [cloudflare.pk]


def test_directory_filters_mean_the_same_in_the_api(api):
    critical = InstitutionFactory(criticality="critical", base_region="europe")
    critical.sectors.add(SectorFactory(slug="cloud"))
    InstitutionFactory(criticality="low")
    rows = get(api, "/api/v1/institutions/", criticality="critical", region="europe", sector="cloud").json()
    assert [row["id"] for row in rows["results"]] == [critical.pk]


def test_updated_since_lists_recent_public_changes(api):
    old, new = InstitutionFactory(), InstitutionFactory()
    Institution.objects.filter(pk=old.pk).update(public_updated_at=timezone.now() - datetime.timedelta(days=30))
    Institution.objects.filter(pk=new.pk).update(public_updated_at=timezone.now())
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert [row["id"] for row in get(api, "/api/v1/institutions/", updated_since=since).json()["results"]] == [new.pk]


def test_cursor_pages_cover_every_row_once_in_stable_order(api):
    profiles = published_profiles(7)
    seen = []
    url = "/api/v1/institutions/?page_size=3"
    while url:
        page = get(api, url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(p.pk for p in profiles)


def test_page_links_use_the_site_address_not_the_host_header(api, settings):
    settings.SITE_URL = "https://profiles.example.org"
    settings.ALLOWED_HOSTS = ["*"]
    published_profiles(3)
    page = api.get("/api/v1/institutions/?page_size=1", HTTP_HOST="evil.example.com").json()
    assert page["next"].startswith("https://profiles.example.org/api/v1/institutions/")
    assert "evil" not in json.dumps(page)


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/v1/institutions/?colour=blue", 400, "colour"),
        ("/api/v1/institutions/?page_size=201", 400, "page_size"),
        ("/api/v1/institutions/?page_size=0", 400, "page_size"),
        ("/api/v1/institutions/?page_size=ten", 400, "page_size"),
        ("/api/v1/institutions/?criticality=extreme", 400, "criticality"),
        ("/api/v1/institutions/?updated_since=yesterday", 400, "updated_since"),
        ("/api/v1/institutions/?asn=AS-one", 400, "asn"),
        ("/api/v1/institutions/?lei=short", 400, "lei"),
        ("/api/v1/timeline/?after=2026-13-01", 400, "after"),
        ("/api/v1/institutions/?cursor=bz14", 404, "detail"),
        ("/api/v1/institutions/?cursor=%00%ff", 404, "detail"),
        ("/api/v1/institutions/no-such-profile/", 404, "detail"),
        ("/api/v1/evidence/not-a-number/", 404, "detail"),
        ("/api/v1/no-such-resource/", 404, "detail"),
    ],
)
def test_bad_input_gets_a_json_error_never_a_500(url, status, field):
    InstitutionFactory()
    response = Client(raise_request_exception=False).get(url)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()


# --- HTTP caching ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("resource", RESOURCES)
def test_a_conditional_request_gets_304_without_a_query(api, resource):
    InstitutionFactory()
    url = f"/api/v1/{resource}/"
    etag = get(api, url)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert len(queries) == 0


def test_an_edit_changes_the_etag(api):
    institution = InstitutionFactory()
    etag = get(api, "/api/v1/institutions/")["ETag"]
    institution.dek = "A new summary."
    institution.save()
    assert api.get("/api/v1/institutions/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_anonymous_responses_may_be_shared_member_responses_are_private(api):
    InstitutionFactory()
    anonymous = get(api, "/api/v1/institutions/")
    assert "public" in anonymous["Cache-Control"]
    member = Client()
    member.force_login(strategic_member())
    response = get(member, "/api/v1/institutions/")
    assert "private" in response["Cache-Control"]
    for header in ("Authorization", "Cookie"):
        assert header in anonymous["Vary"] and header in response["Vary"]
    assert "no-store" in Client().get("/api/v1/institutions/?colour=blue")["Cache-Control"]


def test_member_etag_differs_from_anonymous(api):
    InstitutionFactory()
    member = Client()
    member.force_login(alliance_member())
    assert get(api, "/api/v1/evidence/")["ETag"] != get(member, "/api/v1/evidence/")["ETag"]


# --- schema and docs ---------------------------------------------------------------------------------------

def test_the_openapi_schema_validates(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert {"/api/v1/institutions/", "/api/v1/changes/", "/api/v1/evidence/{id}/"} <= set(schema["paths"])
    names = {p["name"] for p in schema["paths"]["/api/v1/institutions/"]["get"]["parameters"]}
    assert {"asn", "wikidata", "sector", "q", "updated_since", "cursor", "page_size"} <= names


def test_the_docs_page_lists_every_endpoint(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    for path in ("/api/v1/institutions/", "/api/v1/changes/", "/api/v1/tiers/"):
        assert path.encode() in response.content


# --- query budgets -----------------------------------------------------------------------------------------

SIZES = [1, 200]

#: Queries of one response (anonymous): the rows, then what writing them out loads — a list of profiles
#: their sectors and identifiers; a whole profile its sectors, identifiers, FAQ, links, briefings and the
#: evidence its texts cite; relationships, watchpoints and timeline the evidence they name. A signed-in
#: member adds the user with their reader row.
LIST_BUDGET = {"institutions": 3, "evidence": 1, "relationships": 2, "watchpoints": 2, "timeline": 2,
               "sectors": 1, "tiers": 1}
DETAIL_BUDGET = 7


def _queries(client, url) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:200]
    return len(queries)


@pytest.fixture(autouse=True)
def _no_conditional_shortcut(settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 0


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("resource", list(LIST_BUDGET))
@pytest.mark.parametrize("signed_in", [False, True])
def test_list_budget_holds_with_1_and_200_rows(resource, signed_in, n, django_assert_max_num_queries):
    client = Client()
    if signed_in:
        client.force_login(alliance_member())
    full_profile(n, body="Cites [^ev:1].")
    published_profiles(n)
    budget = LIST_BUDGET[resource] + (1 if signed_in else 0)
    url = f"/api/v1/{resource}/?page_size=200"
    client.get(url)  # process-wide caches warm (content types, the content version's schedule mark)
    with django_assert_max_num_queries(budget):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 1


@pytest.mark.parametrize("signed_in", [False, True])
def test_profile_detail_budget_holds_with_1_and_200_rows(signed_in, django_assert_max_num_queries):
    client = Client()
    if signed_in:
        client.force_login(alliance_member())
    for n in SIZES:
        institution = full_profile(n, body="Cites [^ev:1] and [^ev:2].")
        url = f"/api/v1/institutions/{institution.slug}/"
        client.get(url)
        with django_assert_max_num_queries(DETAIL_BUDGET + (1 if signed_in else 0)):
            response = client.get(url)
        assert len(response.json()["faqs"]) == n


# --- tokens ------------------------------------------------------------------------------------------------

def test_a_token_reads_at_its_owners_tier_and_stops_when_revoked():
    from membership.tokens import create_token, revoke_token

    locked = EvidenceItemFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    owner = alliance_member()
    issued = create_token(owner=owner, name="mirror", lifetime_days=30)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.text}")
    response = get(client, f"/api/v1/evidence/{locked.pk}/")
    assert response.status_code == 200 and "private" in response["Cache-Control"]
    revoke_token(token=issued.token, by=owner)
    response = client.get(f"/api/v1/evidence/{locked.pk}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()


@pytest.mark.parametrize("header", ["Bearer", "Bearer not-a-token", "Bearer btw_0000_1111", "Bearer a b"])
def test_a_malformed_token_is_refused_not_read_as_anonymous(header):
    InstitutionFactory()
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/institutions/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


# --- as of a day -------------------------------------------------------------------------------------------

def test_as_of_gives_the_profile_as_it_stood_with_withdrawn_sources_as_dates_only(api):
    from .test_as_of import days_ago, happened

    institution = InstitutionFactory(dek="The old summary.", published_at=timezone.now() - datetime.timedelta(days=50))
    source = EvidenceItemFactory(institution=institution, title="Old source title", claim="Old claim words")
    happened(40)
    institution.dek = "The new summary."
    institution.save()
    source.review_state = "retracted"
    source.save()
    happened(20)
    url = f"/api/v1/institutions/{institution.slug}/"
    response = get(api, url, as_of=days_ago(30).isoformat())
    then = response.json()
    assert then["institution"]["dek"] == "The old summary."
    # Approved then, retracted since: a dated line, never its text.
    assert then["evidence"] == []
    assert then["withdrawn"] == [{"id": source.pk, "on": days_ago(20).isoformat(), "how": "retracted"}]
    assert "Old source title" not in response.content.decode() and "Old claim words" not in response.content.decode()
    today = get(api, url, as_of=timezone.localdate().isoformat()).json()
    assert today["institution"]["dek"] == "The new summary." and today["withdrawn"] == []
    assert get(api, url, as_of=days_ago(60).isoformat()).status_code == 404


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2999-01-01", ""])
def test_as_of_refuses_a_date_it_cannot_read(api, value):
    institution = InstitutionFactory()
    response = api.get(f"/api/v1/institutions/{institution.slug}/", {"as_of": value})
    assert response.status_code == 400
    assert "as_of" in response.json()
