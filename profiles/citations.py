"""Inline citations of evidence in analyst Markdown: `[^ev:42]` cites evidence item 42.

A reader sees a numbered footnote link to the source only when that evidence is among what
*they* may see (approved, at or below their tier, of this profile); any other citation vanishes
without a number, a gap or a marker. The page builds one `CitationContext` from the evidence it
already fetched for the reader, so citations cost no query. The admin uses `citation_problems()`
to warn analysts about citations readers will never see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .models import EvidenceItem, ReviewState

#: The syntax analysts type (documented in the admin's help text). Spaces before it are eaten,
#: so "capacity [^ev:4]." renders as "capacity¹." and a hidden citation leaves no stray space.
CITATION_SYNTAX = "[^ev:ID]"
CITATION_PATTERN = r"[ \t]*\[\^ev:(\d{1,18})\]"
CITATION_RE = re.compile(CITATION_PATTERN)

CITATION_HELP = (
    "Cite evidence inline with [^ev:ID], e.g. “… 200 MW of capacity [^ev:42].” — the ID is the "
    "number shown as “cite as” beside each evidence item. Readers see a numbered footnote linking "
    "to the source only once the item is approved and open to their tier; otherwise nothing shows."
)


def cited_ids(text: str | None) -> list[int]:
    """The evidence ids cited in `text`, in order of first citation, each once."""
    seen: dict[int, None] = {}
    for match in CITATION_RE.finditer(text or ""):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)


def strip_citations(text: str | None) -> str:
    """The text without its citation markers: for plain-text outputs (feeds, e-mails, snippets)."""
    return CITATION_RE.sub("", text or "")


def keep_citations(text: str | None, visible_ids) -> str:
    """The Markdown with only the citations of `visible_ids` left in it (the rest vanish as they do on
    the page): for outputs that hand the text on as Markdown, such as the API, whose readers resolve
    [^ev:ID] against the evidence they were given."""
    return CITATION_RE.sub(lambda m: m.group(0) if int(m.group(1)) in visible_ids else "", text or "")


def evidence_anchor(pk: int) -> str:
    """The id of an evidence item in the profile page's source list (`EvidenceItem.get_absolute_url`)."""
    return f"evidence-{pk}"


@dataclass(frozen=True)
class Citation:
    number: int
    item: object

    @property
    def pk(self) -> int:
        return self.item.pk

    @property
    def anchor(self) -> str:
        return evidence_anchor(self.item.pk)


class CitationContext:
    """The evidence one reader may see on one page, numbered in order of first citation.

    Built from the reader's visible evidence (the page's `page_sources`: approved and in tier);
    anything not in it — missing, unapproved, above tier, another profile's — is never numbered.
    Numbers are handed out in order of first citation: `number_texts()` with the page's texts in
    reading order numbers them all before any is rendered (rendering then only looks numbers up),
    and `in_citation_order()` lays the source list out in that same order.
    """

    def __init__(self, visible_items: Iterable = ()):
        self._items = {item.pk: item for item in visible_items}
        self._numbers: dict[int, int] = {}

    def is_visible(self, pk: int) -> bool:
        return pk in self._items

    def cite(self, pk: int) -> Citation | None:
        item = self._items.get(pk)
        if item is None:
            return None
        number = self._numbers.setdefault(pk, len(self._numbers) + 1)
        return Citation(number, item)

    def number_texts(self, texts: Iterable[str | None]) -> CitationContext:
        """Number the visible citations of `texts` in this order, before any is rendered."""
        for text in texts:
            for pk in cited_ids(text):
                self.cite(pk)
        return self

    def in_citation_order(self, items: Iterable) -> list:
        """`items` with the cited ones first, by number, then the uncited in their given order."""
        uncited = len(self._numbers) + 1
        return sorted(items, key=lambda item: self._numbers.get(item.pk, uncited))  # stable: the rest keep their order

    def number_for(self, pk: int) -> int | None:
        """The footnote number of an evidence item, if the page has cited it."""
        return self._numbers.get(pk)

    @property
    def cited(self) -> list[Citation]:
        """The citations made so far, by number (for a numbered source list)."""
        return [Citation(number, self._items[pk]) for pk, number in sorted(self._numbers.items(), key=lambda p: p[1])]

    def __bool__(self) -> bool:
        return True  # an empty context still means "hide what is not visible", unlike None

    def __len__(self) -> int:
        return len(self._numbers)


# --- the admin's warnings ------------------------------------------------------------------------


@dataclass(frozen=True)
class CitationProblem:
    pk: int
    fields: tuple[str, ...]
    reason: str

    @property
    def message(self) -> str:
        where = ", ".join(self.fields)
        return f"[^ev:{self.pk}] in {where} {self.reason}: readers will not see this citation."


def citation_problems(institution, texts: Iterable[tuple[str, str | None]]) -> list[CitationProblem]:
    """Citations in `texts` ((label, text) pairs) that readers will never see, and why.

    One query, whatever the number of citations.
    """
    where: dict[int, list[str]] = {}
    for label, text in texts:
        for pk in cited_ids(text):
            labels = where.setdefault(pk, [])
            if label not in labels:
                labels.append(label)
    if not where:
        return []
    found = {
        row["pk"]: row
        for row in EvidenceItem.objects.filter(pk__in=list(where)).values("pk", "institution_id", "review_state")
    }
    problems = []
    for pk, labels in where.items():
        row = found.get(pk)
        if row is None:
            reason = f"cites evidence #{pk}, which does not exist"
        elif row["institution_id"] != institution.pk:
            reason = f"cites evidence #{pk} of another profile"
        elif row["review_state"] == ReviewState.SUBMITTED:
            reason = f"cites evidence #{pk}, which is awaiting review (it appears once a moderator approves it)"
        elif row["review_state"] != ReviewState.APPROVED:
            reason = f"cites evidence #{pk}, which is {ReviewState(row['review_state']).label.lower()}"
        else:
            continue
        problems.append(CitationProblem(pk, tuple(labels), reason))
    return problems


def profile_texts(institution, fields: Iterable[str]) -> list[tuple[str, str]]:
    """(label, text) of the profile's own Markdown fields, labelled as the admin form labels them."""
    opts = type(institution)._meta
    return [(str(opts.get_field(name).verbose_name), getattr(institution, name) or "") for name in fields]
