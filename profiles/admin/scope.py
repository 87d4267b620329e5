"""Which profiles a staff member works on in the admin, asked once per request.

Django's admin asks its permission hooks (`has_change_permission(request, obj)` and friends) many
times per page — once per inline, per formset, per row — and hands them nothing but the request.
The answers depend only on the user, so `scope_of(request)` builds one `AdminScope` per request:
one guardian checker (inlines then cost no extra queries) and one "moderates anything?" answer.

Why a `WeakKeyDictionary` keyed by the request rather than an attribute stuck on it: the cache is
owned and named here, the request object is left as Django made it, and an entry lives exactly as
long as its request does. Nothing in it switches behaviour; it only remembers answers.
"""

from __future__ import annotations

from functools import cached_property
from weakref import WeakKeyDictionary

from django.core.exceptions import PermissionDenied, ValidationError
from guardian.core import ObjectPermissionChecker

from .. import permissions


class AdminScope:
    """One staff member's reach in the admin: which profiles they see, edit and moderate."""

    def __init__(self, user):
        self.user = user

    @cached_property
    def checker(self) -> ObjectPermissionChecker:
        return ObjectPermissionChecker(self.user)

    @cached_property
    def moderates_anything(self) -> bool:
        """Whether the moderation queue, its actions and the review buttons are for this user."""
        return permissions.moderates_anything(self.user)

    @cached_property
    def edits_anything(self) -> bool:
        """Whether this user changes at least one profile: a lead analyst (global permission) or an
        analyst with an assignment. Django asks `has_change_permission(request)` without an object
        for the changelist's title ("Select institution to change" rather than "… to view")."""
        return permissions.editable_institutions(self.user).exists()

    @cached_property
    def sees_every_institution(self) -> bool:
        return permissions.sees_every_institution(self.user)

    def can_edit(self, institution) -> bool:
        return permissions.can_edit_institution(self.user, institution, checker=self.checker)

    def can_see(self, institution) -> bool:
        """A profile is in a staff member's admin if they edit it or moderate it."""
        if self.sees_every_institution or self.can_edit(institution):
            return True
        return self.checker.has_perm("moderate_evidence", institution)

    def can_moderate(self, institution) -> bool:
        return permissions.can_moderate(self.user, institution)

    def children(self, queryset, parent_field: str):
        """Only children (evidence, briefings, …) of the staff member's profiles."""
        if self.sees_every_institution:
            return queryset
        return queryset.filter(**{f"{parent_field}__in": permissions.institutions_for_staff(self.user)})


_scopes: WeakKeyDictionary = WeakKeyDictionary()


def scope_of(request) -> AdminScope:
    """The request's `AdminScope`, built on first use (see the module docstring for why here)."""
    scope = _scopes.get(request)
    if scope is None or scope.user is not request.user:
        scope = _scopes[request] = AdminScope(request.user)
    return scope


class OutOfScopeIs403:
    """An object that exists but lies outside the user's profiles is a 403, not a redirect."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and from_field is None:
            try:
                exists = self.model._default_manager.filter(pk=object_id).exists()
            except (ValueError, TypeError, ValidationError):
                exists = False
            if exists:
                raise PermissionDenied("This belongs to a profile that is not assigned to you.")
        return obj
