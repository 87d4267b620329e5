"""Corrections: an analyst's public note that an edit fixed an error readers saw.

A correction is written with the edit it describes (`services.save_institution`, in the edit's
transaction) and is public text like the profile's own fields: it names no source and no tier, so
every reader, feed, digest and the JSON-LD show the same words. That is why the note is plain text,
not Markdown: Markdown would invite citations, and a citation is gated per reader, which would make
a correction read differently to different readers (and keep it out of the shared renders).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from .institution import Institution

NOTE_MAX_LENGTH = 1000


class Correction(models.Model):
    """Shown as “Correction, 3 December 2026: …” on the profile page, and in its feed, the followers'
    digest, its changelog and its JSON-LD (`CorrectionComment`)."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="corrections")
    note = models.TextField(
        max_length=NOTE_MAX_LENGTH,
        help_text="Public, shown to every reader exactly as written (plain text): what was wrong and what the "
        "profile says now.",
    )
    published_at = models.DateTimeField(
        default=timezone.now, help_text="When readers saw the correction: the time of the edit it describes."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-published_at", "-pk"]
        indexes = [models.Index(fields=["institution", "-published_at"], name="correction_institution_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(GreaterThan(Length(Trim("note")), 0), LessThanOrEqual(Length("note"), NOTE_MAX_LENGTH)),
                name="correction_note_length",
                violation_error_message=f"A correction needs a note of at most {NOTE_MAX_LENGTH} characters.",
            ),
        ]

    def __str__(self):
        return f"Correction to {self.institution_id} on {self.published_at:%Y-%m-%d}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + "#corrections"
