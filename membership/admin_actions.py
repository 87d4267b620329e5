"""Admin decisions taken object by object after a note page (the intermediate page of an action).

Shared by the Leadership Alliance application queue and the evidence moderation queue. The
moderator picks objects (or presses a button on one object's page), sees them listed with a note
box, and confirms; each object is then decided through its service, one at a time, so that a
refusal of one (four eyes, already decided, no permission) is reported by name while the rest
still go through, and every decision that is taken lands in the admin log.

One template, `admin/decision_page.html`, lays out every such page; what it says comes from the
admin: the title (the decision the button takes), the table's columns and cells, each row's
warning (why that row will be refused — the four-eyes rule among them, stated by the code that
enforces it; such a row is shown but not offered), the intro and the labels.

A `ModelAdmin` using `DecisionActionsMixin` sets `decision_form_class` (a form with `decision` and
`note` fields), `decision_errors` and `decision_columns`, and implements `decide_one()`,
`decision_cells()` and `after_single_decision()`; the other hooks have plain defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class DecisionRow:
    """One object on the note page: its id (posted back), its cells, and why it would be refused."""

    pk: object
    cells: list
    warning: str = ""


class DecisionActionsMixin:
    decision_template = "admin/decision_page.html"
    decision_form_class: type
    #: Exceptions whose message is shown to the moderator as it is, prefixed by the object's label.
    decision_errors: tuple[type[Exception], ...] = ()
    #: The note page's table header; `decision_cells()` gives each row in the same order.
    decision_columns: tuple[str, ...] = ()
    #: The buttons of a one-object page opened without a decision: the moderator decides there.
    decision_choices: tuple[tuple[str, str], ...] = (("approve", "Approve"), ("reject", "Reject"))
    #: What the table says when none of the chosen objects is left to decide.
    decision_empty_text = "None of the selected objects is among those you may see."
    #: A CSS class for the page (and, suffixed `-form`, its form).
    decision_page_class = "decision"

    # --- hooks ---------------------------------------------------------------------------------

    def decide_one(self, request, obj, decision: str, note: str) -> None:
        raise NotImplementedError

    def decision_cells(self, obj) -> list:
        """The object's row on the note page, one value per `decision_columns` entry."""
        return [str(obj)]

    def decision_warning(self, request, obj, decision: str | None) -> str:
        """Why deciding this object will be refused ("" when it will go through)."""
        return ""

    def decision_intro(self, decision: str | None, count: int) -> str:
        """What the decision does, said above the table."""
        return ""

    def decision_note_label(self, decision: str | None) -> str:
        return "Note"

    def decision_submit_label(self, decision: str, count: int) -> str:
        return f"{decision.capitalize()} {count}"

    def decision_label(self, obj) -> str:
        """How an object is named in a refusal message."""
        return str(obj)

    def decision_log_message(self, obj, decision: str, note: str) -> str:
        return f"{decision.capitalize()}d. {note}".strip()

    def decision_done_message(self, count: int, decision: str) -> str:
        return f"{count} item(s) {decision}d."

    def decision_title(self, decision: str | None, count: int) -> str:
        """The page's title and last breadcrumb: the action the button takes, never another one."""
        opts = self.model._meta
        noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
        if decision is None:
            verbs = " or ".join(label.lower() for _value, label in self.decision_choices)
            return f"{verbs.capitalize()} {noun}"
        return f"{decision.capitalize()} {noun}"

    def decision_back_url(self, request, single) -> str:
        """Where "Cancel" goes: the one object's page, else the list the action was chosen from."""
        if single is not None:
            url = self._single_url(single)
            if url:
                return url
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)

    def after_single_decision(self, request, obj):
        """Where the one-object page goes once decided (a redirect)."""
        raise NotImplementedError

    # --- the page and the loop -----------------------------------------------------------------

    def decision_page(self, request, objects, decision, *, action=None, single=None, extra_context=None):
        """First list the chosen objects and ask for a note; on confirmation, decide each.

        Returns None once an action has run (the changelist then redirects back to itself), a
        redirect once a single object's page has run, or the note page (again, with errors).

        The page offers only what will go through: a row with a warning (four eyes, already
        decided, not the staff member's to decide) says why, is not posted back, and is not counted
        in the button; when no row is left, the page has no button at all, only the way back.
        A refused row posted anyway (a stale or forged form) is refused again, by name, when deciding.
        """
        objects = list(objects)
        if request.method == "POST" and request.POST.get("confirm"):
            form = self.decision_form_class(request.POST)
            if form.is_valid():
                self.decide_each(request, objects, form.cleaned_data["decision"], form.cleaned_data["note"])
                return None if single is None else self.after_single_decision(request, single)
            decision = decision or self._posted_decision(form)
        else:
            form = self.decision_form_class(initial={"decision": decision})
        rows = [DecisionRow(obj.pk, self.decision_cells(obj), self.decision_warning(request, obj, decision))
                for obj in objects]
        allowed = [row for row in rows if not row.warning]
        context = {
            **self.admin_site.each_context(request),
            "title": self.decision_title(decision, len(rows)),
            "opts": self.model._meta,
            "columns": self.decision_columns,
            "rows": rows,
            "allowed_rows": allowed,
            "refused_count": len(rows) - len(allowed),
            "empty_text": self.decision_empty_text,
            "intro": self.decision_intro(decision, len(allowed)),
            "note_label": self.decision_note_label(decision),
            "submit_label": self.decision_submit_label(decision, len(allowed)) if decision else "",
            "choices": () if decision else self.decision_choices,
            "page_class": self.decision_page_class,
            "form": form,
            "decision": decision,
            "action": action,
            "single": single,
            "single_url": self._single_url(single),
            "back_url": self.decision_back_url(request, single),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.decision_template, context)

    def _posted_decision(self, form):
        """The decision a refused form was posting (its note was missing), so the page comes back
        titled by that decision; None when it named none of the offered choices."""
        value = form.data.get("decision")
        return value if value in dict(form.fields["decision"].choices) else None

    def _single_url(self, obj) -> str:
        """The one object's own page, for the breadcrumbs (none when the admin has no such page)."""
        if obj is None:
            return ""
        opts = obj._meta
        try:
            return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)],
                           current_app=self.admin_site.name)
        except NoReverseMatch:
            return ""

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
