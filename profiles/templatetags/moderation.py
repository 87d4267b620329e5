"""The admin's moderation tags.

- `{% staff_dashboard as dashboard %}`: the admin index's panels for the signed-in staff member
  (`profiles.dashboard`; Django's index view takes no extra context from us, so a tag asks).
- `{% publication_checklist_panel original as checklist %}`: the publication guard's checklist for
  the top of the profile's change form, with a link to each missing thing.

The rules are elsewhere (`dashboard`, `publication`, `citations`); these only name links and anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.urls import reverse

from profiles import dashboard, publication
from profiles.citations import citation_problems
from profiles.models import Briefing, EvidenceItem, FAQItem, Institution, TimelineEvent

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_dashboard(context):
    """The signed-in staff member's `Dashboard`, or None (a bounded number of queries)."""
    request = context.get("request")
    return dashboard.dashboard_for(getattr(request, "user", None))


# --- the checklist on the profile's change form -------------------------------------------------------

def _inline_anchor(model) -> str:
    """An inline's group on the profile's form: Django names it `<formset prefix>-group`, the prefix
    being the profile's accessor for the rows."""
    return f"#{model._meta.get_field('institution').remote_field.get_accessor_name()}-group"


#: Inline groups on the profile's form, by the label `publication.cited_texts` gives their texts.
INLINE_ANCHORS = {"FAQ": _inline_anchor(FAQItem), "timeline": _inline_anchor(TimelineEvent),
                  "briefing": _inline_anchor(Briefing)}


@dataclass(frozen=True)
class ChecklistLink:
    text: str
    url: str


@dataclass(frozen=True)
class ChecklistItem:
    """One check of the guard: done, or what is missing and the links to act on it."""

    label: str
    ok: bool
    missing: str
    links: tuple[ChecklistLink, ...]


@dataclass(frozen=True)
class Checklist:
    items: list[ChecklistItem]

    @property
    def complete(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def missing(self) -> list[ChecklistItem]:
        return [item for item in self.items if not item.ok]


def _field_anchor(label: str) -> str:
    """Where a cited text is edited: the profile's own field (`#id_<name>`) or its inline's group."""
    for name in publication.CITABLE_FIELDS:
        if str(Institution._meta.get_field(name).verbose_name) == label:
            return f"#id_{name}"
    for prefix, anchor in INLINE_ANCHORS.items():
        if label.startswith(prefix):
            return anchor
    return ""


def _evidence_url(pk) -> str:
    return reverse("admin:profiles_evidenceitem_change", args=[pk])


def _pending_evidence_links(institution) -> list[ChecklistLink]:
    """The profile's evidence awaiting a moderator, each linked to its page (one query)."""
    items = EvidenceItem.objects.submitted().filter(institution_id=institution.pk).order_by("submitted_at", "pk")
    return [
        ChecklistLink(f"Awaiting approval: “{item.title or item.url}”", _evidence_url(item.pk))
        for item in items[: dashboard.PANEL_ROWS]
    ]


def _citation_links(institution) -> list[ChecklistLink]:
    """Each unresolved citation: where it is written, and the evidence it cites when that is this
    profile's and awaits approval (three queries)."""
    problems = citation_problems(institution, publication.cited_texts(institution))
    pending = set(
        EvidenceItem.objects.submitted()
        .filter(institution_id=institution.pk, pk__in=[problem.pk for problem in problems])
        .values_list("pk", flat=True)
    ) if problems else set()
    links = []
    for problem in problems:
        for label in problem.fields:
            anchor = _field_anchor(label)
            if anchor:
                links.append(ChecklistLink(f"[^ev:{problem.pk}] in {label}", anchor))
        if problem.pk in pending:
            links.append(ChecklistLink(f"Evidence #{problem.pk} (awaiting approval)", _evidence_url(problem.pk)))
    return links


@register.simple_tag
def publication_checklist_panel(institution, checks=None):
    """The checklist of a saved profile (`publication.publication_checklist`, or the `checks` the
    admin already asked it for), with links; None for a profile not saved yet."""
    if institution is None or institution.pk is None:
        return None
    if checks is None:
        checks = publication.publication_checklist(institution)
    items = []
    for check in checks:
        links = [ChecklistLink(link.text, link.url) for link in check.links]
        if not check.ok and check.key == "public-evidence":
            links += _pending_evidence_links(institution)
        elif not check.ok and check.key == "citations":
            links = _citation_links(institution) + links
        missing = " ".join([check.missing, *check.details]).strip()
        items.append(ChecklistItem(check.label, check.ok, missing, tuple(links)))
    return Checklist(items)
