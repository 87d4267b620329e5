"""Admin forms: the profile form that carries its optimistic-lock version, and inline formsets
that turn database constraints into messages an analyst can act on (never an IntegrityError)."""

from __future__ import annotations

import copy
from collections import Counter

from django import forms
from django.core.exceptions import ValidationError

from . import publication
from .citations import CITATION_SYNTAX
from .models import MARKDOWN_HELP, Institution, ReviewState
from .publication import PublicationRefused
from .services import StaleEdit, find_stale_edit


class InstitutionAdminForm(forms.ModelForm):
    """The profile form. `loaded_version` is the row version the editor loaded; clean() refuses stale saves,
    and refuses publishing or scheduling a profile that fails the publication checklist (`profiles.publication`)
    with an error on `status`, so the analyst keeps everything they typed."""

    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    override_reason = forms.CharField(
        label=publication.OVERRIDE_LABEL,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Superusers only. Publishes or schedules this profile although the publication checklist "
        "is incomplete; the reason and the missing items are kept in the audit log.",
    )

    #: Set by the admin when a save lost a race after clean() passed; the re-shown form reports it.
    stale_edit: StaleEdit | None = None
    #: Set by the admin: whether this editor may publish despite the checklist (superusers only).
    #: Without it the override field does not exist, so a posted reason is ignored.
    may_override: bool = False
    #: Set by the admin when the service's final guard refused after clean() passed (a citation in an
    #: inline row of the same submission, say); the re-shown form reports it.
    publication_refused: PublicationRefused | None = None

    class Meta:
        model = Institution
        fields = [
            "name", "slug", "type", "base_region", "profile_focus", "sectors", "dek", "key_points", "headline",
            "body", "domain_summary", "public_role", "operating_surface", "what_it_does", "why_it_matters",
            "criticality", "time_horizon", "what_to_watch", "public_view", "caveats", "status", "published_at",
        ]
        help_texts = {
            # The model's text names the address with "<slug>", which the admin renders as HTML.
            "slug": "The profile's address: /profiles/‹slug›/ (lower-case letters, digits and hyphens). "
            "Change it only before publishing.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["loaded_version"].initial = self.instance.version
        if not self.may_override:
            self.fields.pop("override_reason", None)
        add_citation_help(self.fields)

    def clean(self):
        cleaned = super().clean()
        if "published_at" in self.fields:
            when = Institution.publication_time(cleaned.get("status"), cleaned.get("published_at"))
            if when is not None:
                cleaned["published_at"] = when  # "leave empty to publish now"
        if self.instance.pk is not None and "loaded_version" in self.fields:
            self._check_version(cleaned.get("loaded_version"))
        if "status" in self.fields:
            self._check_publication(cleaned)
        return cleaned

    def _check_version(self, version):
        if version is None:
            if "loaded_version" not in self.errors:
                self.add_error(None, "This form has lost its version marker. Reload the page, then edit again.")
            return
        stale = self.stale_edit or find_stale_edit(institution=self.instance, form_version=version)
        if stale is not None:
            self.add_error(None, ValidationError(stale.message, code="stale_edit"))
            self._rebase_on(stale.current_version)

    def _rebase_on(self, current_version):
        """Nothing the editor typed is lost: the re-shown form keeps it, now based on the latest
        version, so a deliberate second save (after reading the message) goes through."""
        data = self.data.copy()
        data[self.add_prefix("loaded_version")] = str(current_version)
        self.data = data

    def _check_publication(self, cleaned):
        """The guard, early: the stored evidence and the profile's own text as typed. Inline rows of
        this submission are not saved yet; the service judges them after saving, and a refusal
        comes back here as `publication_refused`."""
        if "status" in self.errors or "published_at" in self.errors:
            return
        adding = self.instance._state.adding
        if not publication.is_publication(
            status=cleaned.get("status"),
            published_at=cleaned.get("published_at", self.instance.published_at),
            before_status=None if adding else self.instance.status,
            before_published_at=None if adding else self.instance.published_at,
        ):
            return
        if self.publication_refused is not None:
            failed = self.publication_refused.failed
        else:
            candidate = copy.copy(self.instance)
            for name in publication.CITABLE_FIELDS:
                if name in cleaned:
                    setattr(candidate, name, cleaned[name])
            failed = publication.failed_checks(candidate, texts=publication.own_texts(candidate))
        if failed and not self.override:
            message = publication.refusal_message(failed, overridable=self.may_override)
            self.add_error("status", ValidationError(message, code="publication_guard"))

    @property
    def override(self) -> str:
        """A superuser's reason to publish despite the checklist ("" for everyone else)."""
        if not self.may_override or not hasattr(self, "cleaned_data"):
            return ""
        return (self.cleaned_data.get("override_reason") or "").strip()

    @property
    def form_version(self):
        return self.cleaned_data.get("loaded_version")


#: Under each Markdown field: a reminder of the syntax. The full explanation (`CITATION_HELP`) is
#: shown once per form, at its top (`citation_help` in the change form's context).
CITATION_HINT = f"Cite evidence with {CITATION_SYNTAX}."


def add_citation_help(fields) -> None:
    """Markdown fields remind how to cite evidence (the model's help text predates citations)."""
    for field in fields.values():
        if MARKDOWN_HELP in (field.help_text or "") and CITATION_HINT not in field.help_text:
            field.help_text = f"{field.help_text} {CITATION_HINT}"


REVIEWED_FIELD_HELP = "Reviewed: changing it on an approved item sends the item back to a moderator."


def add_review_help(fields, model) -> None:
    """Fields the model declares reviewed (`review_fields`) say so, so an edit's effect is no surprise."""
    for name in getattr(model, "review_fields", ()):
        field = fields.get(name)
        if field is not None and REVIEWED_FIELD_HELP not in (field.help_text or ""):
            field.help_text = f"{field.help_text} {REVIEWED_FIELD_HELP}".strip()


class ReviewDecisionForm(forms.Form):
    """The note a moderator gives with a decision on evidence or a relationship.

    Rejections and retractions need one: the analyst (rejection) and the record (retraction of
    something readers saw) need to know why. Approval notes are optional.
    """

    DECISIONS = [("approve", "Approve"), ("reject", "Reject"), ("retract", "Retract")]
    NOTE_REQUIRED = {
        "reject": "A rejection needs a note for the analyst: say what is wrong with the source or claim.",
        "retract": "A retraction needs a note for the record: say why readers should no longer see this.",
    }

    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.HiddenInput)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Kept in the item's review record and e-mailed to the analyst who submitted it. "
        "Required to reject or retract.",
    )

    def clean(self):
        cleaned = super().clean()
        message = self.NOTE_REQUIRED.get(cleaned.get("decision"))
        if message and not (cleaned.get("note") or "").strip():
            self.add_error("note", message)
        return cleaned


# --- inline formsets --------------------------------------------------------------------------


class ProfileChildForm(forms.ModelForm):
    """Inline row form: an evidence link must point at this same profile's evidence."""

    evidence_owner_field = "institution"

    def clean(self):
        cleaned = super().clean()
        evidence = cleaned.get("evidence")
        owner = cleaned.get(self.evidence_owner_field) or getattr(self.instance, self.evidence_owner_field, None)
        if evidence is not None and owner is not None and getattr(owner, "pk", owner) != evidence.institution_id:
            self.add_error("evidence", "Choose evidence from this profile.")
        return cleaned


class RelationshipForm(ProfileChildForm):
    evidence_owner_field = "source"

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("source") or (self.instance.source if self.instance.source_id else None)
        target = cleaned.get("target")
        if source is not None and target is not None and source.pk == target.pk:
            self.add_error("target", "A profile cannot have a relationship with itself; choose another profile.")
        return cleaned


class RelatedLinkForm(ProfileChildForm):
    def clean(self):
        cleaned = super().clean()
        target, url = cleaned.get("target"), cleaned.get("url")
        if "url" not in self.errors and "target" not in self.errors:
            if target and url:
                self.add_error("url", "Clear this URL, or clear the profile: one of the two.")
            elif not target and not url:
                self.add_error("url", "Give an external URL here, or choose a profile.")
        return cleaned


class ProfileChildFormSet(forms.BaseInlineFormSet):
    """Inline formset; `unique_in_profile` names fields whose values two rows of one profile may
    not share. The check covers the rows in the form *and* rows saved meanwhile by a colleague,
    so a clash is a message on the form, never an IntegrityError."""

    unique_in_profile: tuple[str, ...] = ()
    unique_message = "Two rows of this profile have the same %(fields)s."

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:  # in a table row its only label is the column heading: name it
            form.fields["DELETE"].widget.attrs.setdefault("aria-label", "Delete this row")

    def live_forms(self):
        """Rows that will exist after the save: valid, filled in, not marked for deletion."""
        return [
            form
            for form in self.forms
            if form.is_valid() and form.cleaned_data and not self._should_delete_form(form)
        ]

    def clean(self):
        if self.unique_in_profile:
            self._check_unique_in_profile()  # before Django's own duplicate check, with a clearer message
        super().clean()

    def _check_unique_in_profile(self):
        fields = self.unique_in_profile
        keyed = {}
        for form in self.live_forms():
            values = [form.cleaned_data.get(name) for name in fields]
            if all(value is not None for value in values):
                keyed[form] = tuple(getattr(value, "pk", value) for value in values)
        counts = Counter(keyed.values())
        if self.instance.pk is not None:
            in_form = [form.instance.pk for form in self.forms if form.instance.pk is not None]
            saved_elsewhere = (
                self.model._default_manager.filter(**{self.fk.name: self.instance})
                .exclude(pk__in=in_form)
                .values_list(*fields)
            )
            counts.update(tuple(row) for row in saved_elsewhere)
        clashes = {key for key, n in counts.items() if n > 1}
        if not clashes:
            return
        for form, key in keyed.items():
            if key in clashes:
                form.add_error(fields[0], "Another row of this profile already has this value.")
        labels = " and ".join(str(self.model._meta.get_field(name).verbose_name) for name in fields)
        raise ValidationError(self.unique_message, params={"fields": labels}, code="unique_in_profile")


class FAQFormSet(ProfileChildFormSet):
    """Two FAQ items of one profile cannot share an order (the database refuses it too)."""

    unique_in_profile = ("order",)
    unique_message = "Each FAQ item of a profile needs its own %(fields)s number."


class ReviewedFormSet(ProfileChildFormSet):
    """Evidence and relationships readers have seen are retracted by a moderator, not deleted."""

    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            instance = form.instance
            if instance.pk is not None and instance.review_state in (ReviewState.APPROVED, ReviewState.RETRACTED):
                raise ValidationError(
                    "“%(item)s” has been reviewed (%(state)s) and stays on record: ask a moderator to "
                    "retract it instead of deleting it.",
                    params={"item": instance, "state": instance.get_review_state_display().lower()},
                    code="reviewed_item_delete",
                )


class RelationshipFormSet(ReviewedFormSet):
    unique_in_profile = ("target", "kind")
    unique_message = "This profile already has a relationship of this kind with that profile (%(fields)s)."
