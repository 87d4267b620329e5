"""The profile form's "This edit corrects an error readers saw": a tick box and the public note.

The rule of when an edit may be a correction is `profiles.corrections.refusal`. The form asks it
early, from the submission as typed (so the editor gets the reason beside the box without a save),
and the edit service asks it again on the saved row, where a refusal rolls everything back and comes
back to this form as `correction_refused` (the admin's refusal path, `InstitutionAdmin.changeform_view`).
"""

from __future__ import annotations

import copy

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from .. import corrections, publication, services
from ..forms import InstitutionAdminForm
from ..models import Institution
from ..models.corrections import NOTE_MAX_LENGTH

IS_CORRECTION = "is_correction"
CORRECTION_NOTE = "correction_note"
FIELDS = (IS_CORRECTION, CORRECTION_NOTE)
FIELDSET = (
    "Correction",
    {
        "fields": list(FIELDS),
        "description": "Tick this only when the edit fixes something that was wrong in what readers saw. The "
        "note is published with today's date at the top of the profile, in its changelog, its feed and "
        "followers' digests.",
    },
)


class InstitutionChangeForm(InstitutionAdminForm):
    """The profile form with the correction fields (only on the change form of a published profile)."""

    is_correction = forms.BooleanField(label="This edit corrects an error readers saw", required=False)
    correction_note = forms.CharField(
        label="Correction note",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required when the box above is ticked. Public, plain text, as readers will read it: what was "
        "wrong and what the profile says now.",
    )

    #: Set by the admin when the edit service refused the correction after clean() passed.
    correction_refused: corrections.CorrectionRefused | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None or not self.instance.is_published():
            for name in FIELDS:
                self.fields.pop(name, None)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get(IS_CORRECTION):
            return cleaned
        note = (cleaned.get(CORRECTION_NOTE) or "").strip()
        if not note:
            if CORRECTION_NOTE not in self.errors:
                self.add_error(CORRECTION_NOTE, "Write the correction note readers will see, or untick the box.")
            return cleaned
        refused = self.correction_refused.message if self.correction_refused else self._early_refusal(cleaned)
        if refused:
            self.add_error(IS_CORRECTION, ValidationError(refused, code="correction_refused"))
        return cleaned

    def _early_refusal(self, cleaned) -> str:
        """`corrections.refusal` for the submission as typed, against the profile as it was loaded."""
        instance = self.instance
        before = {name: getattr(instance, name) for name in (*services.READER_VISIBLE_FIELDS, "status", "published_at")}
        candidate = copy.copy(instance)
        for name in (*services.READER_VISIBLE_FIELDS, "status", "published_at"):
            if name in cleaned:
                setattr(candidate, name, cleaned[name])
        publishing = publication.is_publication(
            status=candidate.status,
            published_at=candidate.published_at,
            before_status=before["status"],
            before_published_at=before["published_at"],
        )
        changed = [] if publishing else services.changed_public_fields(candidate, before)
        return corrections.refusal(candidate, before=before, publishing=publishing, changed=changed, at=timezone.now())

    @property
    def published_correction_note(self) -> str:
        """The note to publish with this edit ("" when the edit is not a correction)."""
        if not hasattr(self, "cleaned_data") or not self.cleaned_data.get(IS_CORRECTION):
            return ""
        return (self.cleaned_data.get(CORRECTION_NOTE) or "").strip()


def with_correction_fieldset(fieldsets, obj: Institution | None):
    """The change form of a published profile gets the correction fields, just before "Publishing"."""
    if obj is None or obj.pk is None or not obj.is_published():
        return fieldsets
    at = next((n for n, (name, _opts) in enumerate(fieldsets) if name == "Publishing"), len(fieldsets))
    return [*fieldsets[:at], FIELDSET, *fieldsets[at:]]
