"""Locked text never leaves through the data layer (DESIGN.md, gating rule 4): every endpoint of the
read API and every field of every response, the change stream and its tombstones, the schema and its
docs page, the dumps and the /data/ page — for every reader below the tier.

The planted profile is test_no_leak's (a secret in an Alliance briefing's body and notes, an Alliance
evidence item's title, claim and quote, and a members-only watchpoint); readers are its LOCKED_OUT
ones (anonymous, unverified, Strategic Circle, pending applicant, lapsed, staff without MFA).
"""

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from membership.models import Tier
from membership.tokens import create_token
from profiles.api import dumps
from profiles.models import Briefing, EvidenceItem, Institution, Relationship, TimelineEvent, Watchpoint

from . import test_no_leak
from .factories import (
    EvidenceItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    StaffFactory,
    TimelineEventFactory,
    tier,
)
from .factories_membership import alliance_member, lapsed_member, strategic_member
from .test_no_leak import LOCKED_OUT, NEEDS_MFA_SETTING, client_for, full_text

pytestmark = pytest.mark.django_db

# The planted profile, as test_no_leak plants it (its `secret` is conftest's).
profile = test_no_leak.profile

LISTS = ["institutions", "evidence", "relationships", "watchpoints", "timeline", "sectors", "tiers"]


@pytest.fixture
def unpublished(profile):
    """A draft profile whose name is locked text, tied to the planted profile and cited from it."""
    draft = InstitutionFactory(name="Quiet Merger Draft", slug="quiet-merger-draft", status=Institution.Status.DRAFT)
    RelationshipFactory(source=profile, target=draft, description="Ties to the quiet merger.")
    TimelineEventFactory(institution=profile, title="Public event", text="Nothing secret.")
    return draft


def _get_all(client, url) -> str:
    text = ""
    while url:
        response = client.get(url)
        text += full_text(response)
        url = response.json().get("next") if response.status_code == 200 else None
        if url:
            url = urlsplit(url).path + "?" + urlsplit(url).query
    return text


def _lists(client, profile):
    return "".join(_get_all(client, f"/api/v1/{name}/?page_size=200") for name in LISTS)


def _details(client, profile):
    """Each row's detail, those the reader may not see included (they must be plain 404s)."""
    text = full_text(client.get(f"/api/v1/institutions/{profile.slug}/"))
    text += full_text(client.get(f"/api/v1/institutions/{profile.slug}/", {"as_of": timezone.localdate().isoformat()}))
    text += full_text(client.get("/api/v1/institutions/quiet-merger-draft/"))
    for model, name in ((EvidenceItem, "evidence"), (Relationship, "relationships"), (Watchpoint, "watchpoints"),
                        (TimelineEvent, "timeline")):
        for pk in model.objects.values_list("pk", flat=True):
            text += full_text(client.get(f"/api/v1/{name}/{pk}/"))
    return text


def _filtered(client, profile):
    """Filters over the locked words find nothing (search indexes public text only)."""
    return "".join(full_text(client.get("/api/v1/institutions/", params)) for params in (
        {"q": "Alliance body"}, {"q": "Leak"}, {"sector": "leak-sector"}))


def _changes_from_the_start(client, profile):
    return _get_all(client, "/api/v1/changes/?since=0")


def _changes_with_tombstones(client, profile):
    """The locked items change and leave the view: their records must be tombstones without text."""
    cursor = client.get("/api/v1/changes/", {"since": "now"}).json()["next"]
    briefing = Briefing.objects.get(institution=profile, required_tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    briefing.save()
    for evidence in EvidenceItem.objects.filter(institution=profile):
        evidence.review_state = "retracted"
        evidence.save()
    public = EvidenceItemFactory(institution=profile, title=f"Was public {profile.slug}")
    public.claim = f"Raised above the reader {profile.slug}"
    public.required_tier = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    public.save()
    for watchpoint in Watchpoint.objects.filter(institution=profile):
        watchpoint.delete()
    text = _get_all(client, f"/api/v1/changes/?since={cursor}")
    assert f"Raised above the reader {profile.slug}" not in text
    return text


def _schema_and_docs(client, profile):
    return full_text(client.get("/api/schema/?format=json")) + full_text(client.get("/api/docs/"))


def _dumps(client, profile):
    """The public dump and /data/, and the dump of the reader's own tier through the API."""
    text = ""
    for slug in ("public", "strategic-circle"):
        dump = dumps.export(slug)
        text += "".join(path.read_text() for path in dump.directory.iterdir())
    text += full_text(client.get("/data/"))
    manifest = client.get("/api/v1/dumps/")
    text += full_text(manifest)
    for entry in manifest.json().get("files", []):
        text += b"".join(client.get(urlsplit(entry["url"]).path).streaming_content).decode()
    return text


OUTPUTS = {
    "every list endpoint, every page": _lists,
    "every detail endpoint, visible or not": _details,
    "filtered and searched lists": _filtered,
    "change stream from the start": _changes_from_the_start,
    "change stream after locked items changed and left the view": _changes_with_tombstones,
    "OpenAPI schema and docs page": _schema_and_docs,
    "dumps, /data/ and the API's dump of the reader's tier": _dumps,
}


@pytest.fixture(autouse=True)
def _dump_dir(settings, tmp_path):
    settings.BTW_DUMP_DIR = tmp_path / "dumps"


def token_client(make_user) -> Client:
    """A client that reads with the user's personal API token, no session."""
    issued = create_token(owner=make_user(), name="mirror", lifetime_days=None)
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {issued.text}")


#: Readers through a token: what the token's owner is now decides, staff included (never staff sight).
TOKEN_READERS = {
    "Strategic Circle member's token": strategic_member,
    "lapsed Leadership Alliance member's token": lapsed_member,
    "staff member's token": lambda: StaffFactory(is_superuser=True, verified=True),
}


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("reader", [*LOCKED_OUT, *TOKEN_READERS])
def test_locked_text_is_absent_from_the_data_layer(output, reader, profile, unpublished, secret, settings):
    settings.BTW_REQUIRE_STAFF_MFA = reader in NEEDS_MFA_SETTING
    client = token_client(TOKEN_READERS[reader]) if reader in TOKEN_READERS else client_for(LOCKED_OUT[reader])
    text = OUTPUTS[output](client, profile)
    assert secret not in text, f"{output} leaks members-only text to the {reader} reader"
    assert "Quiet Merger Draft" not in text and "quiet-merger-draft\"" not in text, (
        f"{output} names an unpublished profile to the {reader} reader")


@pytest.mark.parametrize("through", ["session", "token"])
def test_the_alliance_reads_the_locked_text_through_the_api(profile, secret, through):
    """Guards the test above: the same outputs do carry the text for a reader of the tier."""
    if through == "token":
        client = token_client(alliance_member)
    else:
        client = Client()
        client.force_login(alliance_member())
    whole = client.get(f"/api/v1/institutions/{profile.slug}/").content.decode()
    today = {"as_of": timezone.localdate().isoformat()}
    whole += client.get(f"/api/v1/institutions/{profile.slug}/", today).content.decode()
    assert f"Alliance body {secret}" in whole and f"Alliance notes {secret}" in whole
    assert f"Evidence claim {secret}" in _get_all(client, "/api/v1/evidence/")
    assert f"Watch for {secret}" in _get_all(client, "/api/v1/watchpoints/")
    assert secret in _changes_from_the_start(client, profile)
