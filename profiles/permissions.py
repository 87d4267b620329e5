"""Who on the staff works on which profiles: the scopes the admin, the workflow and grants share.

Analysts edit the profiles assigned to them (guardian `change_institution` on the profile); lead
analysts hold that permission globally. Moderators decide evidence and relationships of every
profile (the `Moderators` group's global `moderate_evidence`) or of one (guardian, per profile).
Who may *grant* these permissions is `profiles.grants`.
"""

from __future__ import annotations

from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from .models import Institution

CHANGE_PERM = "profiles.change_institution"
MODERATE_PERM = "profiles.moderate_evidence"


def _is_active_staff(user) -> bool:
    return bool(user and user.is_active and user.is_staff)


# --- editing -----------------------------------------------------------------------------------


def can_edit_institution(user, institution, *, checker: ObjectPermissionChecker | None = None) -> bool:
    """Lead analysts (global perm) edit every profile; analysts only those assigned to them."""
    if not _is_active_staff(user):
        return False
    if user.has_perm(CHANGE_PERM):
        return True
    if institution is None or institution.pk is None:
        return False
    checker = checker or ObjectPermissionChecker(user)
    return checker.has_perm("change_institution", institution)


def sees_every_institution(user) -> bool:
    """Superusers, lead analysts and newsroom-wide moderators work across all profiles."""
    return user.is_superuser or user.has_perm(CHANGE_PERM) or user.has_perm(MODERATE_PERM)


def institutions_for_staff(user, queryset=None):
    """The profiles a staff member works on: all for leads and moderators, else their assignments.

    Per-profile moderators (guardian `moderate_evidence` on one institution) see those too.
    """
    queryset = Institution.objects.all() if queryset is None else queryset
    if sees_every_institution(user):
        return queryset
    return get_objects_for_user(
        user, [CHANGE_PERM, MODERATE_PERM], klass=queryset, any_perm=True, accept_global_perms=False
    )


def editable_institutions(user, queryset=None):
    """The profiles whose content (and children) this user may change."""
    queryset = Institution.objects.all() if queryset is None else queryset
    if user.is_superuser or user.has_perm(CHANGE_PERM):
        return queryset
    return get_objects_for_user(user, CHANGE_PERM, klass=queryset, accept_global_perms=False)


# --- moderating -------------------------------------------------------------------------------


def can_moderate(user, institution) -> bool:
    """Moderators hold `moderate_evidence` globally (group) or on this one institution (guardian)."""
    if not _is_active_staff(user):
        return False
    return user.has_perm(MODERATE_PERM) or user.has_perm(MODERATE_PERM, institution)


def moderated_institutions(user, queryset=None):
    """The profiles whose evidence and relationships `user` may decide (all, for global moderators)."""
    queryset = Institution.objects.all() if queryset is None else queryset
    if not _is_active_staff(user):
        return queryset.none()
    if user.has_perm(MODERATE_PERM):
        return queryset
    return get_objects_for_user(user, MODERATE_PERM, klass=queryset, accept_global_perms=False)


def moderates_anything(user) -> bool:
    """Whether the moderation queue, its actions and buttons are for this user at all."""
    if not _is_active_staff(user):
        return False
    return user.has_perm(MODERATE_PERM) or moderated_institutions(user).exists()
