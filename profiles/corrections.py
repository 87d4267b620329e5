"""Marking a public edit as a correction: when an edit may be one, and writing it with the edit.

A correction tells readers that something they read was wrong. So it is refused where there was
nothing wrong for them to have read: a profile they could not open (a draft, a scheduled or archived
one), an edit that publishes or takes the profile off the site, or a save in which nothing they see
changed. `services.save_institution` asks `refusal` before it saves the edit and writes the
correction in the edit's own transaction (`record`), so a failed save leaves no correction; the
note is kept as the history row's reason too, so the profile's history shows which edit it was.
"""

from __future__ import annotations

import datetime
import re

from django.db import transaction

from .models import Correction, Institution

#: The history reason of a corrected edit starts so (the note follows, cut to the column).
HISTORY_PREFIX = "Correction"


class CorrectionRefused(Exception):
    """The edit cannot be marked as a correction; the message says why, for the editor."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def refusal(institution: Institution, *, before: dict | None, publishing: bool, changed: list[str], at) -> str:
    """Why this save may not be a correction ("" when it may): `before` is what readers saw (None for
    a new profile), `changed` the reader-visible fields this save changes."""
    if before is None:
        return "A new profile has nothing to correct: readers have not seen it yet."
    was_public = before["status"] == Institution.Status.PUBLISHED and before["published_at"] <= at
    if not was_public:
        return "Only an edit of a published profile can be a correction: readers have not seen this one."
    if publishing or not institution.is_published(at):
        return "An edit that publishes, reschedules or unpublishes a profile cannot also be a correction."
    if not changed:
        return (
            "Nothing readers see changed in this save, so there is nothing to mark as a correction. Change "
            "the text that was wrong (the profile's own fields), or untick “This edit corrects an error "
            "readers saw”."
        )
    return ""


def history_reason(note: str) -> str:
    """The history row's reason for a corrected edit: the note on one line."""
    return f"{HISTORY_PREFIX}: {' '.join(note.split())}"


@transaction.atomic
def record(*, institution: Institution, note: str, user, at: datetime.datetime) -> Correction:
    """Write the correction, published when the edit was made (`at`), with its line endings unified (a
    browser posts CR LF) and no trailing blanks."""
    note = "\n".join(line.rstrip() for line in note.strip().splitlines())
    correction = Correction(institution=institution, note=note, published_at=at, created_by=user)
    correction.full_clean()
    correction.save()
    return correction


#: What Markdown reads as formatting and lets a backslash escape; "<" (raw HTML) becomes an entity.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!>])")


def as_markdown(note: str) -> str:
    """The plain-text note as Markdown that renders back to exactly its text, for the outputs that
    render an update's text as Markdown (feeds, digests): nothing in a note is read as formatting
    or as a citation marker."""
    lines = (line.strip() for line in note.splitlines())
    return "\n\n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", line).replace("<", "&lt;") for line in lines if line)

