"""What changed in a reviewed item since its last approval, for the moderator about to decide it.

The approved version is the newest history row in the approved state: editing a reviewed field
moves the item back to "submitted" in the same save (`review.save_edited`), so an approved row
always holds text a moderator approved. Two queries at most plus one per changed foreign key,
whatever the length of the history.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .models import ReviewState


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str

    @property
    def segments(self) -> list[tuple[str, str]]:
        """A word-level diff: ("same" | "removed" | "added", text) pieces, in reading order."""
        old, new = self.before.split(), self.after.split()
        out = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
            if op == "equal":
                out.append(("same", " ".join(old[i1:i2])))
                continue
            if i2 > i1:
                out.append(("removed", " ".join(old[i1:i2])))
            if j2 > j1:
                out.append(("added", " ".join(new[j1:j2])))
        return out


def last_approved_version(item):
    """The history row of the item as a moderator last approved it (None if never approved)."""
    return (
        item.history.filter(review_state=ReviewState.APPROVED).order_by("-history_date", "-history_id").first()
    )


def _display(field, value) -> str:
    if value is None or value == "":
        return "—"
    if field.is_relation:
        related = field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value} (deleted)"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def changes_since_approval(item) -> list[FieldChange] | None:
    """The reviewed fields that differ from the last approved version; None when it was never approved."""
    approved = last_approved_version(item)
    if approved is None:
        return None
    return [
        FieldChange(str(field.verbose_name), _display(field, getattr(approved, field.attname)),
                    _display(field, getattr(item, field.attname)))
        for field in type(item).reviewed_field_objects()
        if getattr(approved, field.attname) != getattr(item, field.attname)
    ]
