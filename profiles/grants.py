"""Who may grant or revoke which object permission, to whom: the one place for that policy.

- Moderation of one profile (`moderate_evidence`): superusers only. Newsroom-wide moderation is
  membership of the `Moderators` group, changed in the Django auth admin, which only superusers
  may edit (no group holds an `auth.*` permission, see migration 0002).
- Analysts' assignment to one profile (`change_institution`): lead analysts (the global
  `profiles.change_institution`) and superusers.
- A reader's grant of one briefing (`view_briefing`): whoever may change that briefing's profile.
- Nobody grants or revokes anything to or from themselves (or a group they belong to),
  superusers included: a second person is the check.

Every grant and every revoke goes through `set_object_permissions` (or, for the creator of a new
profile, `assign_creator`) and is recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms, remove_perm

from audit.models import AuditEntry
from audit.services import record, user_label

from . import permissions
from .models import Briefing, Institution

SELF_GRANT_REFUSAL = (
    "Nobody grants or revokes their own permissions (or those of a group they belong to): "
    "ask a colleague who may grant them."
)


def _is_superuser(actor) -> bool:
    return bool(actor and actor.is_active and actor.is_superuser)


def _is_lead(actor) -> bool:
    return bool(actor and actor.is_active and actor.is_staff and actor.has_perm(permissions.CHANGE_PERM))


def _edits_briefings_profile(actor, briefing: Briefing) -> bool:
    """Today's rule of the briefing admin: change briefings, on a profile this person edits."""
    return actor.has_perm("profiles.change_briefing") and permissions.can_edit_institution(actor, briefing.institution)


@dataclass(frozen=True)
class Rule:
    """One object permission: who may grant it, the refusal they read otherwise, and how the log words it."""

    codename: str
    may_grant: Callable[..., bool]
    refusal: str
    granted: str  # "{actor} … {grantee} … {obj}"
    revoked: str


RULES: dict[type, tuple[Rule, ...]] = {
    Institution: (
        Rule(
            "change_institution",
            lambda actor, obj: _is_superuser(actor) or _is_lead(actor),
            "Only lead analysts and superusers assign analysts to a profile.",
            "{actor} assigned analyst {grantee} to profile {obj}",
            "{actor} unassigned analyst {grantee} from profile {obj}",
        ),
        Rule(
            "moderate_evidence",
            lambda actor, obj: _is_superuser(actor),
            "Only superusers grant or revoke moderation; ask a superuser.",
            "{actor} made {grantee} a moderator of profile {obj}",
            "{actor} removed {grantee} as moderator of profile {obj}",
        ),
    ),
    Briefing: (
        Rule(
            "view_briefing",
            _edits_briefings_profile,
            "Only staff who may change this briefing's profile grant readers access to it.",
            "{actor} granted {grantee} access to briefing “{obj}”",
            "{actor} withdrew {grantee}'s access to briefing “{obj}”",
        ),
    ),
}


def _rules(obj) -> dict[str, Rule]:
    return {rule.codename: rule for rule in RULES.get(type(obj), ())}


def managed_permissions(obj) -> set[str]:
    """The object permissions granted per object on this kind of object (codenames)."""
    return set(_rules(obj))


def grantable_permissions(actor, obj) -> set[str]:
    """The codenames `actor` may grant or revoke on `obj` (to someone other than themselves)."""
    return {codename for codename, rule in _rules(obj).items() if rule.may_grant(actor, obj)}


def may_manage(actor, obj) -> bool:
    """Whether `actor` may open the object-permissions pages of `obj` at all."""
    return bool(grantable_permissions(actor, obj))


def is_self_grant(actor, *, user=None, group=None) -> bool:
    if user is not None:
        return user.pk == actor.pk
    return group is not None and actor.groups.filter(pk=group.pk).exists()


def refuse_self_grant(actor, *, user=None, group=None) -> None:
    if is_self_grant(actor, user=user, group=group):
        raise PermissionDenied(SELF_GRANT_REFUSAL)


def current_permissions(obj, *, user=None, group=None) -> set[str]:
    """The managed codenames held directly (not through a group, nor globally) on `obj`."""
    held = get_user_perms(user, obj) if user is not None else get_group_perms(group, obj)
    return set(held) & managed_permissions(obj)


@dataclass(frozen=True)
class Change:
    added: frozenset[str]
    removed: frozenset[str]


def plan(*, actor, obj, perms: set[str], user=None, group=None) -> Change:
    """What `set_object_permissions` would change, or `PermissionDenied` with the reason; writes nothing."""
    if (user is None) == (group is None):
        raise TypeError("Grant to exactly one of user= or group=.")
    refuse_self_grant(actor, user=user, group=group)
    rules = _rules(obj)
    unknown = set(perms) - set(rules)
    if unknown:
        raise PermissionDenied(
            f"{', '.join(sorted(unknown))} is not granted per object on a {obj._meta.verbose_name}."
        )
    held = current_permissions(obj, user=user, group=group)
    change = Change(added=frozenset(set(perms) - held), removed=frozenset(held - set(perms)))
    for codename in sorted(change.added | change.removed):
        rule = rules[codename]
        if not rule.may_grant(actor, obj):
            raise PermissionDenied(rule.refusal)
    return change


@transaction.atomic
def set_object_permissions(*, actor, obj, perms: set[str], user=None, group=None) -> Change:
    """Make `perms` the managed object permissions of `user` (or `group`) on `obj`.

    `perms` is the whole wanted set of `managed_permissions(obj)`: codenames held and not listed
    are revoked. Refused (nothing changed, nothing logged) if any added or removed permission is
    not the actor's to grant, or if the actor is the grantee.
    """
    change = plan(actor=actor, obj=obj, perms=perms, user=user, group=group)
    _apply(actor=actor, obj=obj, change=change, user=user, group=group)
    return change


@transaction.atomic
def assign_creator(*, institution: Institution, user) -> bool:
    """Assign a new profile's creator to it: the system's act on creation, not a self-grant.

    Only ever `change_institution`, only to the person who created the profile; recorded as such.
    Returns whether anything changed (assigning twice records nothing).
    """
    if "change_institution" in current_permissions(institution, user=user):
        return False
    _apply(actor=user, obj=institution, change=Change(frozenset({"change_institution"}), frozenset()), user=user,
           creator=True)
    return True


def _grantee_label(*, user=None, group=None) -> str:
    return user_label(user) if user is not None else f"group “{group.name}”"


def _apply(*, actor, obj, change: Change, user=None, group=None, creator: bool = False) -> None:
    """Write the change with guardian and log each permission: one entry per grant or revoke."""
    grantee = user if user is not None else group
    rules = _rules(obj)
    label = _grantee_label(user=user, group=group)
    app_label = obj._meta.app_label
    for codename, action in [(c, AuditEntry.Action.REVOKE) for c in sorted(change.removed)] + [
        (c, AuditEntry.Action.GRANT) for c in sorted(change.added)
    ]:
        if action == AuditEntry.Action.GRANT:
            assign_perm(codename, grantee, obj)
        else:
            remove_perm(codename, grantee, obj)
        data = {
            "permission": f"{app_label}.{codename}",
            "user": user.pk if user is not None else None,
            "group": group.pk if group is not None else None,
            "grantee": label,
        }
        if creator:
            summary = f"{label} assigned as analyst of profile {obj}, as its creator"
            data["as"] = "creator"
        else:
            template = rules[codename].granted if action == AuditEntry.Action.GRANT else rules[codename].revoked
            summary = template.format(actor=user_label(actor), grantee=label, obj=obj)
        record(actor=actor, action=action, target=obj, summary=summary, data=data)
