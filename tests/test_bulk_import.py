"""Bulk import and export (issue 14): CSV and JSON, a dry-run preview with per-row errors, all or
nothing, imported evidence and relationships enter review as submitted, and the gate and the
workflow apply (analysts import into their own profiles only, moderators import nothing)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, remove_perm

from audit.models import AuditEntry
from membership.models import Tier
from profiles.bulk.exporting import export_file
from profiles.bulk.importing import BulkInputError, run_import
from profiles.models import EvidenceItem, Institution, Relationship, ReviewRecord

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    tier,
)

pytestmark = pytest.mark.django_db

EVIDENCE_HEADER = ["institution", "url", "publisher", "title", "source_date", "claim", "kind", "required_tier"]


def as_csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def evidence_row(slug, n=1, **overrides):
    row = {
        "institution": slug,
        "url": f"https://news.example.org/import-{n}",
        "publisher": "Example Wire",
        "title": f"Imported story {n}",
        "source_date": "2026-01-15",
        "claim": "The operator opened a second landing station.",
        "kind": "news",
        "required_tier": "",
    }
    row.update(overrides)
    return [row[column] for column in EVIDENCE_HEADER]


@pytest.fixture
def assigned(analyst):
    """An analyst and the profile assigned to them."""
    profile = InstitutionFactory(slug="assigned-profile", name="Assigned profile")
    assign_perm("profiles.change_institution", analyst, profile)
    return analyst, profile


@pytest.fixture
def lead(staff_factory):
    return staff_factory("Analysts", "Lead analysts")


# --- evidence -------------------------------------------------------------------------------------------


def test_dry_run_previews_new_rows_and_saves_nothing(assigned):
    analyst, profile = assigned
    content = as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug, 1), evidence_row(profile.slug, 2)])
    report = run_import(kind="evidence", content=content, fmt="csv", user=analyst, dry_run=True)
    assert report.ok and not report.saved
    assert [row.action for row in report.rows] == ["new", "new"]
    assert [row.label for row in report.rows] == ["Imported story 1", "Imported story 2"]
    assert not EvidenceItem.objects.exists()
    assert not ReviewRecord.objects.exists()


def test_imported_evidence_enters_review_as_submitted_by_the_importer(assigned):
    analyst, profile = assigned
    content = as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug, 1, required_tier=Tier.STRATEGIC_CIRCLE_SLUG)])
    report = run_import(kind="evidence", content=content, fmt="csv", user=analyst, dry_run=False)
    assert report.saved, report.error_lines
    item = EvidenceItem.objects.get()
    assert item.review_state == EvidenceItem.Review.SUBMITTED
    assert item.submitted_by == analyst
    assert list(item.authors.all()) == [analyst]  # four eyes: the importer may not approve it
    assert item.required_tier == tier(Tier.STRATEGIC_CIRCLE_SLUG)
    assert item.history.count() == 1
    assert ReviewRecord.objects.filter(to_state="submitted").count() == 1


def test_review_state_in_the_file_never_approves(assigned):
    analyst, profile = assigned
    header = [*EVIDENCE_HEADER, "review_state"]
    content = as_csv(header, [[*evidence_row(profile.slug, 1), "approved"]])
    assert run_import(kind="evidence", content=content, fmt="csv", user=analyst, dry_run=False).saved
    assert EvidenceItem.objects.get().review_state == EvidenceItem.Review.SUBMITTED


def test_every_row_error_is_reported_with_its_row_and_column_and_nothing_is_saved(assigned):
    analyst, profile = assigned
    rows = [
        evidence_row(profile.slug, 1),
        evidence_row(profile.slug, 2, url="javascript:alert(1)"),
        evidence_row("no-such-profile", 3),
        evidence_row(profile.slug, 4, source_date="15/13/2026", kind="rumour"),
    ]
    report = run_import(kind="evidence", content=as_csv(EVIDENCE_HEADER, rows), fmt="csv", user=analyst, dry_run=False)
    assert not report.ok and not report.saved
    assert [row.action for row in report.rows] == ["new", "error", "error", "error"]
    columns = {row.number: {column for column, _ in row.errors} for row in report.rows}
    assert columns[2] == {"url"}
    assert columns[3] == {"institution"}
    assert columns[4] == {"source_date", "kind"}
    assert "row 3, institution: No profile “no-such-profile”." in report.error_lines
    assert "nothing was saved" in report.summary
    assert not EvidenceItem.objects.exists()  # all or nothing: the valid first row is rolled back too


def test_analyst_cannot_import_into_a_profile_not_assigned_to_them(assigned):
    analyst, profile = assigned
    other = InstitutionFactory(slug="someone-elses")
    rows = [evidence_row(profile.slug, 1), evidence_row(other.slug, 2)]
    report = run_import(kind="evidence", content=as_csv(EVIDENCE_HEADER, rows), fmt="csv", user=analyst, dry_run=False)
    assert [row.action for row in report.rows] == ["new", "error"]
    assert report.rows[1].errors[0][0] == "institution"
    assert "not one of the profiles you edit" in report.rows[1].errors[0][1]
    assert not EvidenceItem.objects.exists()


def test_lead_analyst_imports_into_any_profile(lead):
    other = InstitutionFactory(slug="anyones")
    report = run_import(
        kind="evidence", content=as_csv(EVIDENCE_HEADER, [evidence_row(other.slug)]), fmt="csv", user=lead,
        dry_run=False,
    )
    assert report.saved, report.error_lines
    assert EvidenceItem.objects.get().institution == other


def test_moderator_may_not_import(moderator):
    profile = InstitutionFactory()
    with pytest.raises(BulkInputError, match="You may not import evidence"):
        run_import(
            kind="evidence", content=as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug)]), fmt="csv",
            user=moderator, dry_run=True,
        )
    assert not EvidenceItem.objects.exists()


def test_editing_approved_evidence_by_import_sends_it_back_to_review(assigned):
    analyst, profile = assigned
    item = EvidenceItemFactory(institution=profile, review_state="approved")
    content = json.dumps([{"id": item.pk, "institution": profile.slug, "title": "A corrected title"}]).encode()
    report = run_import(kind="evidence", content=content, fmt="json", user=analyst, dry_run=False)
    assert report.saved, report.error_lines
    assert report.rows[0].action == "changed" and report.rows[0].changed == ["title"]
    item.refresh_from_db()
    assert item.title == "A corrected title"
    assert item.review_state == EvidenceItem.Review.SUBMITTED


def test_an_unknown_evidence_id_is_refused_rather_than_created(assigned):
    analyst, profile = assigned
    elsewhere = EvidenceItemFactory()  # exists, but on a profile the analyst does not edit
    content = json.dumps([{"id": elsewhere.pk, "institution": profile.slug, "title": "Hijack"}]).encode()
    report = run_import(kind="evidence", content=content, fmt="json", user=analyst, dry_run=False)
    assert report.rows[0].action == "error"
    assert report.rows[0].errors[0][0] == "id"
    elsewhere.refresh_from_db()
    assert elsewhere.title != "Hijack" and elsewhere.institution != profile


def test_round_trip_of_an_export_is_unchanged_in_csv_and_json(lead):
    profile = InstitutionFactory(slug="round-trip")
    EvidenceItemFactory(institution=profile, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG), quote="")
    EvidenceItemFactory(institution=profile, source_date=None, archive_url="https://archive.example.org/x")
    RelationshipFactory(source=profile, target=InstitutionFactory(slug="partner"), since="2025-01-02")
    profile.sectors.add(SectorFactory(slug="cloud"), SectorFactory(slug="subsea"))
    for fmt in ("csv", "json"):
        for kind in ("institutions", "evidence", "relationships"):
            content = export_file(kind=kind, fmt=fmt, user=lead)
            report = run_import(kind=kind, content=content, fmt=fmt, user=lead, dry_run=True)
            assert report.ok, (kind, fmt, report.error_lines)
            assert {row.action for row in report.rows} == {"unchanged"}, (kind, fmt, report.rows)
    assert EvidenceItem.objects.approved().count() == 2


def test_export_is_scoped_to_the_analysts_profiles(assigned):
    analyst, profile = assigned
    EvidenceItemFactory(institution=profile, title="Mine to export")
    EvidenceItemFactory(institution=InstitutionFactory(name="Not mine"), title="Not mine to export")
    evidence = json.loads(export_file(kind="evidence", fmt="json", user=analyst))
    assert [row["title"] for row in evidence] == ["Mine to export"]
    institutions = export_file(kind="institutions", fmt="csv", user=analyst).decode()
    assert "Assigned profile" in institutions and "Not mine" not in institutions


def test_export_never_contains_member_briefing_text(lead):
    profile = InstitutionFactory()
    BriefingFactory(institution=profile, body="SECRET-BRIEFING-BODY", source_notes="SECRET-NOTES")
    for kind in ("institutions", "evidence", "relationships"):
        for fmt in ("csv", "json"):
            assert b"SECRET" not in export_file(kind=kind, fmt=fmt, user=lead)


# --- institutions ---------------------------------------------------------------------------------------


def test_imported_institutions_are_drafts_assigned_to_their_importer(analyst):
    SectorFactory(slug="cloud")
    content = json.dumps(
        [{"slug": "new-exchange", "name": "New Exchange", "dek": "A new internet exchange.", "type": "exchange",
          "sectors": "cloud"}]
    ).encode()
    report = run_import(kind="institutions", content=content, fmt="json", user=analyst, dry_run=False)
    assert report.saved, report.error_lines
    profile = Institution.objects.get(slug="new-exchange")
    assert profile.status == Institution.Status.DRAFT and profile.published_at is None
    assert [s.slug for s in profile.sectors.all()] == ["cloud"]
    assert analyst.has_perm("profiles.change_institution", profile)


def test_import_cannot_publish_a_profile(analyst):
    content = json.dumps([{"slug": "sneaky", "name": "Sneaky", "dek": "Text.", "status": "published"}]).encode()
    report = run_import(kind="institutions", content=content, fmt="json", user=analyst, dry_run=False)
    assert report.rows[0].errors[0][0] == "status"
    assert not Institution.objects.filter(slug="sneaky").exists()


def test_import_never_changes_an_existing_profiles_status(lead):
    draft = InstitutionFactory(slug="still-draft", status="draft", published_at=None)
    content = as_csv(["slug", "status"], [["still-draft", "published"]])
    report = run_import(kind="institutions", content=content, fmt="csv", user=lead, dry_run=False)
    assert report.rows[0].errors[0][0] == "status"
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert not AuditEntry.objects.filter(action="publish").exists()


def test_updating_a_profile_goes_through_the_optimistic_lock(lead):
    profile = InstitutionFactory(slug="locked", dek="Old dek.")
    exported = json.loads(export_file(kind="institutions", fmt="json", user=lead))
    Institution.objects.filter(pk=profile.pk).update(version=profile.version + 1)  # someone saved since
    exported[0]["dek"] = "New dek."
    report = run_import(kind="institutions", content=json.dumps(exported).encode(), fmt="json", user=lead,
                        dry_run=False)
    assert report.rows[0].errors[0][0] == "version"
    profile.refresh_from_db()
    assert profile.dek == "Old dek."


def test_updating_a_published_profile_keeps_it_published_and_records_history(lead):
    profile = InstitutionFactory(slug="published-one", dek="Old dek.")
    before = profile.history.count()
    content = json.dumps([{"slug": "published-one", "dek": "New dek.", "version": profile.version}]).encode()
    report = run_import(kind="institutions", content=content, fmt="json", user=lead, dry_run=False)
    assert report.saved, report.error_lines
    assert report.rows[0].changed == ["dek"]
    profile.refresh_from_db()
    assert (profile.dek, profile.status, profile.version) == ("New dek.", "published", 2)
    assert profile.last_edited_by == lead
    assert profile.history.count() == before + 1
    latest = profile.history.first()
    assert latest.history_user == lead and "Imported from a file" in (latest.history_change_reason or "")


def test_analyst_cannot_update_an_unassigned_profile(analyst):
    InstitutionFactory(slug="theirs", dek="Untouched.")
    content = json.dumps([{"slug": "theirs", "dek": "Changed."}]).encode()
    report = run_import(kind="institutions", content=content, fmt="json", user=analyst, dry_run=False)
    assert report.rows[0].errors[0][0] == "slug"
    assert Institution.objects.get(slug="theirs").dek == "Untouched."


# --- relationships --------------------------------------------------------------------------------------


def test_imported_relationships_are_pending_review(assigned):
    analyst, profile = assigned
    InstitutionFactory(slug="supplier-co")
    content = as_csv(["source", "target", "kind", "description"],
                     [[profile.slug, "supplier-co", "customer", "Buys racks."]])
    report = run_import(kind="relationships", content=content, fmt="csv", user=analyst, dry_run=False)
    assert report.saved, report.error_lines
    tie = Relationship.objects.get()
    assert tie.review_state == Relationship.Review.SUBMITTED and tie.submitted_by == analyst


def test_relationship_from_an_unassigned_profile_is_refused(assigned):
    analyst, profile = assigned
    InstitutionFactory(slug="elsewhere")
    content = as_csv(["source", "target", "kind"], [["elsewhere", profile.slug, "partner"]])
    report = run_import(kind="relationships", content=content, fmt="csv", user=analyst, dry_run=False)
    assert report.rows[0].errors[0][0] == "source"
    assert not Relationship.objects.exists()


# --- bad files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"", "csv", "empty"),
        (b"\xff\xfe\x00", "csv", "UTF-8"),
        (b"{not json", "json", "cannot be read"),
        (b'{"slug": "x"}', "json", "list of objects"),
        (b"institution,colour\nx,blue\n", "csv", "Unknown column colour"),
        (b"url,title\nhttps://x.org,T\n", "csv", "no institution column"),
    ],
)
def test_unreadable_files_are_refused_with_one_line(analyst, content, fmt, message):
    with pytest.raises(BulkInputError, match=message):
        run_import(kind="evidence", content=content, fmt=fmt, user=analyst, dry_run=True)


# --- the admin page -------------------------------------------------------------------------------------

IMPORT_URL = "/admin/profiles/bulk/import/"
EXPORT_URL = "/admin/profiles/bulk/"


def upload(client, kind, name, content):
    return client.post(IMPORT_URL, {"kind": kind, "file": SimpleUploadedFile(name, content)})


def test_admin_preview_then_confirm_imports_the_previewed_file(client, assigned):
    analyst, profile = assigned
    client.force_login(analyst)
    content = as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug, 1), evidence_row(profile.slug, 2)])
    preview = upload(client, "evidence", "evidence.csv", content)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Nothing is saved yet" in page and "Imported story 2" in page and "Import 2 rows" in page
    assert not EvidenceItem.objects.exists()
    done = client.post(IMPORT_URL, {"token": preview.context["token"]})
    assert done.status_code == 302
    assert EvidenceItem.objects.submitted().count() == 2
    assert "Imported evidence.csv" in client.get(done["Location"]).content.decode()
    again = client.post(IMPORT_URL, {"token": preview.context["token"]})  # a token is used once
    assert again.status_code == 302 and EvidenceItem.objects.count() == 2


def test_admin_preview_lists_each_rows_errors_and_offers_no_confirmation(client, assigned):
    analyst, profile = assigned
    client.force_login(analyst)
    content = json.dumps([
        {"institution": profile.slug, "url": "ftp://files.example.org/x", "publisher": "P", "title": "T",
         "claim": "C"},
    ]).encode()
    response = upload(client, "evidence", "evidence.json", content)
    page = response.content.decode()
    assert response.status_code == 200 and response.context["token"] == ""
    assert "<code>url</code>" in page and "nothing was saved" in page
    assert 'name="token"' not in page


def test_admin_confirmation_revalidates_the_upload(client, assigned):
    """The assignment is withdrawn between preview and confirmation: nothing is imported."""
    analyst, profile = assigned
    client.force_login(analyst)
    preview = upload(client, "evidence", "e.csv", as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug)]))
    remove_perm("profiles.change_institution", analyst, profile)
    response = client.post(IMPORT_URL, {"token": preview.context["token"]})
    assert response.status_code == 200 and "Nothing was saved" in response.content.decode()
    assert not EvidenceItem.objects.exists()


def test_admin_token_belongs_to_its_uploader(client, assigned, staff_factory):
    analyst, profile = assigned
    client.force_login(analyst)
    preview = upload(client, "evidence", "e.csv", as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug)]))
    client.force_login(staff_factory("Analysts", "Lead analysts"))
    response = client.post(IMPORT_URL, {"token": preview.context["token"]})
    assert response.status_code == 302
    assert not EvidenceItem.objects.exists()


def test_admin_unreadable_upload_is_a_field_error(client, analyst):
    client.force_login(analyst)
    response = upload(client, "evidence", "notes.txt", b"hello")
    assert response.status_code == 200
    assert "use a .csv or .json file" in response.content.decode()


def test_moderator_is_refused_the_import_page_but_may_export(client, moderator):
    profile = InstitutionFactory()
    client.force_login(moderator)
    assert client.get(IMPORT_URL).status_code == 403
    assert upload(client, "evidence", "e.csv", as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug)])).status_code == 403
    assert not EvidenceItem.objects.exists()
    page = client.get(EXPORT_URL)
    assert page.status_code == 200 and IMPORT_URL not in page.content.decode()


def test_admin_export_downloads_the_staff_members_profiles(client, assigned):
    analyst, profile = assigned
    EvidenceItemFactory(institution=profile, title="Mine to export")
    EvidenceItemFactory(title="Not mine to export")
    client.force_login(analyst)
    response = client.get(EXPORT_URL, {"kind": "evidence", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="btw-evidence-')
    body = response.content.decode()
    assert "Mine to export" in body and "Not mine to export" not in body


@pytest.mark.parametrize("rows", [1, 200])
def test_export_queries_do_not_grow_with_rows(client, lead, rows, django_assert_max_num_queries):
    profile = InstitutionFactory()
    profile.sectors.add(SectorFactory())
    others = InstitutionFactory.create_batch(rows - 1)
    EvidenceItemFactory.create_batch(rows, institution=profile, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    for other in others:
        RelationshipFactory(source=profile, target=other)
    client.force_login(lead)
    for kind in ("institutions", "evidence", "relationships"):
        with django_assert_max_num_queries(8):
            assert client.get(EXPORT_URL, {"kind": kind, "format": "json"}).status_code == 200


def test_import_queries_per_row_are_bounded(lead):
    """Lookups are made once per file: a row costs the same few queries in a file of 10 or of 100
    (its service's inserts, history, review record, constraint checks), plus savepoints."""
    profile = InstitutionFactory()

    def queries(n):
        content = as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug, i) for i in range(n)])
        with CaptureQueriesContext(connection) as captured:
            assert run_import(kind="evidence", content=content, fmt="csv", user=lead, dry_run=True).ok
        sql = [query["sql"] for query in captured.captured_queries]
        return len(sql), len([s for s in sql if "SAVEPOINT" not in s])

    (small, small_work), (large, large_work) = queries(10), queries(100)
    assert (large_work - small_work) / 90 <= 10, (small_work, large_work)
    assert (large - small) / 90 <= 25, (small, large)


# --- the command ----------------------------------------------------------------------------------------


def test_command_imports_as_the_named_staff_member(tmp_path, assigned):
    analyst, profile = assigned
    path = tmp_path / "evidence.csv"
    path.write_bytes(as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug)]))
    out = io.StringIO()
    call_command("import_profiles", str(path), "--as", analyst.username, stdout=out)
    assert "1 new" in out.getvalue()
    assert EvidenceItem.objects.get().submitted_by == analyst


def test_command_dry_run_saves_nothing(tmp_path, assigned):
    analyst, profile = assigned
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps([{"institution": profile.slug, "url": "https://x.example.org", "publisher": "P",
                                 "title": "T", "claim": "C"}]))
    out = io.StringIO()
    call_command("import_profiles", str(path), "--kind", "evidence", "--dry-run", "--as", analyst.email, stdout=out)
    assert out.getvalue().startswith("Dry run: 1 row of evidence: 1 new")
    assert not EvidenceItem.objects.exists()


def test_command_prints_row_errors_and_fails(tmp_path, assigned):
    analyst, profile = assigned
    path = tmp_path / "evidence.csv"
    path.write_bytes(as_csv(EVIDENCE_HEADER, [evidence_row(profile.slug), evidence_row("nowhere", 2)]))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was saved"):
        call_command("import_profiles", str(path), "--as", analyst.username, stderr=err)
    assert "row 2, institution: No profile “nowhere”." in err.getvalue()
    assert not EvidenceItem.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--as", "x"], "No such file"),
        (["{path}"], "Say who imports"),
        (["{path}", "--as", "nobody"], "No active staff member"),
    ],
)
def test_command_bad_input_is_one_readable_line(tmp_path, analyst, args, message):
    path = tmp_path / "e.csv"
    path.write_bytes(as_csv(EVIDENCE_HEADER, []))
    args = [arg.format(path=path) for arg in args]
    with pytest.raises(CommandError, match=message):
        call_command("import_profiles", *args)


def test_command_refuses_a_moderator(tmp_path, moderator):
    path = tmp_path / "e.csv"
    path.write_bytes(as_csv(EVIDENCE_HEADER, [evidence_row(InstitutionFactory().slug)]))
    with pytest.raises(CommandError, match="You may not import"):
        call_command("import_profiles", str(path), "--as", moderator.username)


def test_an_empty_cell_of_a_field_with_a_default_takes_the_default(analyst):
    content = as_csv(["slug", "name", "dek", "type", "criticality"], [["defaults-co", "Defaults Co", "A dek.", "", ""]])
    assert run_import(kind="institutions", content=content, fmt="csv", user=analyst, dry_run=False).saved
    profile = Institution.objects.get(slug="defaults-co")
    assert (profile.type, profile.criticality) == (Institution.Type.INFRASTRUCTURE_INSTITUTION, "medium")


def test_admin_takes_at_most_a_thousand_rows_and_points_to_the_command(client, lead):
    client.force_login(lead)
    rows = [evidence_row("any", n) for n in range(1001)]
    response = upload(client, "evidence", "big.csv", as_csv(EVIDENCE_HEADER, rows))
    assert response.status_code == 200
    assert "import at most 1,000 at a time" in response.content.decode()
    assert "manage.py import_profiles" in response.content.decode()
