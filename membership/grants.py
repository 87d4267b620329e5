"""Rule 2's object permission: the guardian rows that open one gated object to one reader.

A model opens objects by permission when it sets ``gate_object_permission``; its grants are rows of
its own direct-foreign-key guardian tables (STYLE.md). This module knows those tables and nothing of
readers: the reader row (`membership.readers`) and the gate (`membership.gating`) both build on it.
"""

from __future__ import annotations

import functools
import operator

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Value
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


def permission_gated_models() -> list[type[models.Model]]:
    """The models the gate opens to one reader by an object permission (``gate_object_permission``)."""
    return [model for model in apps.get_models() if getattr(model, "gate_object_permission", None)]


@functools.cache
def _grant_models(model) -> tuple[type, type]:
    """The user and group object-permission models of a model the gate opens by permission: guardian's
    direct-foreign-key tables (STYLE.md), whose `content_object` points at it. Found by walking the
    model's relations (no query), once per process; a gated model without them is a configuration error."""
    found = {}
    for relation in model._meta.related_objects:
        for base in (UserObjectPermissionBase, GroupObjectPermissionBase):
            if relation.field.name == "content_object" and issubclass(relation.related_model, base):
                found[base] = relation.related_model
    if len(found) != 2:
        raise ImproperlyConfigured(
            f"{model._meta.label} sets gate_object_permission but lacks direct foreign-key guardian tables "
            "(subclasses of UserObjectPermissionBase and GroupObjectPermissionBase)."
        )
    return found[UserObjectPermissionBase], found[GroupObjectPermissionBase]


def object_permission_rows(model, user) -> tuple[models.QuerySet, models.QuerySet]:
    """The rows of the model's guardian tables held by `user` (a user, a key or an `OuterRef`), directly
    and through a group of theirs, whatever permission they carry. Each row's `content_object` is the
    object it is about. Only explicit object grants (not global model permissions, not superuser status).
    """
    user_model, group_model = _grant_models(model)
    # The user's groups as a subquery of their own (not a join through auth_group: cheaper to plan).
    # From inside it, an outer reference to the user reaches one query further out.
    member = OuterRef(user) if isinstance(user, OuterRef) else user
    groups = get_user_model().groups.through.objects.filter(user=member).values("group")
    return user_model.objects.filter(user=user), group_model.objects.filter(group__in=groups)


def grant_rows(model, user) -> tuple[models.QuerySet, models.QuerySet]:
    """Rule 2's object permission, the one place it is written: the `object_permission_rows` of `user`
    that carry the model's `gate_object_permission`, each opening its `content_object` to them.

    The codename alone names the permission: a direct-FK table holds permissions of its own model only.
    """
    codename = model.gate_object_permission
    return tuple(rows.filter(permission__codename=codename) for rows in object_permission_rows(model, user))


def holds_any_grant(user) -> ExpressionWrapper | Value:
    """Whether `user` holds any object permission at all on a model the gate opens by permission: when
    not, their grants (`grant_rows`, a subset) are known to be empty without asking
    (`Reader.may_hold_grants`). Left without the codename filter on purpose: the flag runs on every
    signed-in page, and the permission join doubled the time PostgreSQL took to plan the reader row."""
    checks = [Q(Exists(rows)) for model in permission_gated_models() for rows in object_permission_rows(model, user)]
    if not checks:
        return Value(False)
    return ExpressionWrapper(functools.reduce(operator.or_, checks), output_field=BooleanField())
