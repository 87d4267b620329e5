"""Corrections: an analyst marks a public edit as a correction with a note, through the profile's change
form; readers then see it on the profile, in its feed, in followers' digests, in the JSON-LD and in the
changelog. Refused (a form error saying why) without a note, when nothing readers see changed, or when
the profile is not one readers could open; written in the edit's transaction, so a failed save leaves none.
"""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from profiles import services, watch
from profiles.admin.corrections import InstitutionChangeForm
from profiles.corrections import CorrectionRefused
from profiles.models import Change, Correction, Follow, HistoricalInstitution, Institution, WatchSettings

from .factories import InstitutionFactory
from .factories_membership import analyst, strategic_member
from .test_admin import admin_form_data, change_url, form_errors
from .test_page_query_budgets import PROFILE_BUDGET
from .test_structured_data import json_ld_of, schema_problems

pytestmark = pytest.mark.django_db

NOTE = "An earlier version said the plant makes 35 GW of racks a year; it is 3.5 GW."


@pytest.fixture
def editor():
    return analyst(first_name="Amira", last_name="Haddad")


@pytest.fixture
def profile(editor):
    institution = InstitutionFactory(name="Ohio Rack Works", slug="ohio-rack-works", dek="Builds 35 GW of racks.")
    assign_perm("profiles.change_institution", editor, institution)
    return institution


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_edit(client, institution, **changes):
    data = admin_form_data(client.get(change_url(institution)))
    data.update(changes)
    return client.post(change_url(institution), data)


def correct(institution, user, note=NOTE, **changes) -> Institution:
    """The edit service, as the admin calls it, with a correction note."""
    fresh = Institution.objects.get(pk=institution.pk)
    for name, value in {"dek": "Builds 3.5 GW of racks.", **changes}.items():
        setattr(fresh, name, value)
    return services.save_institution(institution=fresh, user=user, form_version=fresh.version, correction_note=note)


# --- the admin: marking an edit as a correction --------------------------------------------------------------


def test_analyst_marks_a_public_edit_as_a_correction_with_a_note(editor, profile):
    response = post_edit(
        client_for(editor), profile, dek="Builds 3.5 GW of racks.", is_correction="on", correction_note=NOTE
    )
    assert response.status_code == 302, form_errors(response)
    correction = Correction.objects.get(institution=profile)
    assert correction.note == NOTE and correction.created_by == editor
    profile.refresh_from_db()
    assert profile.dek == "Builds 3.5 GW of racks."
    assert correction.published_at == profile.public_updated_at  # readers saw it with the edit


def test_the_correction_note_is_the_reason_in_the_profiles_history(editor, profile):
    post_edit(client_for(editor), profile, dek="Builds 3.5 GW of racks.", is_correction="on", correction_note=NOTE,
              change_reason="Figure checked against the filing")
    latest = HistoricalInstitution.objects.filter(id=profile.pk).order_by("-history_id").first()
    assert latest.history_change_reason.startswith("Figure checked against the filing (Correction: An earlier")
    history = client_for(editor).get(reverse("admin:profiles_institution_history", args=[profile.pk]))
    assert "Correction: An earlier version said" in history.content.decode()


def test_a_ticked_correction_without_a_note_is_a_form_error(editor, profile):
    response = post_edit(client_for(editor), profile, dek="Builds 3.5 GW of racks.", is_correction="on")
    assert response.status_code == 200
    assert any("Write the correction note readers will see" in error for error in form_errors(response))
    assert not Correction.objects.exists()
    assert Institution.objects.get(pk=profile.pk).dek == "Builds 35 GW of racks."


def test_a_note_longer_than_1000_characters_is_a_form_error(editor, profile):
    response = post_edit(client_for(editor), profile, dek="Builds 3.5 GW.", is_correction="on",
                         correction_note="x" * 1001)
    assert response.status_code == 200
    assert any("at most 1000 characters" in error for error in form_errors(response))
    assert not Correction.objects.exists()


def test_a_correction_is_refused_when_nothing_readers_see_changed(editor, profile):
    response = post_edit(client_for(editor), profile, is_correction="on", correction_note=NOTE)
    assert response.status_code == 200
    assert any("Nothing readers see changed in this save" in error for error in form_errors(response))
    assert not Correction.objects.exists()


def test_a_correction_is_refused_on_an_edit_that_takes_the_profile_off_the_site(editor, profile):
    response = post_edit(client_for(editor), profile, dek="Builds 3.5 GW of racks.", status="archived",
                         is_correction="on", correction_note=NOTE)
    assert response.status_code == 200
    assert any("unpublishes a profile cannot also be a correction" in error for error in form_errors(response))
    assert not Correction.objects.exists()
    assert Institution.objects.get(pk=profile.pk).status == Institution.Status.PUBLISHED


def test_a_draft_has_no_correction_fields_and_a_forged_one_writes_nothing(editor):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    assign_perm("profiles.change_institution", editor, draft)
    client = client_for(editor)
    html = client.get(change_url(draft)).content.decode()
    assert "correction_note" not in html
    response = post_edit(client, draft, dek="Changed.", is_correction="on", correction_note=NOTE)
    assert response.status_code == 302
    assert not Correction.objects.exists()


def test_the_services_refusal_after_a_valid_form_rolls_the_edit_back(editor, profile, monkeypatch):
    """The service has the last word (on the saved row): its refusal comes back as a form error, nothing saved."""
    monkeypatch.setattr(InstitutionChangeForm, "_early_refusal", lambda self, cleaned: "")
    response = post_edit(client_for(editor), profile, is_correction="on", correction_note=NOTE)
    assert response.status_code == 200
    assert any("Nothing readers see changed in this save" in error for error in form_errors(response))
    assert not Correction.objects.exists()
    assert Institution.objects.get(pk=profile.pk).version == profile.version


def test_a_failed_save_leaves_no_correction(editor, profile):
    def failing_inlines():
        raise RuntimeError("an inline row failed to save")

    fresh = Institution.objects.get(pk=profile.pk)
    fresh.dek = "Builds 3.5 GW of racks."
    with pytest.raises(RuntimeError):
        services.save_institution(institution=fresh, user=editor, form_version=fresh.version, correction_note=NOTE,
                                  save_children=failing_inlines)
    assert not Correction.objects.exists()
    assert Institution.objects.get(pk=profile.pk).dek == "Builds 35 GW of racks."


def test_a_new_profile_cannot_be_a_correction(editor):
    with pytest.raises(CorrectionRefused, match="nothing to correct"):
        services.save_institution(institution=Institution(name="New", slug="new", dek="New."), user=editor,
                                  correction_note=NOTE)
    assert not Institution.objects.filter(slug="new").exists()


def test_a_correction_enters_the_change_log_as_a_change_of_its_profile(editor, profile):
    Correction.objects.create(institution=profile, note=NOTE)
    last = Change.objects.order_by("-seq").first()
    assert (last.kind, last.object_id, last.institution_id) == (Change.Kind.INSTITUTION, profile.pk, profile.pk)


# --- what readers see ------------------------------------------------------------------------------------------


def test_correction_shows_at_the_top_of_the_profile_newest_first(client, editor, profile):
    correct(profile, editor, note="First note.")
    correct(profile, editor, note="Second note.", dek="Builds 3.6 GW of racks.")
    html = client.get(profile.get_absolute_url()).content.decode()
    today = timezone.localtime().strftime("%-d %B %Y")
    assert f"{today}</time>:</strong> Second note." in html
    assert html.index("Second note.") < html.index("First note.") < html.index('id="at-a-glance"')
    assert 'id="corrections"' in html


def test_a_correction_appears_on_a_cached_profile_page_at_once(client, editor, profile, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = settings.BTW_FRAGMENT_CACHE_TIMEOUT = 300
    assert NOTE not in client.get(profile.get_absolute_url()).content.decode()
    correct(profile, editor)
    assert NOTE in client.get(profile.get_absolute_url()).content.decode()


def test_a_profile_without_corrections_shows_no_corrections_notice(client, profile):
    assert 'id="corrections"' not in client.get(profile.get_absolute_url()).content.decode()


def test_correction_is_in_the_profiles_feed_as_written(client, editor, profile):
    correct(profile, editor, note="Said *35* GW [^ev:1] & <b>more</b>; it is 3.5 GW.")
    body = client.get(reverse("feed_profile", args=[profile.slug])).content.decode()
    assert "<title>Correction: Ohio Rack Works</title>" in body
    assert "Said *35* GW [^ev:1] &amp;amp; &amp;lt;b&amp;gt;more&amp;lt;/b&amp;gt;; it is 3.5 GW." in body
    assert "/profiles/ohio-rack-works/#corrections</link>" in body


def test_correction_is_in_the_followers_digest(editor, profile):
    member = strategic_member()
    Follow.objects.create(user=member, institution=profile)
    row = WatchSettings.objects.create(user=member, frequency=WatchSettings.Frequency.DAILY)
    correct(profile, editor)
    mail.outbox = []
    assert watch.send_digest(row.pk) > 0
    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert "Correction notice on the profile" in message.body and NOTE in message.body
    assert NOTE in html and "#corrections" in html


def test_correction_is_a_correction_comment_in_the_json_ld_with_dates(client, editor, profile):
    reviewed = timezone.now() - datetime.timedelta(days=2)
    Institution.objects.filter(pk=profile.pk).update(last_verified_at=reviewed)
    correct(profile, editor)
    data = json_ld_of(client.get(profile.get_absolute_url()).content.decode())
    page = next(node for node in data["@graph"] if node["@type"] == "WebPage")
    [comment] = page["correction"]
    correction = Correction.objects.get()
    assert comment == {"@type": "CorrectionComment", "text": NOTE,
                       "datePublished": correction.published_at.isoformat()}
    assert page["dateModified"] == Institution.objects.get(pk=profile.pk).last_updated.isoformat()
    assert page["lastReviewed"] == reviewed.isoformat()
    assert schema_problems(data["@graph"]) == []


def test_json_ld_has_no_correction_property_without_corrections(client, profile):
    data = json_ld_of(client.get(profile.get_absolute_url()).content.decode())
    page = next(node for node in data["@graph"] if node["@type"] == "WebPage")
    assert "correction" not in page and "dateModified" in page


@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_profile_page_costs_the_same_queries_with_1_and_200_corrections(
    settings, member_client, client, editor, kind, django_assert_max_num_queries
):
    """Corrections come with the page's other lists, in its one query."""
    settings.BTW_PAGE_CACHE_TIMEOUT = settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    reader = member_client() if kind == "member" else client
    for n in (1, 200):
        institution = InstitutionFactory()
        Correction.objects.bulk_create(
            [Correction(institution=institution, note=f"Correction number {k}.") for k in range(n)]
        )
        url = institution.get_absolute_url()
        reader.get(url)
        with django_assert_max_num_queries(PROFILE_BUDGET[kind]):
            html = reader.get(url).content.decode()
        assert len(re.findall(r'<li class="correction">', html)) == n


def test_json_ld_note_cannot_close_its_script_block(client, editor, profile):
    correct(profile, editor, note="Wrong figure </script><script>alert(1)</script> fixed.")
    html = client.get(profile.get_absolute_url()).content.decode()
    data = json_ld_of(html)
    page = next(node for node in data["@graph"] if node["@type"] == "WebPage")
    assert page["correction"][0]["text"] == "Wrong figure </script><script>alert(1)</script> fixed."
    assert "<script>alert(1)" not in html
    assert json.dumps(page["correction"][0]["text"])  # valid JSON round trip
