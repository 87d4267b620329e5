"""Bulk dumps: what a tier reads, as JSON Lines and CSV with a manifest; served at /data/ (public)
and through the API (a member's own tier); a mirror loaded from one and fed by the change stream
from its cursor is exact."""

import csv
import hashlib
import json
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from membership.models import Tier
from profiles.api import dumps
from profiles.models import Institution

from .factories import EvidenceItemFactory, InstitutionFactory, RelationshipFactory, tier
from .factories_membership import alliance_member, strategic_member
from .test_api_changes import apply, crawl, current_state, edits, read_all, world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _dump_dir(settings, tmp_path):
    settings.BTW_DUMP_DIR = tmp_path / "dumps"


def records(dump, kind) -> list[dict]:
    return [json.loads(line) for line in (dump.directory / f"{kind}.jsonl").read_text().splitlines()]


def test_a_public_dump_holds_what_anonymous_readers_see():
    world()
    dump = dumps.export("public")
    client = Client()
    for kind, name in (("evidence", "evidence"), ("relationship", "relationships"), ("timeline", "timeline")):
        assert records(dump, kind) == crawl(client, f"/api/v1/{name}/?page_size=200")
    profiles = records(dump, "institution")
    assert [p["slug"] for p in profiles] == [p["slug"] for p in crawl(client, "/api/v1/institutions/")]
    assert profiles[0] == client.get(f"/api/v1/institutions/{profiles[0]['slug']}/").json()


def test_the_manifest_counts_and_checksums_each_file():
    world()
    dump = dumps.export("public")
    manifest = json.loads((dump.directory / "manifest.json").read_text())
    assert manifest["tier"] == "public" and manifest["cursor"]
    names = {entry["name"] for entry in manifest["files"]}
    assert {"institution.jsonl", "institution.csv", "evidence.jsonl", "evidence.csv"} <= names
    for entry in manifest["files"]:
        data = (dump.directory / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
        lines = data.decode().splitlines()
        assert entry["records"] == (len(lines) - 1 if entry["name"].endswith(".csv") and lines else len(lines))


def test_a_tier_dump_opens_that_tier_and_no_more():
    secret = "SECRET-dump-alliance"
    institution = InstitutionFactory()
    EvidenceItemFactory(institution=institution, title=f"Circle {secret[:6]}",
                        required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    EvidenceItemFactory(institution=institution, claim=secret, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    for slug in ("public", "strategic-circle"):
        dump = dumps.export(slug)
        for path in dump.directory.iterdir():
            assert secret not in path.read_text(), f"{slug} dump leaks Alliance text in {path.name}"
    assert secret in (dumps.export("leadership-alliance").directory / "evidence.jsonl").read_text()


def test_a_dump_never_names_an_unpublished_profile():
    draft = InstitutionFactory(name="Unannounced Venture", status=Institution.Status.DRAFT)
    RelationshipFactory(source=InstitutionFactory(), target=draft)
    dump = dumps.export("leadership-alliance")
    for path in dump.directory.iterdir():
        assert "Unannounced Venture" not in path.read_text() and draft.slug not in path.read_text()


def test_csv_cells_that_a_spreadsheet_would_run_are_defused():
    EvidenceItemFactory(title="=HYPERLINK(\"http://evil.example\")", claim="+1 more", publisher="@pub")
    dump = dumps.export("public")
    with (dump.directory / "evidence.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["title"].startswith("'=") and row["claim"].startswith("'+") and row["publisher"] == "'@pub"


def test_a_mirror_loaded_from_a_dump_and_fed_from_its_cursor_is_exact():
    w = world()
    dump = dumps.export("strategic-circle")
    mirror = {(kind, record["id"]): record for kind in ("institution", "evidence", "relationship", "watchpoint",
                                                        "timeline") for record in records(dump, kind)}
    edits(w)
    client = Client()
    client.force_login(strategic_member())
    apply(mirror, read_all(client, dump.manifest["cursor"])[0])
    assert mirror == current_state(client)


def test_a_since_dump_holds_the_changes_after_a_cursor():
    w = world()
    cursor = dumps.export("public").manifest["cursor"]
    edits(w)
    dump = dumps.export("public", since=cursor)
    changes = [json.loads(line) for line in (dump.directory / "changes.jsonl").read_text().splitlines()]
    assert ("evidence", w["public"].pk, "remove") in {(c["kind"], c["id"], c["op"]) for c in changes}
    assert dump.manifest["since"] == cursor and dump.manifest["cursor"] != cursor


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "gold"], "Unknown tier"),
        (["--tier", "public", "--since", "garbage"], "Not a cursor"),
        (["--tier", "public", "--since", " "], "needs a cursor"),
    ],
)
def test_export_dump_refuses_bad_input_in_one_line(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_dump", *args)


def test_a_cursor_of_another_tier_is_refused():
    cursor = dumps.export("public").manifest["cursor"]
    with pytest.raises(CommandError, match="another tier"):
        call_command("export_dump", "--tier", "leadership-alliance", "--since", cursor)


def test_only_the_newest_dumps_are_kept_and_latest_names_the_newest():
    for _ in range(dumps.KEEP + 2):
        newest = dumps.export("public")
    kept = [p for p in dumps.dump_root("public").iterdir() if p.is_dir()]
    assert len(kept) == dumps.KEEP
    assert dumps.latest("public").directory == newest.directory


# --- serving ---------------------------------------------------------------------------------------------

def test_the_data_page_offers_the_public_dump_files():
    world()
    client = Client()
    assert b"No dump has been published yet" in client.get("/data/").content
    dump = dumps.export("public")
    page = client.get("/data/").content.decode()
    for entry in dump.files:
        url = f"/data/{dump.directory.name}/{entry['name']}"
        assert url in page
        response = client.get(url)
        assert response.status_code == 200
        assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("name", ["../manifest.json", "..%2F..%2Fsettings.py", "secret.txt", "manifest.json.bak"])
def test_only_files_a_manifest_lists_are_served(name):
    dump = dumps.export("public")
    (dump.directory / "secret.txt").write_text("not listed")
    assert Client().get(f"/data/{dump.directory.name}/{name}").status_code == 404
    assert Client().get(f"/data/20000101T000000000000Z/{name}").status_code == 404


def test_members_fetch_their_own_tiers_dump_through_the_api():
    EvidenceItemFactory(claim="alliance-only claim", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    for slug in ("public", "strategic-circle", "leadership-alliance"):
        dumps.export(slug)
    member = Client()
    member.force_login(strategic_member())
    manifest = member.get("/api/v1/dumps/").json()
    assert manifest["tier"] == "strategic-circle"
    for entry in manifest["files"]:
        response = member.get(urlsplit(entry["url"]).path)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert b"alliance-only claim" not in body
    alliance = Client()
    alliance.force_login(alliance_member())
    assert alliance.get("/api/v1/dumps/").json()["tier"] == "leadership-alliance"
    assert Client().get("/api/v1/dumps/").json()["tier"] == "public"
    # A member cannot fetch another tier's files by naming them.
    other = dumps.latest("leadership-alliance")
    assert member.get(f"/api/v1/dumps/{other.directory.name}/evidence.jsonl").status_code == 404
