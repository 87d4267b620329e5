from django import forms

from .models import Application


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
