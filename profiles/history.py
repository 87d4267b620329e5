"""Edit history people can read: what changed, word by word, who changed it, when and why.

simple-history records a row per save. This module decides what a row is worth recording and how
it reads:

- **A save that changes nothing records nothing.** Values are compared *normalised* (a browser's
  textarea posts ``\\r\\n``; trailing spaces per line and at the end carry no meaning; None and ""
  are the same empty field) against the latest history row, leaving out bookkeeping that moves on
  every save (the lock's version, timestamps, who saved last). `connect()` registers the receivers
  once, from `ProfilesConfig.ready`.
- **The editor's reason** (`give_reason`) is kept with the row, beside any reason the workflow
  adds itself ("edited after review: approved → submitted").
- **Revisions and diffs**: `revision_page` lists a page of revisions, each with its word-level diff
  against the one before; `compare` diffs any two revisions of one object. Both look up every
  related object they name in one query per related model, whatever the number of rows.

Reverting goes through the write services (`services.revert_to_revision`), never through here.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q
from django.db.models.signals import post_save, pre_save
from django.utils import formats, timezone
from simple_history.signals import pre_create_historical_record

from audit.services import user_label

#: Fields that move on (nearly) every save without saying anything about the content: the
#: optimistic lock's version, timestamps, who saved last, the public "last updated" date (it moves
#: only together with a field shown here), the queue age, the search index, the row's copy of its sectors.
BOOKKEEPING_FIELDS = frozenset(
    {
        "version", "created_at", "updated_at", "last_edited_by", "public_updated_at", "submitted_at",
        "search_vector", "sector_ids",
    }
)

#: simple-history's reason column is a varchar(100).
REASON_MAX_LENGTH = 100

#: How a history row's type reads.
KINDS = {"+": "Created", "~": "Changed", "-": "Deleted"}

_REASON_ATTR = "_history_reason_given"
_SKIPPED_ATTR = "_history_skipped_unchanged"


# --- what is compared --------------------------------------------------------------------------


def is_tracked(model) -> bool:
    """Whether simple-history records this model (its history model has `tracked_fields`)."""
    return hasattr(model._meta, "simple_history_manager_attribute")


def history_model(model):
    return getattr(model, model._meta.simple_history_manager_attribute).model


def content_fields(model) -> list[models.Field]:
    """The recorded fields a person reads in a diff: everything but the primary key and bookkeeping."""
    return [
        f for f in history_model(model).tracked_fields
        if not f.primary_key and f.name not in BOOKKEEPING_FIELDS and not f.auto_created
    ]


def unify_newlines(text: str) -> str:
    """Text with \\n line breaks only (a browser's textarea posts \\r\\n)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalise(value):
    """The value as compared: text without \\r, trailing whitespace per line and at the end; None as "";
    times to the second."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = unify_newlines(value)
        return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0)  # the admin's date and time inputs carry whole seconds
    return value


def same_content(model, a, b) -> bool:
    """Whether two rows (live objects or history rows of `model`) say the same thing."""
    return all(
        normalise(getattr(a, f.attname)) == normalise(getattr(b, f.attname)) for f in content_fields(model)
    )


def latest_revision(obj):
    """The newest history row of a saved object (None if it has none)."""
    return getattr(obj, obj._meta.simple_history_manager_attribute).order_by("-history_date", "-history_id").first()


# --- the receivers: skip unchanged saves, keep the editor's reason ---------------------------------


def give_reason(obj, reason: str) -> None:
    """The reason an editor gave for saving `obj`; recorded with the next history row it makes."""
    reason = (reason or "").strip()
    if reason:
        setattr(obj, _REASON_ATTR, reason)


def fit_reason(*parts: str) -> str:
    """Reasons joined (editor's first, the workflow's in brackets), cut to the column's length."""
    given, *automatic = [p.strip() for p in parts if p and p.strip()] or [""]
    text = given + "".join(f" ({a})" for a in automatic) if given else ""
    if len(text) > REASON_MAX_LENGTH:
        text = text[: REASON_MAX_LENGTH - 1].rstrip() + "…"
    return text


def _skip_unchanged_save(sender, instance, raw=False, **kwargs):
    """pre_save: when the content equals the latest history row, simple-history records nothing."""
    if instance.__dict__.pop(_SKIPPED_ATTR, False):  # a save of ours that failed before post_save
        instance.__dict__.pop("skip_history_when_saving", None)
    if raw or instance._state.adding or instance.pk is None or hasattr(instance, "skip_history_when_saving"):
        return
    latest = latest_revision(instance)
    if latest is None or latest.history_type == "-" or not same_content(sender, latest, instance):
        return
    instance.skip_history_when_saving = True
    setattr(instance, _SKIPPED_ATTR, True)


def _after_save(sender, instance, **kwargs):
    """post_save (runs after simple-history's): the next save of this object is judged afresh."""
    if instance.__dict__.pop(_SKIPPED_ATTR, False):
        del instance.skip_history_when_saving


def _record_reason(sender, instance, history_instance, **kwargs):
    """The editor's reason first, then whatever the workflow said; nothing stored when neither spoke."""
    given = instance.__dict__.pop(_REASON_ATTR, "")
    reason = fit_reason(given, history_instance.history_change_reason or "")
    history_instance.history_change_reason = reason or None


def connect(models_with_history) -> None:
    """Register the receivers for every recorded model (from `ProfilesConfig.ready`). Connected after
    simple-history's own post_save, so ours runs after it has looked at the instance."""
    for model in models_with_history:
        label = model._meta.label
        pre_save.connect(_skip_unchanged_save, sender=model, dispatch_uid=f"btw-history-skip-{label}")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"btw-history-after-{label}")
        pre_create_historical_record.connect(
            _record_reason, sender=history_model(model), dispatch_uid=f"btw-history-reason-{label}"
        )


# --- word-level diffs --------------------------------------------------------------------------

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class FieldDiff:
    """One field's change: its label and ("same" | "removed" | "added", text) pieces of the whole text."""

    name: str
    label: str
    segments: tuple[tuple[str, str], ...]

    @property
    def before(self) -> str:
        return "".join(text for op, text in self.segments if op != "added")

    @property
    def after(self) -> str:
        return "".join(text for op, text in self.segments if op != "removed")


def word_diff(before: str, after: str) -> tuple[tuple[str, str], ...]:
    """The whole text with deleted and inserted words marked; whitespace and line breaks kept.

    Lines are matched first and only the lines that differ are compared word by word, so a long
    text with one edited sentence costs little."""
    pieces: list[list[str]] = []

    def add(op, text):
        if not text:
            return
        if pieces and pieces[-1][0] == op:
            pieces[-1][1] += text
        else:
            pieces.append([op, text])

    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", "".join(old_lines[i1:i2]))
            continue
        old, new = _TOKENS.findall("".join(old_lines[i1:i2])), _TOKENS.findall("".join(new_lines[j1:j2]))
        for word_op, k1, k2, m1, m2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
            if word_op == "equal":
                add("same", "".join(old[k1:k2]))
            else:
                add("removed", "".join(old[k1:k2]))
                add("added", "".join(new[m1:m2]))
    return tuple((op, text) for op, text in pieces)


# --- displaying values ------------------------------------------------------------------------


class RelatedLabels:
    """Every related object a set of rows names, fetched in one query per related model."""

    def __init__(self, model, rows):
        wanted = defaultdict(set)
        self.fields = [f for f in content_fields(model) if f.is_relation and f.many_to_one]
        for row in rows:
            for f in self.fields:
                value = getattr(row, f.attname)
                if value is not None:
                    wanted[f.related_model].add(value)
        self.objects = {
            related: related._default_manager.in_bulk(list(pks)) for related, pks in wanted.items()
        }

    def label(self, f, pk) -> str:
        obj = self.objects.get(f.related_model, {}).get(pk)
        if obj is None:
            return f"#{pk} (deleted)"
        return user_label(obj) if hasattr(obj, "get_full_name") else str(obj)


def _display(f, value, related: RelatedLabels) -> str:
    if value is None or value == "":
        return ""
    if f.is_relation:
        return related.label(f, value)
    if f.choices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return formats.date_format(timezone.localtime(value), "j M Y, H:i")
    if isinstance(value, datetime.date):
        return formats.date_format(value, "j M Y")
    return str(normalise(value))


def field_diffs(model, before, after, related: RelatedLabels) -> list[FieldDiff]:
    """Every content field that differs between two rows (`before` None: a creation)."""
    out = []
    for f in content_fields(model):
        old = getattr(before, f.attname) if before is not None else None
        new = getattr(after, f.attname)
        if before is not None and normalise(old) == normalise(new):
            continue
        if before is None and normalise(new) == "":
            continue
        before_text, after_text = _display(f, old, related), _display(f, new, related)
        if _is_text(f):
            segments = word_diff(before_text, after_text)
        else:  # one value for another: "Draft → Published"
            arrow = (("same", " → "),) if before_text and after_text else ()
            segments = tuple(
                piece for piece in (("removed", before_text), *arrow, ("added", after_text)) if piece[1]
            )
        out.append(FieldDiff(f.name, str(f.verbose_name), segments))
    return out


def _is_text(f) -> bool:
    """Free text, diffed word by word; anything else (a choice, a date, a link) changes as a whole."""
    return isinstance(f, (models.CharField, models.TextField)) and not f.choices and not f.is_relation


def changes_between(model, before, after, *, only=None) -> list[FieldDiff]:
    """The field diffs from `before` to `after` (live objects or history rows), optionally only of
    the fields named in `only` (a revert shows the fields it restores)."""
    changes = field_diffs(model, before, after, RelatedLabels(model, [before, after]))
    return [c for c in changes if only is None or c.name in only]


# --- revisions -----------------------------------------------------------------------------------


@dataclass
class Revision:
    """One history row as a person reads it."""

    record: object
    number: int
    changes: list[FieldDiff] = field(default_factory=list)

    @property
    def pk(self):
        return self.record.history_id

    @property
    def who(self) -> str:
        record = self.record
        if record.history_user_id is not None and record.history_user is None:
            return "a deleted user"
        return user_label(record.history_user)

    @property
    def when(self) -> str:
        return formats.date_format(timezone.localtime(self.record.history_date), "j M Y, H:i")

    @property
    def kind(self) -> str:
        return KINDS.get(self.record.history_type, self.record.history_type)

    @property
    def reason(self) -> str:
        return self.record.history_change_reason or ""


def revisions_of(model, object_id):
    """Every history row of one object, newest first, with who saved it (one query to run)."""
    return (
        history_model(model)
        .objects.filter(**{model._meta.pk.attname: object_id})
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
    )


@dataclass
class RevisionPage:
    revisions: list[Revision]
    count: int
    number: int
    num_pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


def revision_page(model, object_id, page: int = 1, per_page: int = 50) -> RevisionPage:
    """A page of revisions, newest first, each diffed against the one before it. Two queries plus
    one per related model named, however many revisions the page holds."""
    rows = revisions_of(model, object_id)
    count = rows.count()
    num_pages = max(1, -(-count // per_page))
    page = min(max(1, page), num_pages)
    start = (page - 1) * per_page
    window = list(rows[start: start + per_page + 1])  # one more: the row the oldest here is diffed against
    related = RelatedLabels(model, window)
    revisions = []
    for at, record in enumerate(window[:per_page]):
        previous = window[at + 1] if at + 1 < len(window) else None
        revision = Revision(record, number=count - start - at)
        if record.history_type != "-":
            revision.changes = field_diffs(model, previous, record, related)
        revisions.append(revision)
    return RevisionPage(revisions, count=count, number=page, num_pages=num_pages)


@dataclass
class Comparison:
    older: Revision
    newer: Revision
    changes: list[FieldDiff]
    unchanged: int


def compare(model, object_id, first_id, second_id) -> Comparison | None:
    """Two revisions of one object, older first, and every content field that differs between them.
    None when either is not a revision of this object."""
    rows = {
        r.history_id: r
        for r in revisions_of(model, object_id).filter(history_id__in=[first_id, second_id])
    }
    if first_id not in rows or second_id not in rows:
        return None
    a, b = sorted([rows[first_id], rows[second_id]], key=lambda r: (r.history_date, r.history_id))
    related = RelatedLabels(model, [a, b])
    changes = field_diffs(model, a, b, related) if a is not b else []
    return Comparison(
        older=Revision(a, number=_number(model, object_id, a)),
        newer=Revision(b, number=_number(model, object_id, b)),
        changes=changes,
        unchanged=len(content_fields(model)) - len(changes),
    )


def _number(model, object_id, record) -> int:
    """A revision's number: 1 for the oldest row of the object."""
    at = record.history_date
    return revisions_of(model, object_id).filter(
        Q(history_date__lt=at) | Q(history_date=at, history_id__lte=record.history_id)
    ).count()


def revision_label(record) -> str:
    """ "revision of 28 Nov 2026, 14:02 by Ana Analyst": how a revert names what it went back to."""
    revision = Revision(record, number=0)
    return f"revision of {revision.when} by {revision.who}"
