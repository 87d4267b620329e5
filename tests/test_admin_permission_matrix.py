"""Every admin URL the project registers, for every role: the expected answer and nothing else.

The URLs come from the admin site's own URL patterns, so a new admin page (a model registered,
a custom view added by `get_urls`) fails this test until the table below says who may open it —
no admin page can ship unscoped. Objects all belong to one profile, P; the "assigned analyst"
edits P, the "unassigned analyst" edits nothing, the per-profile moderator moderates P only.

Answers: ok (200), login (sent to sign in), mfa (sent to enrol a second factor), denied (403),
missing (404), redirect (a 302 elsewhere), method (405: the page takes POST only).
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.sites.models import Site
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from guardian.shortcuts import assign_perm

from audit.services import Action, record
from membership.models import ApiToken, Application, Membership, Tier
from outbox.models import OutgoingMail

from .factories import (
    ApplicationFactory,
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    StaffFactory,
    TimelineEventFactory,
    UserFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import strategic_member

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "member",
    "analyst_assigned",
    "analyst_unassigned",
    "lead",
    "local_moderator",
    "global_moderator",
    "superuser",
    "staff_without_mfa",
]
OUTSIDERS = {"anonymous", "member"}

# --- who may open what (the policy) ----------------------------------------------------------------------

ANALYSTS = {"analyst_assigned", "analyst_unassigned", "lead"}
ON_P = {"analyst_assigned", "lead", "global_moderator", "superuser"}  # see P's children
EDIT_P = {"analyst_assigned", "lead", "superuser"}  # change P and its children
MODERATE_P = {"local_moderator", "global_moderator", "superuser"}
STAFF = ANALYSTS | MODERATE_P
SUPER = {"superuser"}
NOBODY: set[str] = set()


def child(list_roles=None, obj=None, add=None, delete=None):
    """A child of a profile: listed by its model permission, opened only on the staff member's profiles."""
    return {
        "changelist": list_roles if list_roles is not None else ANALYSTS | {"global_moderator", "superuser"},
        "object": obj if obj is not None else ON_P,
        "add": add if add is not None else ANALYSTS | SUPER,
        "delete": delete if delete is not None else EDIT_P,
        # Reverting to a revision is an edit (through the services): never by a moderator.
        "revert": EDIT_P,
    }


POLICY = {
    "auth.group": {"changelist": SUPER, "object": SUPER, "add": SUPER, "delete": SUPER},
    "auth.user": {"changelist": SUPER, "object": SUPER, "add": SUPER, "delete": SUPER, "password": SUPER},
    "sites.site": {"changelist": SUPER, "object": SUPER, "add": SUPER, "delete": SUPER},
    "account.emailaddress": {"changelist": SUPER, "object": SUPER, "add": SUPER, "delete": SUPER},
    "mfa.authenticator": {"changelist": SUPER, "object": SUPER, "add": SUPER, "delete": SUPER},
    # Outgoing mail: read by superusers (failed and stuck deliveries), written only by the outbox.
    "outbox.outgoingmail": {"changelist": SUPER, "object": SUPER, "add": NOBODY, "delete": NOBODY},
    # The audit log: read by superusers and lead analysts, written by nobody through the admin.
    "audit.auditentry": {"changelist": {"lead", "superuser"}, "object": {"lead", "superuser"}, "add": NOBODY,
                         "delete": NOBODY},
    "membership.tier": {"changelist": ANALYSTS | {"global_moderator", "superuser"},
                        "object": ANALYSTS | {"global_moderator", "superuser"}, "add": NOBODY, "delete": NOBODY},
    "membership.membership": {"changelist": {"global_moderator", "superuser"},
                              "object": {"global_moderator", "superuser"}, "add": NOBODY, "delete": NOBODY},
    "membership.application": {"changelist": {"global_moderator", "superuser"},
                               "object": {"global_moderator", "superuser"}, "add": NOBODY, "delete": NOBODY,
                               "decide": {"global_moderator", "superuser"}},
    # Readers' API tokens: superusers see them (never their digests) and revoke them; made only by their owners.
    "membership.apitoken": {"changelist": SUPER, "object": SUPER, "add": NOBODY, "delete": NOBODY},
    "profiles.institution": {
        "changelist": ANALYSTS | {"global_moderator", "superuser"},
        "object": ON_P,
        "add": ANALYSTS | SUPER,
        "delete": {"lead", "superuser"},
        # Assigning analysts (leads) and moderators (superusers); never to oneself.
        "permissions": {"lead", "superuser"},
        "permissions_user": {"lead", "superuser"},
        "permissions_self": NOBODY,
        "permissions_group": {"lead", "superuser"},
        # "Confirm sections still hold": whoever changes the profile, never a moderator as such.
        "confirm_sections": EDIT_P,
        "revert": EDIT_P,
    },
    "profiles.sector": {"changelist": ANALYSTS | SUPER, "object": ANALYSTS | SUPER, "add": ANALYSTS | SUPER,
                        "delete": SUPER},
    "profiles.evidenceitem": {
        **child(list_roles=ANALYSTS | MODERATE_P, obj=ON_P | MODERATE_P),
        "queue": STAFF,  # the old queue address: a redirect to the queue, which decides
        "review": MODERATE_P,
        # The Markdown editor's preview (POST) and evidence picker, for whoever sees the profile.
        "preview": ON_P | MODERATE_P,
        "citable": ON_P | MODERATE_P,
    },
    "profiles.relationship": {
        **child(list_roles=ANALYSTS | MODERATE_P, obj=ON_P | MODERATE_P),
        "queue": STAFF,
        "review": MODERATE_P,
    },
    # The moderation queues: a list and its actions, for whoever moderates any profile.
    "profiles.evidencequeueitem": {"changelist": MODERATE_P},
    # The re-verification queue: for those who confirm profiles (each sees the ones they change).
    "profiles.reverificationqueueitem": {"changelist": ANALYSTS | SUPER},
    "profiles.relationshipqueueitem": {"changelist": MODERATE_P},
    # Sources to re-verify: a list and a comparison page per item, for the item's moderators.
    "profiles.sourcealertitem": {"changelist": MODERATE_P, "compare": MODERATE_P},
    # The decision log (its one page, hung on ReviewRecord): every staff member, scoped inside the page.
    "profiles.reviewrecord": {"changelist": STAFF},
    "profiles.watchpoint": child(),
    "profiles.timelineevent": child(),
    "profiles.faqitem": child(),
    "profiles.relatedlink": child(),
    "profiles.briefing": {
        **child(),
        # Per-reader grants of one briefing: by whoever edits its profile, never to oneself.
        "permissions": EDIT_P,
        "permissions_user": EDIT_P,
        "permissions_self": NOBODY,
        "permissions_group": EDIT_P,
    },
    # Bulk import and export (profiles/admin/bulk.py), pages of no model ("changelist": there is
    # none): importing writes text (analysts, leads; never moderators), exports are scoped per person.
    "profiles.bulk": {"changelist": NOBODY, "import": ANALYSTS | SUPER, "export": STAFF},
}

#: Which policy entry each kind of admin URL answers to.
KIND_OF_VIEW = {
    "changelist": "changelist",
    "add": "add",
    "change": "object",
    "delete": "delete",
    "history": "object",
    "simple_history": "object",
    "history_compare": "object",  # reading history: whoever may open the object
    "history_revert": "revert",
    "permissions": "permissions",
    "permissions_manage_user": "permissions_user",
    "permissions_manage_group": "permissions_group",
    "queue": "queue",
    "review": "review",
    "preview": "preview",
    "citable": "citable",
    "decide": "decide",
    "password_change": "password",
    "import": "import",
    "export": "export",
    "confirm_sections": "confirm_sections",
    "compare": "compare",
}

#: Kinds of view that answer those the policy permits with a redirect (old addresses kept for links).
REDIRECTS = {"queue"}

#: Kinds of view that take POST only: a GET by those the policy permits is 405.
POST_ONLY = {"preview"}

#: Site-wide admin pages: every staff member may open them.
SITE_PAGES = {"index", "password_change", "password_change_done", "jsi18n"}

#: Patterns without a name: Django's own redirect from `<id>/` to `<id>/change/` and the final
#: catch-all (404). Both are wrapped in the admin's login check; nothing else may be unnamed.
UNNAMED_ALLOWED = ("<path:object_id>/", "(?P<url>.*)$")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


def test_every_admin_url_is_in_the_table():
    """A new admin page fails here until the policy table says who may open it."""
    unknown = []
    for route, name in _walk(admin.site.get_urls()):
        if name is None:
            if not route.endswith(UNNAMED_ALLOWED):
                unknown.append(route)
            continue
        if name in SITE_PAGES | {"login", "logout", "autocomplete", "view_on_site", "app_list"}:
            continue
        label, kind = _split_name(name)
        if label not in POLICY or KIND_OF_VIEW.get(kind) not in POLICY[label]:
            unknown.append(f"{route} ({name})")
    assert not unknown, f"admin URLs with no row in the permission matrix: {unknown}"


def _split_name(name: str) -> tuple[str, str]:
    for label in sorted(POLICY, key=len, reverse=True):
        prefix = label.replace(".", "_") + "_"
        if name.startswith(prefix):
            return label, name[len(prefix):]
    return "", name


# --- the world every role is tried against ---------------------------------------------------------------


class World:
    def __init__(self):
        self.profile = InstitutionFactory(name="P", slug="profile-p")
        author = StaffFactory(username="author")
        author.groups.add(Group.objects.get(name="Analysts"))
        self.other_user = UserFactory(username="someone-else")
        self.objects = {
            "profiles.institution": self.profile,
            "profiles.sector": SectorFactory(),
            "profiles.evidenceitem": EvidenceItemFactory(
                institution=self.profile, review_state="submitted", submitted_by=author
            ),
            "profiles.relationship": RelationshipFactory(
                source=self.profile, review_state="submitted", submitted_by=author
            ),
            "profiles.watchpoint": WatchpointFactory(institution=self.profile),
            "profiles.timelineevent": TimelineEventFactory(institution=self.profile),
            "profiles.faqitem": FAQItemFactory(institution=self.profile),
            "profiles.relatedlink": self.profile.related_links.create(url="https://example.org/read", order=1),
            "profiles.briefing": BriefingFactory(
                institution=self.profile, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
            ),
            "membership.tier": tier(Tier.STRATEGIC_CIRCLE_SLUG),
            "membership.membership": Membership.objects.filter(user=strategic_member()).first(),
            "membership.application": ApplicationFactory(state=Application.State.PENDING),
            "membership.apitoken": ApiToken.objects.create(
                owner=self.other_user, name="Matrix", prefix="0000abcd", digest="0" * 64
            ),
            "auth.user": self.other_user,
            "auth.group": Group.objects.get(name="Moderators"),
            "sites.site": Site.objects.get_current(),
            "account.emailaddress": EmailAddress.objects.create(user=self.other_user, email="x@example.org"),
            "mfa.authenticator": Authenticator.objects.create(
                user=self.other_user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"}
            ),
        }
        self.objects["outbox.outgoingmail"] = OutgoingMail.objects.create(
            kind="test", from_email="site@example.org", to=["x@example.org"], subject="S", body="B"
        )
        self.objects["profiles.evidencequeueitem"] = self.objects["profiles.evidenceitem"]
        self.objects["profiles.reverificationqueueitem"] = self.profile
        self.objects["profiles.relationshipqueueitem"] = self.objects["profiles.relationship"]
        self.objects["profiles.sourcealertitem"] = self.objects["profiles.evidenceitem"]
        self.objects["profiles.reviewrecord"] = None  # the decision log: one list page, no object pages
        self.objects["profiles.bulk"] = None  # the import and export pages name no object
        self.objects["audit.auditentry"] = record(
            actor=author, action=Action.REVIEW, target=self.objects["profiles.evidenceitem"], summary="A decision."
        )
        for obj in self.objects.values():  # give every object a history row to open
            history = getattr(obj, "history", None)
            if history is not None and not history.exists():
                obj.save()

    def user_for(self, role):
        if role == "anonymous":
            return None
        if role == "member":
            return strategic_member()
        if role == "superuser":
            return StaffFactory(username="super", is_superuser=True)
        user = StaffFactory(username=role)
        groups = {
            "analyst_assigned": ["Analysts"],
            "analyst_unassigned": ["Analysts"],
            "lead": ["Analysts", "Lead analysts"],
            "global_moderator": ["Moderators"],
            "staff_without_mfa": ["Analysts", "Lead analysts", "Moderators"],
        }.get(role, [])
        for name in groups:
            user.groups.add(Group.objects.get(name=name))
        if role in ("analyst_assigned", "staff_without_mfa"):
            assign_perm("profiles.change_institution", user, self.profile)
        if role == "local_moderator":
            assign_perm("profiles.moderate_evidence", user, self.profile)
        return user

    def urls(self, user):
        """(url, policy label or site page, view kind) for every admin URL pattern."""
        out = []
        for _route, name in _walk(admin.site.get_urls()):
            if name is None:
                continue
            if name in SITE_PAGES:
                out.append((reverse(f"admin:{name}"), "site", name))
                continue
            if name in ("login", "logout"):
                out.append((reverse(f"admin:{name}"), "site", name))
                continue
            if name == "app_list":
                for app_label in sorted({label.split(".")[0] for label in POLICY}):
                    out.append((reverse("admin:app_list", args=[app_label]), app_label, "app_list"))
                continue
            if name == "view_on_site":
                obj = self.profile
                ct = ContentType.objects.get_for_model(obj)
                out.append((reverse("admin:view_on_site", args=[ct.pk, obj.pk]), "site", name))
                continue
            if name == "autocomplete":
                query = "?app_label=profiles&model_name=relationship&field_name=target&term=P"
                out.append((reverse("admin:autocomplete") + query, "profiles.institution", "autocomplete"))
                continue
            label, kind = _split_name(name)
            obj = self.objects[label]
            if kind in ("changelist", "add", "queue", "import", "export"):
                out.append((reverse(f"admin:{name}"), label, kind))
            elif kind in ("preview", "citable"):
                out.append((reverse(f"admin:{name}") + f"?profile={self.profile.pk}", label, kind))
            elif kind in ("change", "delete", "history", "history_compare", "permissions", "confirm_sections",
                          "compare"):
                out.append((reverse(f"admin:{name}", args=[obj.pk]), label, kind))
            elif kind == "simple_history":
                version = obj.history.order_by("-history_id").first().history_id
                out.append((reverse(f"admin:{name}", args=[obj.pk, version]), label, kind))
            elif kind == "history_revert":
                version = obj.history.order_by("history_id").first().history_id
                out.append((reverse(f"admin:{name}", args=[obj.pk, version]), label, kind))
            elif kind == "permissions_manage_user":
                out.append((reverse(f"admin:{name}", args=[obj.pk, self.other_user.pk]), label, kind))
                if user is not None:
                    out.append((reverse(f"admin:{name}", args=[obj.pk, user.pk]), label, "permissions_self"))
            elif kind == "permissions_manage_group":
                group = Group.objects.get(name="Moderators")
                out.append((reverse(f"admin:{name}", args=[obj.pk, group.pk]), label, kind))
            elif kind == "review":
                out.append((reverse(f"admin:{name}", args=[obj.pk]) + "?decision=reject", label, kind))
            elif kind == "decide":
                out.append((reverse(f"admin:{name}", args=[obj.pk]) + "?decision=approve", label, kind))
            elif kind == "password_change":
                out.append((reverse(f"admin:{name}", args=[obj.pk]), label, "password"))
            else:  # pragma: no cover - test_every_admin_url_is_in_the_table names it first
                raise AssertionError(f"no rule for {name}")
        return out


def expected(role, label, kind) -> str:
    if kind == "logout":
        # Signing out is a POST; readers are sent to the site's own sign-out page.
        return "redirect" if role in OUTSIDERS else "method"
    if kind == "login" and role == "member":
        return "denied"  # signed in, but not staff: no admin sign-in for readers
    if role in OUTSIDERS:
        return "login"
    if role == "staff_without_mfa":
        return "redirect" if kind == "login" else "mfa"
    if kind == "login":
        return "redirect"  # already signed in: on to the index
    if kind == "view_on_site":
        return "redirect"
    if label == "site":
        return "ok"
    if kind == "app_list":
        seen = {lbl for lbl, rules in POLICY.items() if lbl.startswith(label + ".") and role in rules["changelist"]}
        return "ok" if seen else "missing"
    if kind == "autocomplete":
        return "ok" if role in POLICY[label]["changelist"] else "denied"
    rule = KIND_OF_VIEW.get(kind, kind)
    if role not in POLICY[label][rule]:
        return "denied"
    if kind in POST_ONLY:
        return "method"
    return "redirect" if kind in REDIRECTS else "ok"


def answer(response) -> str:
    code = response.status_code
    if code == 302:
        location = response["Location"]
        if location.startswith(reverse("mfa_activate_totp")):
            return "mfa"
        if "login" in location:
            return "login"
        return "redirect"
    return {200: "ok", 403: "denied", 404: "missing", 405: "method"}.get(code, str(code))


@pytest.mark.parametrize("role", ROLES)
def test_admin_permission_matrix(role, settings):
    settings.BTW_REQUIRE_STAFF_MFA = role == "staff_without_mfa"
    world = World()
    user = world.user_for(role)
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    wrong = []
    urls = world.urls(user)
    for url, label, kind in urls:
        got = answer(client.get(url))
        want = expected(role, label, kind)
        if got != want:
            wrong.append(f"{url} [{label} {kind}]: expected {want}, got {got}")
        if want in ("denied", "login", "mfa") and kind not in ("login", "logout", "autocomplete"):
            # A forged form post through a closed door is refused the same way.
            got = answer(client.post(url, {"post": "yes", "confirm": "yes", "decision": "approve"}))
            if got != want:
                wrong.append(f"POST {url} [{label} {kind}]: expected {want}, got {got}")
    assert len(urls) > 100
    assert not wrong, f"{role}: {len(wrong)} of {len(urls)} admin URLs answer wrongly:\n" + "\n".join(wrong)


def test_matrix_tries_history_pages_of_children_on_p():
    """Guards the table: history detail pages are among the URLs tried (they once ignored assignment)."""
    names = {name for _, name in _walk(admin.site.get_urls())}
    assert {"profiles_evidenceitem_simple_history", "profiles_briefing_simple_history"} <= names
