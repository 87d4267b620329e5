"""The publication guard: what a profile needs before readers may see it, decided in one place.

A profile is published or scheduled only when (1) it has at least one approved evidence item that
every reader may see and (2) every citation marker `[^ev:ID]` in its texts resolves to approved
evidence of this profile (DESIGN.md, "Moderation rules"). A citation from a members-only briefing
to approved members-only evidence of the profile resolves: its readers see the footnote.

Who applies it:

- `services.save_institution` is the final guard. It judges the profile *after* its children are
  saved (the admin passes its inlines as `save_children`), inside the save's transaction, so a
  refusal (`PublicationRefused`) rolls back the whole submission. It also writes the audit log.
- `forms.InstitutionAdminForm.clean()` refuses early, with an error on `status`, so the analyst
  keeps everything they typed; the admin shows `publication_checklist()` under "Publishing".
- A superuser may publish anyway with a written reason (`override_reason`); the audit log keeps it.

`seed_demo` publishes through the service, so every published demo profile passes the guard.
`seed_scale` bulk-creates synthetic benchmark rows and bypasses it (no service, no audit); its
first evidence item of each profile happens to be approved and public.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, IntegerField, TextField, Value
from django.db.models.functions import Cast
from django.urls import reverse

from .citations import citation_problems, profile_texts
from .models import Briefing, EvidenceItem, FAQItem, Institution, TimelineEvent

#: The profile's own Markdown fields, where analysts cite evidence.
CITABLE_FIELDS = (
    "key_points", "body", "domain_summary", "public_role", "operating_surface", "what_it_does",
    "why_it_matters", "what_to_watch", "public_view", "caveats",
)

#: The evidence inline on the profile's change form (Django names it `<formset prefix>-group`).
EVIDENCE_INLINE_ANCHOR = "#evidence-group"

OVERRIDE_LABEL = "Publish without the checklist — reason"


# --- when the guard applies ------------------------------------------------------------------------


def same_second(a, b) -> bool:
    """Forms post times to the second; a lost microsecond is not a reschedule."""
    if a is None or b is None:
        return a is b
    return a.replace(microsecond=0) == b.replace(microsecond=0)


def is_publication(*, status, published_at, before_status=None, before_published_at=None) -> bool:
    """Publishing, re-publishing or rescheduling: the moves the guard applies to.

    `before_*` describe the stored profile (None for a new one). Editing a published profile
    without touching its status or publication time is not a publication.
    """
    if status != Institution.Status.PUBLISHED:
        return False
    if before_status != Institution.Status.PUBLISHED:
        return True
    return not same_second(before_published_at, published_at)


def is_unpublication(*, status, before_status) -> bool:
    return before_status == Institution.Status.PUBLISHED and status != Institution.Status.PUBLISHED


# --- what the guard reads ------------------------------------------------------------------------


def public_evidence(institution):
    """Approved evidence of the profile that every reader may see (the gate's rule for an anonymous
    reader, `open_to_everyone`; members-only evidence does not count)."""
    return EvidenceItem.objects.filter(institution_id=institution.pk).open_to_everyone()


def own_texts(institution) -> list[tuple[str, str]]:
    """(label, text) of the profile's own Markdown fields, read from the instance (unsaved input counts)."""
    return profile_texts(institution, CITABLE_FIELDS)


def cited_texts(institution) -> list[tuple[str, str]]:
    """Every text of the profile rendered as Markdown, labelled as the admin labels it: its own
    fields, FAQ answers, timeline texts, briefing bodies and source notes (one query)."""
    texts = own_texts(institution)
    if institution.pk is None:
        return texts
    columns = ("cite_part", "pk", "cite_title", "cite_text", "cite_notes")

    def part(model, number, title, text, notes=None):
        return (
            model.objects.filter(institution_id=institution.pk)
            .order_by()
            .annotate(
                cite_part=Value(number, output_field=IntegerField()),
                cite_title=_column(title),
                cite_text=_column(text),
                cite_notes=_column(notes) if notes else Value("", output_field=TextField()),
            )
            .values_list(*columns)
        )

    rows = part(FAQItem, 0, "question", "answer").union(
        part(TimelineEvent, 1, "title", "text"),
        part(Briefing, 2, "title", "body", "source_notes"),
        all=True,
    )
    for kind, _pk, title, text, notes in sorted(rows, key=lambda row: (row[0], row[1])):
        if kind == 0:
            texts.append((f"FAQ “{title}”", text))
        elif kind == 1:
            texts.append((f"timeline “{title}”", text))
        else:
            texts += [(f"briefing “{title}”", text), (f"briefing “{title}” source notes", notes)]
    return texts


def _column(name):
    """One text column of the union (titles are varchar, texts are text: PostgreSQL wants one type)."""
    return Cast(F(name), output_field=TextField())


# --- the checklist ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Check:
    """One item of the checklist: done (`ok`) or what is missing, and where to act on it."""

    key: str
    label: str
    ok: bool
    missing: str = ""
    details: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()

    def as_data(self) -> dict:
        """For the audit log's JSON."""
        return {"check": self.key, "label": self.label, "missing": self.missing, "details": list(self.details)}


def publication_checklist(institution, *, texts: Iterable[tuple[str, str]] | None = None) -> list[Check]:
    """The guard's checks of `institution` as it stands (at most three queries).

    `texts` defaults to every text of the profile (`cited_texts`); the admin form passes only the
    profile's own fields, as typed, because the inlines of its submission are not saved yet.
    """
    has_public, pending = _evidence_state(institution)
    texts = cited_texts(institution) if texts is None else list(texts)
    problems = citation_problems(institution, texts)
    return [_evidence_check(has_public, pending), _citation_check(problems)]


def failed_checks(institution, **kwargs) -> list[Check]:
    return [check for check in publication_checklist(institution, **kwargs) if not check.ok]


def _evidence_state(institution) -> tuple[bool, bool]:
    """Whether the profile has approved public evidence, and whether any evidence awaits review."""
    if institution.pk is None:
        return False, False
    evidence = EvidenceItem.objects.filter(institution_id=institution.pk)
    row = (
        Institution.objects.filter(pk=institution.pk)
        .values(has_public=Exists(public_evidence(institution)), pending=Exists(evidence.submitted()))
        .first()
    )
    return (bool(row["has_public"]), bool(row["pending"])) if row else (False, False)


def _evidence_check(has_public: bool, pending: bool) -> Check:
    label = "At least one approved public evidence item"
    if has_public:
        return Check("public-evidence", label, ok=True)
    links = [Link("Add evidence", EVIDENCE_INLINE_ANCHOR)]
    if pending:
        missing = (
            "No approved public evidence yet: evidence awaits a moderator's approval (members-only "
            "sources do not count)."
        )
        links.append(Link("Moderation queue", reverse("admin:profiles_evidenceitem_queue")))
    else:
        missing = (
            "No approved public evidence: add a source every reader may see (leave its tier empty) "
            "and ask a moderator to approve it (members-only sources do not count)."
        )
    return Check("public-evidence", label, ok=False, missing=missing, links=tuple(links))


def _citation_check(problems) -> Check:
    label = "Every citation [^ev:ID] resolves to approved evidence of this profile"
    if not problems:
        return Check("citations", label, ok=True)
    count = len(problems)
    missing = "1 citation does not resolve:" if count == 1 else f"{count} citations do not resolve:"
    details = tuple(f"[^ev:{p.pk}] in {', '.join(p.fields)} {p.reason}." for p in problems)
    return Check(
        "citations", label, ok=False, missing=missing, details=details,
        links=(Link("Evidence and its “cite as” markers", EVIDENCE_INLINE_ANCHOR),),
    )


# --- refusing and overriding -----------------------------------------------------------------------


def may_override(user) -> bool:
    """Only superusers may publish despite the checklist."""
    return bool(user is not None and getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def override_reason(user, reason: str | None) -> str:
    """The reason that overrides the guard: a superuser's non-blank reason; anyone else's is ignored."""
    return (reason or "").strip() if may_override(user) else ""


def refusal_message(failed: Iterable[Check], *, overridable: bool = False) -> str:
    parts = []
    for check in failed:
        text = check.missing
        if check.details:
            text += " " + " ".join(check.details)
        parts.append(text)
    message = "This profile cannot be published or scheduled yet. " + " ".join(parts)
    message += " Save it as a draft meanwhile: the publication checklist shows what is missing."
    if overridable:
        message += f" As a superuser you may publish anyway: give a reason in “{OVERRIDE_LABEL}”."
    return message


class PublicationRefused(Exception):
    """Publishing or scheduling refused: the checklist is incomplete and no override was given."""

    def __init__(self, failed: Iterable[Check]):
        self.failed = list(failed)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return refusal_message(self.failed)
