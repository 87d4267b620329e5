"""What the source checks found, read-only on the evidence item's page.

- `source_watch`: the source's state as readers see it (verified, changed, moved, gone, since when),
  the re-checks' bookkeeping (last and next look, failures in a row), the archive service's progress
  (`profiles.sources.archive.describe`: state, attempts, next try, last error, the copy), and a link
  to the comparison page when the source is an alert.
- `source_capture`: the capture of the item's latest approval (`SourceCheck.objects.latest_capture`):
  where the URL ended, its status, title, size, type, text hash, redirects, or why it failed.

Read-only fields, not pages of their own: checks are written by the jobs only, and whoever may open
the evidence item may read them.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from ..models import ReviewState, SourceAlertItem, SourceCheck, TrackedSource
from ..sources import archive


def _when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "j M Y, H:i") if moment else "—"


def _table(rows) -> str:
    return format_html(
        '<table class="source-capture"><tbody>{}</tbody></table>',
        format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows),
    )


def _kilobytes(size: int) -> str:
    return f"{size:,} bytes" if size < 10_000 else f"{size / 1024:,.0f} KB"


class SourceCaptureDisplay:
    """Mixin for the evidence admin: the `source_watch` and `source_capture` read-only fields."""

    @admin.display(description="source state")
    def source_watch(self, obj):
        if obj is None or obj.pk is None:
            return "Checked once a moderator approves it."
        tracked = TrackedSource.objects.filter(evidence_id=obj.pk).first()
        state = obj.get_source_state_display()
        if obj.source_state_at:
            state = f"{state} since {_when(obj.source_state_at)}"
        rows = [("State", state), ("Verified", _when(obj.source_verified_at))]
        if tracked is not None:
            rows += [
                ("Last looked at", _when(tracked.last_checked_at)),
                ("Next look", _when(tracked.next_check_at)),
                ("Failures in a row", tracked.failures),
            ]
            rows += archive.describe(tracked)
        if obj.snapshot_url:
            rows.append(("Archive service copy", format_html('<a href="{0}" rel="noopener noreferrer">{0}</a>',
                                                             obj.snapshot_url)))
        if obj.review_state == ReviewState.APPROVED and obj.source_state in SourceAlertItem.ALERT_STATES:
            url = reverse("admin:profiles_sourcealertitem_compare", args=[obj.pk])
            rows.append(("Compare", format_html('<a href="{}">Compare with the verified text…</a>', url)))
        return _table(rows)

    @admin.display(description="source capture")
    def source_capture(self, obj):
        if obj is None or obj.pk is None:
            return "Captured once a moderator approves it."
        check = SourceCheck.objects.latest_capture(obj)
        if check is None:
            if obj.review_state == ReviewState.APPROVED:
                return "Approved: the capture runs in the background and shows here when done."
            return "Not captured: the source is fetched once a moderator approves it."
        rows = [
            ("Fetched", _when(check.fetched_at)),
            ("Outcome", check.get_outcome_display()),
            ("Status", check.status or "—"),
        ]
        if check.error:
            rows.append(("Error", f"{check.error}: {check.message}"))
        elif check.message:
            rows.append(("Answer", check.message))
        if check.final_url and check.final_url != check.url:
            rows.append(("Ended at", check.final_url))
        for number, hop in enumerate(check.redirects, start=1):
            rows.append((f"Redirect {number}", f"{hop.get('status')} → {hop.get('location')}"))
        if check.title:
            rows.append(("Title", check.title))
        if check.content_type or check.size:
            rows.append(("Type and size", f"{check.content_type or '?'}, {_kilobytes(check.size)}"))
        if check.text_hash:
            rows.append(("Text hash (SHA-256)", check.text_hash))
        return _table(rows)
