"""Bad input is refused: by validators, by the admin's forms (a message, nothing saved) and, when
something gets past both, by the database's own constraints (IntegrityError)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from membership.models import Tier
from profiles.models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Institution,
    RelatedLink,
    Relationship,
    TimelineEvent,
)
from profiles.validators import validate_http_url, validate_not_far_future

from .factories import (
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelatedLinkFactory,
    tier,
)
from .test_admin import add_inline_row, add_url, admin_form_data, all_error_text, change_url

pytestmark = pytest.mark.django_db

BAD_URLS = [
    "javascript:alert(document.cookie)",
    "ftp://files.example.org/report.pdf",
    "HTTPS://www.reuters.com/technology/",
    "data:text/html,<script>alert(1)</script>",
    "//www.example.org/no-scheme",
]
#: What the admin refuses (its URL field turns a scheme-less "//host/path" into https://host/path).
ADMIN_BAD_URLS = BAD_URLS[:4]


# --- validators -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", BAD_URLS)
def test_http_url_validator_rejects(url):
    with pytest.raises(ValidationError):
        validate_http_url(url)


@pytest.mark.parametrize("url", ["https://www.foxconn.com/en-us/press-center", "http://www.ripe.net/"])
def test_http_url_validator_accepts_plain_web_links(url):
    validate_http_url(url)


def test_timeline_validator_refuses_dates_more_than_a_year_ahead():
    validate_not_far_future(timezone.localdate() + datetime.timedelta(days=300))
    with pytest.raises(ValidationError):
        validate_not_far_future(timezone.localdate() + datetime.timedelta(days=400))


@pytest.mark.parametrize("url", BAD_URLS)
def test_model_full_clean_rejects_bad_evidence_urls(url):
    item = EvidenceItemFactory.build(institution=InstitutionFactory(), url=url)
    with pytest.raises(ValidationError) as raised:
        item.full_clean()
    assert "url" in raised.value.message_dict


def test_model_full_clean_rejects_bad_archive_and_related_link_urls():
    institution = InstitutionFactory()
    item = EvidenceItemFactory.build(institution=institution, archive_url="ftp://archive.example.org/x")
    with pytest.raises(ValidationError) as raised:
        item.full_clean()
    assert "archive_url" in raised.value.message_dict
    link = RelatedLink(institution=institution, url="javascript:alert(1)")
    with pytest.raises(ValidationError) as raised:
        link.full_clean()
    assert "url" in raised.value.message_dict


# --- the database holds the rules too ---------------------------------------------------------------


def _violates(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_db_refuses_non_http_evidence_url():
    institution = InstitutionFactory()
    _violates(lambda: EvidenceItem.objects.create(
        institution=institution, url="javascript:alert(1)", publisher="x", title="x", claim="x"
    ))


def test_db_refuses_relationship_to_itself():
    institution = InstitutionFactory()
    _violates(lambda: Relationship.objects.create(source=institution, target=institution, kind="partner"))


def test_db_refuses_related_link_with_both_or_neither_target():
    institution, other = InstitutionFactory(), InstitutionFactory()
    _violates(lambda: RelatedLink.objects.create(institution=institution, target=other, url="https://e.org/"))
    _violates(lambda: RelatedLink.objects.create(institution=institution))


def test_db_refuses_two_faq_items_with_one_order():
    institution = InstitutionFactory()
    FAQItemFactory(institution=institution, order=1)
    _violates(lambda: FAQItem.objects.create(institution=institution, order=1, question="q", answer="a"))


def test_db_refuses_published_profile_without_publication_time():
    institution = InstitutionFactory()
    _violates(lambda: Institution.objects.filter(pk=institution.pk).update(published_at=None))


def test_db_refuses_duplicate_slugs():
    InstitutionFactory(slug="icann")
    _violates(lambda: Institution.objects.create(name="ICANN again", slug="icann", dek="x"))


# --- through the admin: a message on the form, and nothing saved --------------------------------------


@pytest.fixture
def editor(client, staff_factory):
    user = staff_factory("Analysts")
    client.force_login(user)
    return user


@pytest.fixture
def profile(editor):
    institution = InstitutionFactory(name="RIPE NCC", slug="ripe-ncc")
    assign_perm("profiles.change_institution", editor, institution)
    return institution


@pytest.fixture
def other_profile():
    return InstitutionFactory(name="ICANN", slug="icann")


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (Institution, EvidenceItem, Relationship, FAQItem, TimelineEvent, RelatedLink, Briefing)
    }


def evidence_row(**overrides):
    row = {
        "url": "https://www.ripe.net/publications/news/ipv4-waiting-list/",
        "publisher": "RIPE NCC",
        "title": "IPv4 waiting list update",
        "kind": "statement",
        "retrieved_at": "2025-11-20",
        "claim": "The RIPE NCC allocates recovered IPv4 space from a waiting list.",
    }
    return {**row, **overrides}


def post_with_row(client, profile, prefix, row):
    data = admin_form_data(client.get(change_url(profile)))
    add_inline_row(data, prefix, **row)
    return client.post(change_url(profile), data)


def assert_refused(response, before, *expected):
    assert response.status_code == 200, "the form should come back with errors, not redirect"
    text = all_error_text(response)
    for fragment in expected:
        assert fragment in text, text
    assert counts() == before


@pytest.mark.parametrize("url", ADMIN_BAD_URLS)
def test_admin_refuses_bad_evidence_url(client, profile, url):
    before = counts()
    assert_refused(post_with_row(client, profile, "evidence", evidence_row(url=url)), before)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://archive.example.org/", "HTTPS://archive.org/web/"])
def test_admin_refuses_bad_archive_url(client, profile, url):
    before = counts()
    assert_refused(post_with_row(client, profile, "evidence", evidence_row(archive_url=url)), before)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://files.example.org/", "HTTPS://btw.media/"])
def test_admin_refuses_bad_related_link_url(client, profile, url):
    before = counts()
    assert_refused(post_with_row(client, profile, "related_links", {"order": "1", "url": url}), before)


def test_admin_refuses_related_link_with_both_target_and_url(client, profile, other_profile):
    before = counts()
    row = {"order": "1", "target": str(other_profile.pk), "url": "https://btw.media/all/"}
    assert_refused(post_with_row(client, profile, "related_links", row), before, "one of the two")


def test_admin_refuses_related_link_with_neither_target_nor_url(client, profile):
    before = counts()
    assert_refused(post_with_row(client, profile, "related_links", {"order": "1", "title": "Also read"}), before,
                   "external URL")


def test_admin_refuses_relationship_to_itself(client, profile):
    before = counts()
    row = {"kind": "partner", "target": str(profile.pk)}
    assert_refused(post_with_row(client, profile, "relationships_out", row), before, "with itself")


def test_admin_refuses_duplicate_relationship_rows(client, profile, other_profile):
    before = counts()
    data = admin_form_data(client.get(change_url(profile)))
    add_inline_row(data, "relationships_out", kind="depends-on", target=str(other_profile.pk))
    add_inline_row(data, "relationships_out", kind="depends-on", target=str(other_profile.pk))
    assert_refused(client.post(change_url(profile), data), before, "already has")


def test_admin_refuses_faq_order_clash_between_new_rows(client, profile):
    before = counts()
    data = admin_form_data(client.get(change_url(profile)))
    add_inline_row(data, "faqs", order="1", question="Why is RIPE NCC profiled?", answer="It allocates numbers.")
    add_inline_row(data, "faqs", order="1", question="What is public?", answer="Its role and evidence.")
    assert_refused(client.post(change_url(profile), data), before, "its own order")


def test_admin_refuses_faq_order_clash_with_a_row_saved_meanwhile(client, profile):
    data = admin_form_data(client.get(change_url(profile)))
    FAQItemFactory(institution=profile, order=1)  # a colleague's row, not in this form
    before = counts()
    add_inline_row(data, "faqs", order="1", question="What should readers watch?", answer="Policy votes.")
    data["loaded_version"] = str(Institution.objects.get(pk=profile.pk).version)
    assert_refused(client.post(change_url(profile), data), before, "its own order")


def test_admin_refuses_timeline_date_more_than_a_year_ahead(client, profile):
    before = counts()
    far = (timezone.localdate() + datetime.timedelta(days=500)).isoformat()
    row = {"date": far, "title": "Policy vote"}
    assert_refused(post_with_row(client, profile, "timeline", row), before, "more than a year ahead")


def test_admin_refuses_briefing_with_the_public_tier(client, profile):
    before = counts()
    row = {"title": "Deeper context", "body": "Members only.", "required_tier": str(tier("public").pk),
           "order": "0"}
    assert_refused(post_with_row(client, profile, "briefings", row), before, "valid choice")


def test_admin_accepts_a_members_tier_briefing(client, profile):
    row = {"title": "Deeper context", "body": "Members only.", "order": "0",
           "required_tier": str(tier(Tier.STRATEGIC_CIRCLE_SLUG).pk)}
    assert post_with_row(client, profile, "briefings", row).status_code == 302
    assert profile.briefings.get().required_tier.slug == Tier.STRATEGIC_CIRCLE_SLUG


def test_briefing_model_refuses_the_public_tier():
    briefing = Briefing(institution=InstitutionFactory(), title="t", body="b", required_tier=tier("public"))
    with pytest.raises(ValidationError) as raised:
        briefing.full_clean()
    assert "required_tier" in raised.value.message_dict


def test_admin_refuses_duplicate_slug_on_add(client, editor, other_profile):
    before = counts()
    data = admin_form_data(client.get(add_url(Institution)))
    data.update(name="ICANN (copy)", slug="icann", dek="A second profile with a taken address.")
    response = client.post(add_url(Institution), data)
    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors
    assert counts() == before


def test_admin_refuses_evidence_from_another_profile_on_a_timeline_event(client, profile, other_profile):
    foreign = EvidenceItemFactory(institution=other_profile)
    before = counts()
    row = {"date": "2025-11-20", "title": "Partnership announced", "evidence": str(foreign.pk)}
    response = post_with_row(client, profile, "timeline", row)
    assert response.status_code == 200
    assert counts() == before


def test_admin_accepts_a_good_related_link(client, profile, other_profile):
    row = {"order": "1", "target": str(other_profile.pk)}
    assert post_with_row(client, profile, "related_links", row).status_code == 302
    assert profile.related_links.get().target == other_profile


def test_related_link_model_clean_requires_one_target():
    link = RelatedLinkFactory.build(institution=InstitutionFactory(), url="")
    with pytest.raises(ValidationError):
        link.full_clean()


# --- the publication rule, one form each ----------------------------------------------------------


def test_published_and_scheduled_filters_agree_with_the_row_methods():
    """`published()`/`scheduled()` (SQL) and `is_published()`/`is_scheduled()` (one row) are one rule."""
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    rows = [
        InstitutionFactory(status=Institution.Status.PUBLISHED, published_at=now - hour),
        InstitutionFactory(status=Institution.Status.PUBLISHED, published_at=now + hour),
        InstitutionFactory(status=Institution.Status.PUBLISHED, published_at=now),
        InstitutionFactory(status=Institution.Status.DRAFT, published_at=None),
        InstitutionFactory(status=Institution.Status.DRAFT, published_at=now - hour),
        InstitutionFactory(status=Institution.Status.ARCHIVED, published_at=now - hour),
    ]
    for at in (now - 2 * hour, now, now + 2 * hour):
        assert set(Institution.objects.published(at)) == {i for i in rows if i.is_published(at)}
        assert set(Institution.objects.scheduled(at)) == {i for i in rows if i.is_scheduled(at)}
    assert [i.is_published(now) for i in rows] == [True, False, True, False, False, False]
    assert [i.is_scheduled(now) for i in rows] == [False, True, False, False, False, False]


def test_publication_time_publishes_now_only_a_published_profile_without_a_time():
    at = timezone.now()
    when = at + datetime.timedelta(days=2)
    assert Institution.publication_time(Institution.Status.PUBLISHED, None, at) == at
    assert Institution.publication_time(Institution.Status.PUBLISHED, when, at) == when
    assert Institution.publication_time(Institution.Status.DRAFT, None, at) is None
    assert Institution.publication_time(Institution.Status.ARCHIVED, when, at) == when


def test_saving_a_published_profile_without_a_time_publishes_it_now():
    before = timezone.now()
    profile = InstitutionFactory(status=Institution.Status.PUBLISHED, published_at=None)
    assert profile.published_at >= before
    assert profile.public_updated_at == profile.published_at
    assert Institution.objects.published().filter(pk=profile.pk).exists()


def test_saving_a_profile_derives_its_own_fields_only():
    """No timeline entry and no public date move from a plain save: those are services' work."""
    profile = InstitutionFactory()
    stamp = profile.public_updated_at
    profile.dek = "Changed by a plain save."
    profile.save()
    profile.refresh_from_db()
    assert profile.public_updated_at == stamp
    assert not TimelineEvent.objects.filter(institution=profile).exists()


def test_open_to_everyone_is_the_gates_verdict_for_an_anonymous_reader():
    from django.contrib.auth.models import AnonymousUser

    profile = InstitutionFactory()
    public = EvidenceItemFactory(institution=profile)
    EvidenceItemFactory(institution=profile, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    EvidenceItemFactory(institution=profile, review_state=EvidenceItem.Review.SUBMITTED)
    everyone = EvidenceItem.objects.filter(institution=profile).open_to_everyone()
    assert list(everyone) == [public]
    assert set(everyone) == set(EvidenceItem.objects.filter(institution=profile).approved().visible_to(AnonymousUser()))


# --- recording a public change (profiles.public_changes) ------------------------------------------


def test_record_public_change_moves_the_date_and_writes_one_timeline_entry_a_day():
    from profiles.public_changes import PROFILE_UPDATED_TITLE, record_public_change

    profile = InstitutionFactory(published_at=timezone.now() - datetime.timedelta(days=3))
    at = timezone.now()
    record_public_change(profile, summary="Source added.", at=at)
    record_public_change(profile, summary="Relationship added.", at=at)
    record_public_change(profile, summary="Source added.", at=at)
    profile.refresh_from_db()
    assert profile.public_updated_at == at
    [entry] = TimelineEvent.objects.filter(institution=profile, kind=TimelineEvent.Kind.PROFILE_UPDATE)
    assert entry.title == PROFILE_UPDATED_TITLE
    assert entry.text == "Source added.\nRelationship added."


def test_record_public_change_of_a_draft_writes_no_timeline_entry():
    from profiles.public_changes import record_public_change

    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    record_public_change(draft, summary="Source added.")
    assert not TimelineEvent.objects.filter(institution=draft).exists()


def test_touch_public_keeps_a_scheduled_profiles_date_at_its_publication_time():
    from profiles.public_changes import touch_public

    when = timezone.now() + datetime.timedelta(days=1)
    scheduled = InstitutionFactory(published_at=when)
    assert touch_public(scheduled, summary="Revised.") is True
    scheduled.refresh_from_db()
    assert scheduled.public_updated_at == when
    assert not TimelineEvent.objects.filter(institution=scheduled).exists()
