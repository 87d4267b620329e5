"""What the source said when it was captured, read-only on the evidence item's page.

Staff see the capture of the item's latest approval (`SourceCheck.objects.latest_capture`): where the
URL ended, its status, title, size, type, text hash, redirects, or why it could not be fetched. It is
a read-only field, not a page of its own: captures are written by the capture job only, and whoever
may open the evidence item may read them.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from ..models import ReviewState, SourceCheck


def _kilobytes(size: int) -> str:
    return f"{size:,} bytes" if size < 10_000 else f"{size / 1024:,.0f} KB"


class SourceCaptureDisplay:
    """Mixin for the evidence admin: the `source_capture` read-only field."""

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
            ("Fetched", formats.date_format(timezone.localtime(check.fetched_at), "j M Y, H:i")),
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
        return format_html(
            '<table class="source-capture"><tbody>{}</tbody></table>',
            format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows),
        )
