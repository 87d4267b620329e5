"""The analyst admin through its real pages: who may list, open, add and change which profile.

Forms are posted the way a browser would: `admin_form_data()` reads every input of the
rendered admin form (management forms, hidden version, split date-times, selected options),
so a test changes only the fields it is about.
"""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from membership import gating
from membership.models import Tier
from profiles.models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    HistoricalInstitution,
    Institution,
    Relationship,
    ReviewRecord,
)

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    UserFactory,
    tier,
)
from .html_forms import form_data

pytestmark = pytest.mark.django_db


# --- helpers: post admin forms the way a browser does ---------------------------------------


def admin_form_data(response) -> dict:
    """The data a browser would post from the admin add/change form in `response`."""
    assert response.status_code == 200, response.status_code
    opts = response.context["opts"]
    return form_data(response.content.decode(), f"{opts.model_name}_form")


def add_inline_row(data: dict, prefix: str, **values) -> int:
    """Append one new row to the inline formset `prefix`; returns its index."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for field, value in values.items():
        data[f"{prefix}-{index}-{field}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    return index


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def form_errors(response) -> list[str]:
    """Every error message on a re-displayed admin form (main form and inline rows)."""
    messages = [str(e) for e in response.context["errors"]]
    for inline in response.context["inline_admin_formsets"]:
        messages += [str(e) for e in inline.formset.non_form_errors()]
        for form in inline.formset.forms:
            for errors in form.errors.values():
                messages += [str(e) for e in errors]
    return messages


def all_error_text(response) -> str:
    text = " ".join(form_errors(response))
    form = response.context["adminform"].form
    text += " " + " ".join(str(e) for errors in form.errors.values() for e in errors)
    return text


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def lead(staff_factory):
    return staff_factory("Analysts", "Lead analysts")


@pytest.fixture
def assigned(analyst):
    """A published profile assigned to the `analyst`."""
    institution = InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


@pytest.fixture
def unassigned():
    return InstitutionFactory(name="Verisign", slug="verisign")


def login(client, user):
    client.force_login(user)
    return client


# --- listing and opening ----------------------------------------------------------------------


def test_analyst_changelist_lists_only_assigned_profiles(client, analyst, assigned, unassigned):
    response = login(client, analyst).get(changelist_url(Institution))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [assigned]


def test_lead_analyst_changelist_lists_every_profile(client, lead, assigned, unassigned):
    response = login(client, lead).get(changelist_url(Institution))
    assert set(response.context["cl"].result_list) == {assigned, unassigned}


def test_moderator_changelist_lists_every_profile_read_only(client, moderator, assigned, unassigned):
    response = login(client, moderator).get(changelist_url(Institution))
    assert set(response.context["cl"].result_list) == {assigned, unassigned}
    assert response.context["has_add_permission"] is False


def test_reader_cannot_reach_the_admin(client, member_factory, assigned):
    response = login(client, member_factory()).get(change_url(assigned))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_change_form_groups_fields_like_the_profile_page(client, analyst, assigned):
    response = login(client, analyst).get(change_url(assigned))
    assert response.status_code == 200
    names = [fieldset.name for fieldset in response.context["adminform"]]
    assert names == ["Identity & at a glance", "Story", "Domain", "Assessment", "Correction", "Publishing"]
    prefixes = {inline.formset.prefix for inline in response.context["inline_admin_formsets"]}
    assert prefixes == {"evidence", "relationships_out", "watchpoints", "timeline", "faqs", "related_links",
                        "briefings", "identifiers"}
    assert f'name="loaded_version" value="{assigned.version}"' in response.content.decode()


def test_analyst_gets_403_for_an_unassigned_profile(client, analyst, unassigned):
    login(client, analyst)
    assert client.get(change_url(unassigned)).status_code == 403
    data = {"name": "Hijacked", "slug": unassigned.slug, "loaded_version": unassigned.version}
    assert client.post(change_url(unassigned), data).status_code == 403
    history = reverse("admin:profiles_institution_history", args=[unassigned.pk])
    assert client.get(history).status_code in (403, 404)
    unassigned.refresh_from_db()
    assert unassigned.name == "Verisign"


def test_missing_profile_is_not_an_error(client, analyst):
    response = login(client, analyst).get(reverse("admin:profiles_institution_change", args=[999_999]))
    assert response.status_code in (302, 404)


# --- changing ----------------------------------------------------------------------------------


def test_assigned_analyst_saves_profile_and_version_moves(client, analyst, assigned):
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    data["dek"] = "Frankfurt's exchange carries peak traffic above 17 Tbit/s across hundreds of networks."
    response = client.post(change_url(assigned), data)
    assert response.status_code == 302, form_errors(response)
    assigned.refresh_from_db()
    assert assigned.dek.startswith("Frankfurt's exchange")
    assert assigned.version == 2
    assert assigned.last_edited_by == analyst
    assert HistoricalInstitution.objects.filter(id=assigned.pk).latest("history_date").history_user == analyst


def test_lead_analyst_changes_any_profile(client, lead, unassigned):
    login(client, lead)
    data = admin_form_data(client.get(change_url(unassigned)))
    data["name"] = "Verisign (.com and .net registry)"
    assert client.post(change_url(unassigned), data).status_code == 302
    unassigned.refresh_from_db()
    assert unassigned.name == "Verisign (.com and .net registry)"


def test_moderator_sees_profile_but_cannot_change_its_fields(client, moderator, assigned):
    login(client, moderator)
    response = client.get(change_url(assigned))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="dek"' not in response.content.decode()  # read-only display, no inputs
    data = {"name": "Renamed by a moderator", "slug": assigned.slug, "dek": "x", "loaded_version": assigned.version}
    assert client.post(change_url(assigned), data).status_code == 403
    assigned.refresh_from_db()
    assert assigned.name == "DE-CIX Frankfurt"


def test_inlines_follow_the_parent_profile(client, analyst, moderator, assigned):
    EvidenceItemFactory(institution=assigned)
    analyst_view = login(client, analyst).get(change_url(assigned))
    evidence = next(i for i in analyst_view.context["inline_admin_formsets"] if i.formset.prefix == "evidence")
    assert evidence.has_add_permission and evidence.has_change_permission
    client.logout()
    moderator_view = login(client, moderator).get(change_url(assigned))
    evidence = next(i for i in moderator_view.context["inline_admin_formsets"] if i.formset.prefix == "evidence")
    assert not evidence.has_add_permission and not evidence.has_change_permission


# --- adding -----------------------------------------------------------------------------------


def test_analyst_adds_profile_and_is_assigned_to_it(client, analyst):
    login(client, analyst)
    data = admin_form_data(client.get(add_url(Institution)))
    data.update(
        name="Equinix", slug="equinix", dek="Carrier-neutral data centres and interconnection in 70+ metros.",
        status="draft",
    )
    add_inline_row(
        data, "evidence", url="https://investor.equinix.com/news/annual-report-2024", publisher="Equinix",
        title="Annual report 2024", kind="filing", retrieved_at="2025-11-20", claim="Operates 260+ data centres.",
    )
    response = client.post(add_url(Institution), data)
    assert response.status_code == 302, form_errors(response)
    equinix = Institution.objects.get(slug="equinix")
    assert analyst.has_perm("profiles.change_institution", equinix)
    assert (equinix.version, equinix.last_edited_by) == (1, analyst)
    [evidence] = equinix.evidence.all()
    assert evidence.review_state == EvidenceItem.Review.SUBMITTED
    assert evidence.submitted_by == analyst
    # and the new profile is now in the analyst's admin
    assert client.get(change_url(equinix)).status_code == 200


def test_moderator_cannot_add_profiles(client, moderator):
    assert login(client, moderator).get(add_url(Institution)).status_code == 403


# --- evidence in the inline ------------------------------------------------------------------


def test_new_evidence_is_submitted_by_the_analyst_whatever_the_post_says(client, analyst, assigned, moderator):
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    add_inline_row(
        data, "evidence", url="https://www.de-cix.net/en/about-de-cix/media-center/press-releases/record",
        publisher="DE-CIX", title="New traffic record in Frankfurt", kind="press-release",
        retrieved_at="2025-11-20", claim="Peak traffic set a new record.",
        review_state="approved", reviewed_by=str(moderator.pk), submitted_by=str(moderator.pk),
    )
    response = client.post(change_url(assigned), data)
    assert response.status_code == 302, form_errors(response)
    [item] = assigned.evidence.all()
    assert item.review_state == EvidenceItem.Review.SUBMITTED
    assert item.submitted_by == analyst and item.reviewed_by is None
    assert ReviewRecord.objects.for_item(item).get().to_state == EvidenceItem.Review.SUBMITTED


def test_editing_approved_evidence_claim_sends_it_back_to_review(client, analyst, assigned, moderator):
    item = EvidenceItemFactory(institution=assigned, reviewed_by=moderator, submitted_by=analyst)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    data["evidence-0-claim"] = "A stronger claim than the source makes."
    assert client.post(change_url(assigned), data).status_code == 302
    item.refresh_from_db()
    assert item.review_state == EvidenceItem.Review.SUBMITTED


def test_approved_evidence_cannot_be_deleted_from_the_inline(client, analyst, assigned):
    EvidenceItemFactory(institution=assigned)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    data["evidence-0-DELETE"] = "on"
    response = client.post(change_url(assigned), data)
    assert response.status_code == 200
    assert "retract" in all_error_text(response)
    assert assigned.evidence.count() == 1


def test_faq_orders_can_be_swapped(client, analyst, assigned):
    first = FAQItemFactory(institution=assigned, order=1, question="Why is it profiled?")
    second = FAQItemFactory(institution=assigned, order=2, question="What should readers watch?")
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    data["faqs-0-order"], data["faqs-1-order"] = "2", "1"
    response = client.post(change_url(assigned), data)
    assert response.status_code == 302, form_errors(response)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.order, second.order) == (2, 1)


# --- view on site, history ---------------------------------------------------------------------


def test_view_on_site_links_to_the_public_page_even_for_drafts(client, analyst):
    draft = InstitutionFactory(slug="ofcom", status=Institution.Status.DRAFT, published_at=None)
    assign_perm("profiles.change_institution", analyst, draft)
    response = login(client, analyst).get(change_url(draft))
    html = response.content.decode()
    assert 'href="/profiles/ofcom/"' in html
    assert "Preview on site" in html


def test_published_profile_says_view_on_site(client, analyst, assigned):
    html = login(client, analyst).get(change_url(assigned)).content.decode()
    assert f'href="{assigned.get_absolute_url()}"' in html and "View on site" in html


def test_history_is_readable_but_cannot_be_reverted(client, analyst, assigned):
    login(client, analyst)
    data = admin_form_data(client.get(change_url(assigned)))
    data["dek"] = "A second version."
    client.post(change_url(assigned), data)
    history = reverse("admin:profiles_institution_history", args=[assigned.pk])
    assert client.get(history).status_code == 200
    record = HistoricalInstitution.objects.filter(id=assigned.pk).earliest("history_date")
    revert = reverse("admin:profiles_institution_simple_history", args=[assigned.pk, record.history_id])
    assert client.get(revert).status_code == 200
    assert client.post(revert, {"name": "old"}).status_code == 403


# --- object permissions: assigning analysts, granting briefings ---------------------------------


def test_lead_assigns_an_analyst_on_the_object_permissions_page(client, lead, unassigned, staff_factory):
    newcomer = staff_factory("Analysts")
    login(client, lead)
    url = reverse("admin:profiles_institution_permissions_manage_user", args=[unassigned.pk, newcomer.pk])
    response = client.post(url, {"permissions": ["change_institution"]})
    assert response.status_code == 302
    assert newcomer.has_perm("profiles.change_institution", unassigned)


def test_analyst_cannot_assign_analysts(client, analyst, assigned, staff_factory):
    other = staff_factory("Analysts")
    login(client, analyst)
    url = reverse("admin:profiles_institution_permissions_manage_user", args=[assigned.pk, other.pk])
    response = client.post(url, {"permissions": ["change_institution"]})
    assert response.status_code in (302, 403)
    assert not other.has_perm("profiles.change_institution", assigned)
    assert "Analysts &amp; moderators" not in client.get(change_url(assigned)).content.decode()


def test_staff_grant_one_reader_one_briefing(client, analyst, assigned):
    briefing = BriefingFactory(institution=assigned, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    reader = UserFactory(verified=True)
    assert not gating.can_view(reader, briefing)
    login(client, analyst)
    url = reverse("admin:profiles_briefing_permissions_manage_user", args=[briefing.pk, reader.pk])
    refused = client.post(url, {"permissions": ["change_briefing"]})
    assert refused.status_code == 200 and not refused.context["form"].is_valid()
    assert client.post(url, {"permissions": ["view_briefing"]}).status_code == 302
    reader = type(reader).objects.get(pk=reader.pk)
    assert gating.can_view(reader, briefing)


def test_briefing_grants_only_on_profiles_the_analyst_edits(client, analyst, unassigned):
    briefing = BriefingFactory(institution=unassigned)
    reader = UserFactory()
    login(client, analyst)
    url = reverse("admin:profiles_briefing_permissions_manage_user", args=[briefing.pk, reader.pk])
    assert client.post(url, {"permissions": ["view_briefing"]}).status_code in (403, 404)
    assert not reader.has_perm("profiles.view_briefing", briefing)


def test_group_can_be_granted_a_briefing(client, lead, assigned):
    briefing = BriefingFactory(institution=assigned)
    group = Group.objects.create(name="Board observers")
    login(client, lead)
    url = reverse("admin:profiles_briefing_permissions_manage_group", args=[briefing.pk, group.pk])
    assert client.post(url, {"permissions": ["view_briefing"]}).status_code == 302
    member = UserFactory()
    member.groups.add(group)
    assert member.has_perm("profiles.view_briefing", briefing)


# --- child admins and autocomplete follow the same scope ---------------------------------------


def test_child_admin_lists_only_assigned_profiles_children(client, analyst, assigned, unassigned):
    mine = EvidenceItemFactory(institution=assigned)
    theirs = EvidenceItemFactory(institution=unassigned)
    login(client, analyst)
    response = client.get(changelist_url(EvidenceItem))
    assert list(response.context["cl"].result_list) == [mine]
    assert client.get(change_url(theirs)).status_code == 403
    assert client.get(change_url(mine)).status_code == 200


def test_child_admin_never_moves_evidence_to_another_profile(client, analyst, assigned, unassigned):
    """The profile is read-only on an existing item's page: a forged value is ignored."""
    item = EvidenceItemFactory(institution=assigned, review_state=EvidenceItem.Review.SUBMITTED)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(item)))
    data["institution"] = str(unassigned.pk)
    client.post(change_url(item), data)
    item.refresh_from_db()
    assert item.institution == assigned


def test_child_admin_add_form_refuses_an_unassigned_profile(client, analyst, assigned, unassigned):
    login(client, analyst)
    response = client.get(reverse("admin:profiles_evidenceitem_add"))
    assert unassigned not in response.context["adminform"].form.fields["institution"].queryset
    assert assigned in response.context["adminform"].form.fields["institution"].queryset


def test_moderator_reads_evidence_but_does_not_edit_it(client, moderator, assigned):
    item = EvidenceItemFactory(institution=assigned, review_state=EvidenceItem.Review.SUBMITTED)
    login(client, moderator)
    response = client.get(change_url(item))
    assert response.status_code == 200 and response.context["has_change_permission"] is False
    assert client.post(change_url(item), {"claim": "edited"}).status_code == 403


def test_relationship_target_autocomplete_offers_every_profile(client, analyst, assigned, unassigned):
    login(client, analyst)
    url = reverse("admin:autocomplete")
    params = {"app_label": "profiles", "model_name": "relationship", "term": ""}
    targets = client.get(url, {**params, "field_name": "target"}).json()["results"]
    assert {r["text"] for r in targets} == {"DE-CIX Frankfurt", "Verisign"}
    sources = client.get(url, {**params, "field_name": "source"}).json()["results"]
    assert {r["text"] for r in sources} == {"DE-CIX Frankfurt"}


# --- the changelists' query budgets (the same bound at 1 and at 200 rows) -------------------------

#: Session, user, permissions, counts, the page of rows (joined), filters: no query per row.
INSTITUTION_CHANGELIST_QUERIES = 10
#: … plus, for staff without the global permission, whether they moderate any profile (review actions).
EVIDENCE_CHANGELIST_QUERIES = 9


@pytest.mark.parametrize("rows", [1, 200])
@pytest.mark.parametrize("who", ["superuser", "analyst"])
def test_institution_changelist_query_budget(client, django_assert_max_num_queries, rows, who, request):
    user = request.getfixturevalue(who)
    editor = UserFactory(username="last-editor")
    institutions = InstitutionFactory.create_batch(rows, last_edited_by=editor)
    assign_perm("profiles.change_institution", user, Institution.objects.filter(pk__in=[i.pk for i in institutions]))
    login(client, user)
    with django_assert_max_num_queries(INSTITUTION_CHANGELIST_QUERIES):
        response = client.get(changelist_url(Institution))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows


@pytest.mark.parametrize("rows", [1, 200])
@pytest.mark.parametrize("who", ["superuser", "analyst"])
def test_evidence_changelist_query_budget(client, django_assert_max_num_queries, rows, who, request, moderator):
    user = request.getfixturevalue(who)
    profiles = InstitutionFactory.create_batch(3)
    assign_perm("profiles.change_institution", user, Institution.objects.filter(pk__in=[p.pk for p in profiles]))
    for n in range(rows):
        EvidenceItemFactory(
            institution=profiles[n % 3], submitted_by=user, reviewed_by=moderator,
            required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG) if n % 2 else None,
        )
    login(client, user)
    # A serving process's steady state: the content types guardian resolves are cached after the first
    # request in the process (when this test ran first in its worker, it counted that look-up too).
    client.get(changelist_url(EvidenceItem))
    with django_assert_max_num_queries(EVIDENCE_CHANGELIST_QUERIES):
        response = client.get(changelist_url(EvidenceItem))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows


def test_relationship_changelist_query_budget(client, django_assert_max_num_queries, superuser):
    for _ in range(30):
        RelationshipFactory()
    login(client, superuser)
    with django_assert_max_num_queries(EVIDENCE_CHANGELIST_QUERIES):
        assert client.get(changelist_url(Relationship)).status_code == 200


def test_briefing_and_faq_changelists_render(client, superuser, assigned):
    BriefingFactory(institution=assigned)
    FAQItemFactory(institution=assigned)
    login(client, superuser)
    assert client.get(changelist_url(Briefing)).status_code == 200
    assert client.get(changelist_url(FAQItem)).status_code == 200


def test_scheduled_profile_form_says_when_readers_see_it(client, lead):
    scheduled = InstitutionFactory(published_at=timezone.now() + datetime.timedelta(days=3))
    html = login(client, lead).get(change_url(scheduled)).content.decode()
    assert "Scheduled: readers see this profile from" in html


def test_reviewed_evidence_cannot_be_deleted_from_its_own_page(client, analyst, assigned):
    approved = EvidenceItemFactory(institution=assigned)
    pending = EvidenceItemFactory(institution=assigned, review_state=EvidenceItem.Review.SUBMITTED)
    login(client, analyst)
    delete = reverse("admin:profiles_evidenceitem_delete", args=[approved.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    bulk = client.post(changelist_url(EvidenceItem), {"action": "delete_selected", "_selected_action": [approved.pk],
                                                      "post": "yes"})
    assert bulk.status_code in (200, 302, 403)
    assert EvidenceItem.objects.filter(pk=approved.pk).exists()
    delete = reverse("admin:profiles_evidenceitem_delete", args=[pending.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not EvidenceItem.objects.filter(pk=pending.pk).exists()
