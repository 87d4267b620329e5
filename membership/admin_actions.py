"""Admin decisions taken object by object after a note page (the intermediate page of an action).

Shared by the Leadership Alliance application queue and the evidence moderation queue. The
moderator picks objects (or presses a button on one object's page), sees them listed with a note
box, and confirms; each object is then decided through its service, one at a time, so that a
refusal of one (four eyes, already decided, no permission) is reported by name while the rest
still go through, and every decision that is taken lands in the admin log.

A `ModelAdmin` using `DecisionActionsMixin` sets `decide_template`, `decision_form_class` (a form
with `decision` and `note` fields) and `decision_errors`, and implements `decide_one()`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse


class DecisionActionsMixin:
    decide_template: str
    decision_form_class: type
    #: Exceptions whose message is shown to the moderator as it is, prefixed by the object's label.
    decision_errors: tuple[type[Exception], ...] = ()
    #: The name under which the template receives the chosen objects.
    decision_objects_name = "objects"

    # --- hooks ---------------------------------------------------------------------------------

    def decide_one(self, request, obj, decision: str, note: str) -> None:
        raise NotImplementedError

    def decision_label(self, obj) -> str:
        """How an object is named in a refusal message."""
        return str(obj)

    def decision_log_message(self, obj, decision: str, note: str) -> str:
        return f"{decision.capitalize()}d. {note}".strip()

    def decision_done_message(self, count: int, decision: str) -> str:
        return f"{count} item(s) {decision}d."

    def decision_title(self, decision: str | None) -> str:
        return f"{(decision or 'decide').capitalize()} {self.model._meta.verbose_name_plural}"

    def after_single_decision(self, request, obj):
        """Where the one-object page goes once decided (a redirect)."""
        raise NotImplementedError

    # --- the page and the loop -----------------------------------------------------------------

    def decision_page(self, request, objects, decision, *, action=None, single=None, extra_context=None):
        """First list the chosen objects and ask for a note; on confirmation, decide each.

        Returns None once an action has run (the changelist then redirects back to itself), a
        redirect once a single object's page has run, or the note page (again, with errors).
        """
        objects = list(objects)
        if request.method == "POST" and request.POST.get("confirm"):
            form = self.decision_form_class(request.POST)
            if form.is_valid():
                self.decide_each(request, objects, form.cleaned_data["decision"], form.cleaned_data["note"])
                return None if single is None else self.after_single_decision(request, single)
        else:
            form = self.decision_form_class(initial={"decision": decision})
        context = {
            **self.admin_site.each_context(request),
            "title": self.decision_title(decision),
            "opts": self.model._meta,
            self.decision_objects_name: objects,
            "form": form,
            "decision": decision,
            "action": action,
            "single": single,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.decide_template, context)

    def decide_each(self, request, objects, decision: str, note: str) -> int:
        """Decide object by object; report each refusal by name and carry on with the rest."""
        done = 0
        for obj in objects:
            try:
                self.decide_one(request, obj, decision, note)
            except self.decision_errors as error:
                self.message_user(request, f"{self.decision_label(obj)}: {error}", messages.ERROR)
                continue
            self.log_change(request, obj, self.decision_log_message(obj, decision, note))
            done += 1
        if done:
            self.message_user(request, self.decision_done_message(done, decision))
        return done
