from django import forms

from .models import ApiToken, Application
from .tokens import LIFETIME_DAYS


class ApplicationForm(forms.ModelForm):
    """The Leadership Alliance application a verified member fills in."""

    consent = forms.BooleanField(
        required=True,
        label="I agree that BTW staff may review these details to decide my application.",
        error_messages={"required": "Please confirm that we may review the details you give us."},
    )

    class Meta:
        model = Application
        fields = ["organisation", "role", "qualification_statement", "consent"]
        labels = {
            "organisation": "Organisation",
            "role": "Your role",
            "qualification_statement": "Why you qualify",
        }
        help_texts = {
            "organisation": "The company or institution you represent.",
            "role": "Your position there, e.g. Chief Technology Officer.",
            "qualification_statement": "Which internet-infrastructure assets you own or manage, "
            "or which management responsibility you hold.",
        }
        widgets = {"qualification_statement": forms.Textarea(attrs={"rows": 6})}


class DecisionForm(forms.Form):
    """The note a moderator gives with a decision; required when rejecting."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.HiddenInput)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Sent to the applicant with the decision. Required when rejecting.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not (cleaned.get("note") or "").strip():
            self.add_error("note", "Give the applicant a reason: a note is required to reject an application.")
        return cleaned


class ApiTokenForm(forms.Form):
    """Name a new API token and choose how long it lasts (`membership.tokens.create_token` makes it)."""

    LIFETIME_CHOICES = [
        ("never" if days is None else str(days), "Never" if days is None else f"{days} days") for days in LIFETIME_DAYS
    ]

    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        label="Name",
        help_text="What uses it, e.g. “Research notebook”. Only you see it.",
        error_messages={"required": "Give the token a name, so you can tell it apart later."},
    )
    lifetime = forms.TypedChoiceField(
        choices=LIFETIME_CHOICES,
        coerce=lambda value: None if value == "never" else int(value),
        initial="90",
        error_messages={"required": "Choose when the token expires."},
        label="Expires after",
        help_text="A token that expires is safer if it is ever copied somewhere it should not be.",
    )

    def __init__(self, *args, owner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if self.owner is not None and ApiToken.objects.unrevoked().filter(owner=self.owner, name=name).exists():
            raise forms.ValidationError(
                "You already have a token with this name: choose another, or revoke that one first."
            )
        return name
