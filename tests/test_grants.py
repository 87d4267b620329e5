"""Who may grant which object permission to whom (`profiles.grants`), through the admin's real pages.

Every refusal has a permitted twin; every refusal leaves the permissions and the audit log as
they were, and every permitted grant or revoke leaves one audit entry per permission.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms

from audit.models import AuditEntry
from membership import gating
from membership.models import Tier
from profiles import grants, services
from profiles.models import Institution

from .factories import BriefingFactory, InstitutionFactory, UserFactory, tier

pytestmark = pytest.mark.django_db

GRANT, REVOKE = AuditEntry.Action.GRANT, AuditEntry.Action.REVOKE
#: What a browser posts when every permission is deselected: the select sends nothing, the token still goes.
NOTHING_SELECTED = {"csrfmiddlewaretoken": "test"}


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def lead(staff_factory):
    return staff_factory("Analysts", "Lead analysts", first_name="Lee", last_name="Lead")


@pytest.fixture
def other_analyst(staff_factory):
    return staff_factory("Analysts", first_name="Ana", last_name="Lyst")


@pytest.fixture
def profile():
    return InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")


def user_page(obj, user) -> str:
    name = f"admin:profiles_{obj._meta.model_name}_permissions_manage_user"
    return reverse(name, args=[obj.pk, user.pk])


def group_page(obj, group) -> str:
    return reverse(f"admin:profiles_{obj._meta.model_name}_permissions_manage_group", args=[obj.pk, group.pk])


def main_page(obj) -> str:
    return reverse(f"admin:profiles_{obj._meta.model_name}_permissions", args=[obj.pk])


def offered(response) -> set[str]:
    assert response.status_code == 200, response.status_code
    return {value for value, _label in response.context["form"].fields["permissions"].choices}


def entries(obj, action=None):
    qs = AuditEntry.objects.about(obj)
    return qs.filter(action=action) if action else qs


def perms_of(user, obj) -> set[str]:
    return set(get_user_perms(user, obj))


# --- moderation: superusers only, and never to themselves ---------------------------------------


def test_lead_cannot_grant_themselves_moderation(client, lead, profile):
    client.force_login(lead)
    assert client.get(user_page(profile, lead)).status_code == 403
    forged = client.post(user_page(profile, lead), {"permissions": ["change_institution", "moderate_evidence"]})
    assert forged.status_code == 403
    assert perms_of(lead, profile) == set()
    assert not entries(profile).exists()
    with pytest.raises(PermissionDenied, match="their own permissions"):
        grants.set_object_permissions(actor=lead, obj=profile, perms={"moderate_evidence"}, user=lead)
    assert perms_of(lead, profile) == set() and not entries(profile).exists()


def test_lead_is_offered_analyst_assignment_only(client, lead, other_analyst, profile):
    client.force_login(lead)
    assert offered(client.get(user_page(profile, other_analyst))) == {"change_institution"}


def test_superuser_is_offered_assignment_and_moderation(client, superuser, other_analyst, profile):
    client.force_login(superuser)
    assert offered(client.get(user_page(profile, other_analyst))) == {"change_institution", "moderate_evidence"}


def test_lead_cannot_grant_moderation_to_anyone(client, lead, other_analyst, profile):
    client.force_login(lead)
    forged = client.post(user_page(profile, other_analyst), {"permissions": ["moderate_evidence"]})
    assert forged.status_code == 200 and not forged.context["form"].is_valid()
    assert perms_of(other_analyst, profile) == set()
    assert not entries(profile).exists()
    with pytest.raises(PermissionDenied, match="Only superusers grant or revoke moderation"):
        grants.set_object_permissions(actor=lead, obj=profile, perms={"moderate_evidence"}, user=other_analyst)
    assert perms_of(other_analyst, profile) == set() and not entries(profile).exists()


def test_superuser_grants_and_revokes_moderation_audited(client, superuser, other_analyst, profile):
    client.force_login(superuser)
    assert client.post(user_page(profile, other_analyst), {"permissions": ["moderate_evidence"]}).status_code == 302
    assert perms_of(other_analyst, profile) == {"moderate_evidence"}
    granted = entries(profile, GRANT).get()
    assert granted.actor == superuser
    assert granted.data == {"permission": "profiles.moderate_evidence", "user": other_analyst.pk, "group": None,
                            "grantee": "Ana Lyst"}
    assert "Ana Lyst a moderator of profile DE-CIX Frankfurt" in granted.summary

    assert client.post(user_page(profile, other_analyst), NOTHING_SELECTED).status_code == 302
    assert perms_of(other_analyst, profile) == set()
    revoked = entries(profile, REVOKE).get()
    assert revoked.actor == superuser and revoked.data["permission"] == "profiles.moderate_evidence"
    assert "removed Ana Lyst as moderator" in revoked.summary


def test_lead_cannot_revoke_moderation_and_leaves_it_in_place(client, lead, superuser, other_analyst, profile):
    grants.set_object_permissions(actor=superuser, obj=profile, perms={"moderate_evidence"}, user=other_analyst)
    with pytest.raises(PermissionDenied, match="Only superusers"):
        grants.set_object_permissions(actor=lead, obj=profile, perms=set(), user=other_analyst)
    assert perms_of(other_analyst, profile) == {"moderate_evidence"}
    # The page does not offer moderation to a lead, so saving it keeps what it does not show.
    client.force_login(lead)
    assert client.post(user_page(profile, other_analyst), {"permissions": ["change_institution"]}).status_code == 302
    assert perms_of(other_analyst, profile) == {"moderate_evidence", "change_institution"}
    assert entries(profile, REVOKE).count() == 0


def test_superuser_cannot_grant_to_themselves(client, superuser, profile):
    client.force_login(superuser)
    assert client.get(user_page(profile, superuser)).status_code == 403
    assert client.post(user_page(profile, superuser), {"permissions": ["moderate_evidence"]}).status_code == 403
    with pytest.raises(PermissionDenied):
        grants.set_object_permissions(actor=superuser, obj=profile, perms={"moderate_evidence"}, user=superuser)
    assert perms_of(superuser, profile) == set()
    assert not entries(profile).exists()


def test_superuser_grants_moderation_to_another_superuser(client, superuser, profile):
    colleague = UserFactory(is_staff=True, is_superuser=True, username="second-admin")
    client.force_login(superuser)
    assert client.post(user_page(profile, colleague), {"permissions": ["moderate_evidence"]}).status_code == 302
    assert perms_of(colleague, profile) == {"moderate_evidence"}
    assert entries(profile, GRANT).get().actor == superuser


# --- analysts' assignment: lead analysts and superusers -----------------------------------------


def test_lead_assigns_and_unassigns_another_analyst_audited(client, lead, other_analyst, profile):
    client.force_login(lead)
    assert client.post(user_page(profile, other_analyst), {"permissions": ["change_institution"]}).status_code == 302
    assert other_analyst.has_perm("profiles.change_institution", profile)
    granted = entries(profile, GRANT).get()
    assert granted.actor == lead
    assert granted.summary == "Lee Lead assigned analyst Ana Lyst to profile DE-CIX Frankfurt"
    assert granted.data["permission"] == "profiles.change_institution"

    assert client.post(user_page(profile, other_analyst), NOTHING_SELECTED).status_code == 302
    assert perms_of(other_analyst, profile) == set()
    revoked = entries(profile, REVOKE).get()
    assert revoked.summary == "Lee Lead unassigned analyst Ana Lyst from profile DE-CIX Frankfurt"


def test_analyst_cannot_reach_the_institution_permissions_pages(client, analyst, other_analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)  # assigned: edits it, does not grant on it
    group = Group.objects.create(name="Desk")
    client.force_login(analyst)
    assert client.get(main_page(profile)).status_code == 403
    assert client.get(user_page(profile, other_analyst)).status_code == 403
    assert client.get(group_page(profile, group)).status_code == 403
    assert client.post(user_page(profile, other_analyst), {"permissions": ["change_institution"]}).status_code == 403
    assert perms_of(other_analyst, profile) == set()
    assert not entries(profile).exists()


def test_lead_reaches_the_institution_permissions_pages(client, lead, other_analyst, profile):
    group = Group.objects.create(name="Desk")
    client.force_login(lead)
    assert client.get(main_page(profile)).status_code == 200
    assert client.get(user_page(profile, other_analyst)).status_code == 200
    assert client.get(group_page(profile, group)).status_code == 200


# --- groups: never one the actor belongs to -------------------------------------------------------


def test_group_grant_to_a_group_the_actor_belongs_to_is_refused(client, lead, profile):
    own_group = Group.objects.get(name="Lead analysts")
    client.force_login(lead)
    assert client.get(group_page(profile, own_group)).status_code == 403
    assert client.post(group_page(profile, own_group), {"permissions": ["change_institution"]}).status_code == 403
    with pytest.raises(PermissionDenied, match="a group they belong to"):
        grants.set_object_permissions(actor=lead, obj=profile, perms={"change_institution"}, group=own_group)
    assert set(get_group_perms(own_group, profile)) == set()
    assert not entries(profile).exists()


def test_group_grant_to_a_group_the_actor_is_not_in_is_audited(client, lead, profile):
    desk = Group.objects.create(name="Desk")
    member = UserFactory(is_staff=True, username="desk-member")
    member.groups.add(desk)
    client.force_login(lead)
    assert client.post(group_page(profile, desk), {"permissions": ["change_institution"]}).status_code == 302
    assert type(member).objects.get(pk=member.pk).has_perm("profiles.change_institution", profile)
    granted = entries(profile, GRANT).get()
    assert granted.data["group"] == desk.pk and granted.data["user"] is None
    assert "group “Desk”" in granted.summary


# --- briefings: whoever may change the briefing's profile ------------------------------------------


def test_briefing_reader_grant_by_assigned_analyst_is_audited(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    briefing = BriefingFactory(
        institution=profile, title="Board seats", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    )
    reader = UserFactory(verified=True, username="reader-ria")
    client.force_login(analyst)
    assert offered(client.get(user_page(briefing, reader))) == {"view_briefing"}
    assert client.post(user_page(briefing, reader), {"permissions": ["view_briefing"]}).status_code == 302
    assert gating.can_view(type(reader).objects.get(pk=reader.pk), briefing)
    granted = entries(briefing, GRANT).get()
    assert granted.actor == analyst and granted.data["permission"] == "profiles.view_briefing"
    assert "reader-ria access to briefing “Board seats”" in granted.summary


def test_briefing_reader_grant_by_unassigned_analyst_is_refused(client, analyst, profile):
    briefing = BriefingFactory(institution=profile)
    reader = UserFactory(verified=True)
    client.force_login(analyst)
    assert client.post(user_page(briefing, reader), {"permissions": ["view_briefing"]}).status_code == 403
    with pytest.raises(PermissionDenied, match="change this briefing's profile"):
        grants.set_object_permissions(actor=analyst, obj=briefing, perms={"view_briefing"}, user=reader)
    assert not reader.has_perm("profiles.view_briefing", briefing)
    assert not entries(briefing).exists()


def test_analyst_cannot_grant_a_briefing_to_themselves(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    briefing = BriefingFactory(institution=profile)
    client.force_login(analyst)
    assert client.post(user_page(briefing, analyst), {"permissions": ["view_briefing"]}).status_code == 403
    assert perms_of(analyst, briefing) == set()
    assert not entries(briefing).exists()


# --- a new profile's creator: the system's act, recorded as such ------------------------------------


def test_creator_is_assigned_to_their_new_profile_and_it_is_recorded_as_such(analyst):
    institution = InstitutionFactory.build(
        name="New Exchange", slug="new-exchange", status=Institution.Status.DRAFT, published_at=None
    )
    services.save_institution(institution=institution, user=analyst)
    assert analyst.has_perm("profiles.change_institution", institution)
    entry = entries(institution, GRANT).get()
    assert entry.actor == analyst
    assert entry.data["as"] == "creator" and entry.data["permission"] == "profiles.change_institution"
    assert "as its creator" in entry.summary
    # Assigning again changes nothing and records nothing.
    grants.assign_creator(institution=institution, user=analyst)
    assert entries(institution, GRANT).count() == 1


def test_analyst_cannot_assign_themselves_to_an_existing_profile(analyst, profile):
    with pytest.raises(PermissionDenied):
        grants.set_object_permissions(actor=analyst, obj=profile, perms={"change_institution"}, user=analyst)
    assert perms_of(analyst, profile) == set()
    assert not entries(profile).exists()


# --- global moderation is group membership: only superusers edit users and groups -------------------


def test_no_newsroom_group_holds_a_user_or_group_permission():
    held = Permission.objects.filter(content_type__app_label__in=["auth", "guardian"], group__isnull=False)
    assert list(held.values_list("group__name", "codename")) == []


def test_lead_cannot_edit_users_or_groups_in_the_auth_admin(client, lead, other_analyst):
    moderators = Group.objects.get(name="Moderators")
    client.force_login(lead)
    assert client.get(reverse("admin:auth_user_change", args=[lead.pk])).status_code == 403
    assert client.get(reverse("admin:auth_group_change", args=[moderators.pk])).status_code == 403
    client.post(reverse("admin:auth_user_change", args=[lead.pk]), {"groups": [moderators.pk]})
    assert not lead.groups.filter(pk=moderators.pk).exists()


def test_superuser_edits_users_and_groups_in_the_auth_admin(client, superuser, other_analyst):
    moderators = Group.objects.get(name="Moderators")
    client.force_login(superuser)
    assert client.get(reverse("admin:auth_user_change", args=[other_analyst.pk])).status_code == 200
    assert client.get(reverse("admin:auth_group_change", args=[moderators.pk])).status_code == 200
