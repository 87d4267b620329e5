"""Guardian's object-permissions pages in the admin, held to the grant policy of `profiles.grants`.

The pages open only for staff who may grant something on the object; the user and group pages
refuse the actor's own account and the groups they belong to; the form offers only what the
actor may grant, and saving goes through `grants.set_object_permissions`, so every change is
checked once more and recorded in the audit log.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm

from .. import grants


class ObjectPermissionsForms:
    """Limit guardian's object-permissions pages to what this actor may grant on this object.

    `object_permission_codenames` names the permissions the admin's pages deal with; of those,
    a form offers the ones `grants.grantable_permissions` allows the actor.
    """

    object_permission_codenames: tuple[str, ...] = ()

    def get_obj_perms_manage_user_form(self, request):
        return _limited(AdminUserObjectPermissionsForm, self.object_permission_codenames, actor=request.user)

    def get_obj_perms_manage_group_form(self, request):
        return _limited(AdminGroupObjectPermissionsForm, self.object_permission_codenames, actor=request.user)

    def _check_object(self, request, object_pk):
        obj = self.get_object(request, object_pk)
        if obj is None:
            raise Http404
        if not grants.may_manage(request.user, obj):
            raise PermissionDenied(f"You may not grant permissions on this {obj._meta.verbose_name}.")
        return obj

    def obj_perms_manage_view(self, request, object_pk):
        self._check_object(request, object_pk)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._check_object(request, object_pk)
        grants.refuse_self_grant(request.user, user=_get_or_404(get_user_model(), user_id))
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._check_object(request, object_pk)
        grants.refuse_self_grant(request.user, group=_get_or_404(Group, group_id))
        return super().obj_perms_manage_group_view(request, object_pk, group_id)


def _get_or_404(model, pk):
    try:
        return model._default_manager.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404 from None


def _limited(base, codenames, *, actor):
    """`base` (guardian's user or group form) offering `codenames` ∩ what `actor` may grant, saved
    through the grant service. Permissions the form does not offer are kept as they are."""

    class Limited(base):
        def get_obj_perms_field_choices(self):
            offered = set(codenames) & grants.grantable_permissions(actor, self.obj)
            return [choice for choice in super().get_obj_perms_field_choices() if choice[0] in offered]

        def _grantee(self) -> dict:
            return {"user": getattr(self, "user", None), "group": getattr(self, "group", None)}

        def _wanted(self) -> set[str]:
            offered = {choice[0] for choice in self.get_obj_perms_field_choices()}
            kept = grants.current_permissions(self.obj, **self._grantee()) - offered
            return set(self.cleaned_data[self.get_obj_perms_field_name()]) | kept

        def clean(self):
            cleaned_data = super().clean()
            if self.get_obj_perms_field_name() in cleaned_data:
                try:
                    grants.plan(actor=actor, obj=self.obj, perms=self._wanted(), **self._grantee())
                except PermissionDenied as refusal:
                    raise ValidationError(str(refusal)) from None
            return cleaned_data

        def save_obj_perms(self):
            grants.set_object_permissions(actor=actor, obj=self.obj, perms=self._wanted(), **self._grantee())

    Limited.__name__ = f"Limited{base.__name__}"
    return Limited
