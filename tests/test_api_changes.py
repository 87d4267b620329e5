"""The change stream keeps a mirror exact: applying its records to a copy gives what the endpoints
show now, for every reader, after any mix of edits — and a tombstone never carries text."""

import datetime
import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from membership import services as membership_services
from membership.models import Membership, Tier
from profiles.change_log import record_institution
from profiles.models import Change, Institution

from .factories import (
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import alliance_member, pending_applicant, strategic_member, unverified_user
from .factories_pages import full_profile

pytestmark = pytest.mark.django_db

LISTS = {"evidence": "evidence", "relationship": "relationships", "watchpoint": "watchpoints", "timeline": "timeline"}

READERS = {
    "anonymous": lambda: None,
    "unverified": unverified_user,
    "Strategic Circle": strategic_member,
    "pending applicant": lambda: pending_applicant().user,
    "Leadership Alliance": alliance_member,
}


def client_for(make_user) -> Client:
    client = Client(raise_request_exception=False)
    user = make_user()
    if user is not None:
        client.force_login(user)
    client.user = user
    return client


def changes(client, since, **params):
    response = client.get("/api/v1/changes/", {"since": since, **params})
    assert response.status_code == 200, response.content[:300]
    return response.json()


def read_all(client, since) -> tuple[list[dict], str]:
    records = []
    while True:
        page = changes(client, since)
        records += page["results"]
        since = page["next"]
        if not page["more"]:
            return records, since


def apply(mirror: dict, records: list[dict]) -> None:
    for record in records:
        key = (record["kind"], record["id"])
        if record["op"] == "upsert":
            mirror[key] = record["data"]
        else:
            mirror.pop(key, None)


def crawl(client, url) -> list[dict]:
    rows = []
    while url:
        page = client.get(url).json()
        rows += page["results"]
        url = page["next"]
    return rows


def current_state(client) -> dict:
    """Everything the endpoints show this reader now: whole profiles, and each other resource."""
    state = {}
    for card in crawl(client, "/api/v1/institutions/"):
        state[("institution", card["id"])] = client.get(f"/api/v1/institutions/{card['slug']}/").json()
    for kind, name in LISTS.items():
        for row in crawl(client, f"/api/v1/{name}/?page_size=200"):
            state[(kind, row["id"])] = row
    return state


def world():
    """Two published profiles tied to each other and a draft, with evidence at each tier."""
    a = InstitutionFactory(name="Alpha Exchange")
    b = InstitutionFactory(name="Beta Cables")
    draft = InstitutionFactory(name="Gamma Draft", status=Institution.Status.DRAFT)
    public = EvidenceItemFactory(institution=a, title="Public source")
    alliance = EvidenceItemFactory(
        institution=a, title="Alliance source", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    )
    circle = EvidenceItemFactory(institution=b, title="Circle source", required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    tie = RelationshipFactory(source=a, target=b, evidence=public)
    to_draft = RelationshipFactory(source=b, target=draft)
    watch = WatchpointFactory(institution=a)
    event = TimelineEventFactory(institution=b, text=f"Opened [^ev:{circle.pk}].")
    faq = FAQItemFactory(institution=a)
    return locals()


def edits(w):
    """A mix of everything that moves resources in and out of readers' view."""
    w["public"].review_state = "retracted"
    w["public"].save()
    w["circle"].required_tier = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    w["circle"].save()
    w["draft"].status = Institution.Status.PUBLISHED
    w["draft"].published_at = timezone.now() - datetime.timedelta(minutes=1)
    w["draft"].save()
    w["event_pk"] = w["event"].pk
    w["event"].delete()
    w["faq"].answer = "A new answer."
    w["faq"].save()
    w["a"].status = Institution.Status.ARCHIVED
    w["a"].save()
    EvidenceItemFactory(institution=w["b"], title="Late source")
    w["watch"].status = "closed"
    w["watch"].save()


@pytest.mark.parametrize("reader", list(READERS))
def test_a_mirror_fed_by_the_stream_equals_what_the_api_shows(reader):
    w = world()
    client = client_for(READERS[reader])
    mirror = {}
    records, cursor = read_all(client, "0")
    apply(mirror, records)
    assert mirror == current_state(client)
    edits(w)
    records, cursor = read_all(client, cursor)
    apply(mirror, records)
    assert mirror == current_state(client)
    assert changes(client, cursor)["results"] == []


def test_small_pages_reach_the_same_mirror():
    w = world()
    client = client_for(alliance_member)
    mirror, cursor = {}, "0"
    edits(w)
    while True:
        page = changes(client, cursor, limit=1)
        apply(mirror, page["results"])
        cursor = page["next"]
        if not page["more"]:
            break
    assert mirror == current_state(client)


def test_what_left_the_view_comes_as_a_tombstone_without_text():
    w = world()
    client = client_for(lambda: None)
    cursor = changes(client, "now")["next"]
    edits(w)
    records = read_all(client, cursor)[0]
    removed = {(r["kind"], r["id"]) for r in records if r["op"] == "remove"}
    assert ("evidence", w["public"].pk) in removed  # retracted
    assert ("institution", w["a"].pk) in removed  # archived
    assert ("timeline", w["event_pk"]) in removed  # deleted
    assert ("watchpoint", w["watch"].pk) in removed  # closed, and of an archived profile
    for record in records:
        if record["op"] == "remove":
            assert set(record) == {"kind", "id", "op", "changed_at"}


def test_a_tier_raised_above_the_reader_is_a_tombstone_for_them_only():
    evidence = EvidenceItemFactory(title="Was public")
    anonymous, member = client_for(lambda: None), client_for(alliance_member)
    cursors = {c: changes(c, "now")["next"] for c in (anonymous, member)}
    evidence.required_tier = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    evidence.save()
    [gone] = [r for r in changes(anonymous, cursors[anonymous])["results"] if r["kind"] == "evidence"]
    assert gone["op"] == "remove"
    [kept] = [r for r in changes(member, cursors[member])["results"] if r["kind"] == "evidence"]
    assert kept["op"] == "upsert" and kept["data"]["tier"] == "leadership-alliance"


def test_a_scheduled_profile_arrives_when_its_time_comes_without_a_write():
    later = InstitutionFactory(published_at=timezone.now() + datetime.timedelta(hours=1))
    client = client_for(lambda: None)
    cursor = read_all(client, "0")[1]
    assert ("institution", later.pk) not in {(r["kind"], r["id"]) for r in changes(client, cursor)["results"]}
    # Its time comes (the clock moves; nothing is saved, so nothing is logged).
    before = Change.objects.count()
    Institution.objects.filter(pk=later.pk).update(published_at=timezone.now())
    assert Change.objects.count() == before
    page = changes(client, cursor)
    assert [(r["kind"], r["id"], r["op"]) for r in page["results"]] == [("institution", later.pk, "upsert")]
    assert changes(client, page["next"])["results"] == []


def test_a_cursor_read_at_another_tier_is_refused():
    user = alliance_member()
    client = Client()
    client.force_login(user)
    cursor = changes(client, "now")["next"]
    membership = Membership.objects.get(user=user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    membership_services.lapse_membership(membership=membership)
    response = client.get("/api/v1/changes/", {"since": cursor})
    assert response.status_code == 409
    assert "since=0" in response.json()["detail"]


@pytest.mark.parametrize("since", ["", "abc", "YzEuMS4y", "YzIuMC4wLjAuMA", "0" * 500, "-1", "\x00"])
def test_malformed_cursors_get_400(since):
    response = Client().get("/api/v1/changes/", {"since": since} if since else {})
    assert response.status_code == 400
    assert "since" in response.json()


@pytest.mark.parametrize("limit", ["0", "1001", "x", "-5"])
def test_bad_limits_get_400(limit):
    response = Client().get("/api/v1/changes/", {"since": "0", "limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()


#: Queries of a page of changes: the log rows, the schedule check for profiles gone live, then per kind the
#: visible rows (a profile with its sectors, identifiers, FAQ, links and briefings), the ids of parts of
#: hidden profiles and the evidence their texts cite — a fixed number whatever the rows.
CHANGES_BUDGET = 22


@pytest.mark.parametrize("n", [1, 200])
def test_a_page_of_changes_costs_the_same_queries_with_1_and_200_rows(n, django_assert_max_num_queries):
    full_profile(n, body="Cites [^ev:1].")
    InstitutionFactory(status=Institution.Status.DRAFT)
    client = Client()
    client.force_login(alliance_member())
    client.get("/api/v1/changes/", {"since": "0", "limit": "1000"})
    with django_assert_max_num_queries(CHANGES_BUDGET):
        page = changes(client, "0", limit="1000")
    assert len(page["results"]) >= n


# --- commit order on PostgreSQL ------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_row_that_commits_late_is_not_skipped_by_a_cursor():
    """Transaction A writes first and commits last; B writes and commits in between. A reader who reads
    while A is open must not move its cursor past A's row."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: ids are already in commit order")
    a_profile, b_profile = InstitutionFactory(), InstitutionFactory()
    cursor = changes(Client(), "now")["next"]
    a_wrote, b_done, release = threading.Event(), threading.Event(), threading.Event()

    def writer_a():
        with transaction.atomic():
            record_institution(a_profile.pk)
            a_wrote.set()
            release.wait(10)
        connections.close_all()

    def writer_b():
        a_wrote.wait(10)
        with transaction.atomic():
            record_institution(b_profile.pk)
        b_done.set()
        connections.close_all()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    b_done.wait(10)
    page = changes(Client(), cursor)
    assert page["results"] == []  # B committed, but A (older) is still open: nothing is served yet
    release.set()
    for thread in threads:
        thread.join(10)
    page = changes(Client(), page["next"])
    assert [r["id"] for r in page["results"]] == [a_profile.pk, b_profile.pk]

