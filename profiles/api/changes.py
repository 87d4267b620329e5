"""The change stream: `/api/v1/changes/?since=<cursor>` — every change a reader could see, in commit
order, so that a mirror stays exact without crawling again.

It reads the change log (`profiles.models.Change`) after the cursor and writes each changed resource
as it is *now*, for this reader, through its `Resource`:

- a resource the reader may see comes whole (`"op": "upsert"`);
- one they may not — retracted, deleted, its profile unpublished or archived, its tier raised above
  theirs, or never visible — comes as a **tombstone** (`"op": "remove"`): its kind and id, never a
  word of its text;
- a changed profile brings everything on it (its evidence, relationships at either end, watchpoints
  and timeline), so publishing or unpublishing a profile reaches a mirror in one step.

A scheduled profile goes live without a write; once a reader has read to the end of the log, the
profiles whose publication time passed since their cursor's clock are added, and the clock moves.

The cursor (opaque to clients) holds the log position, the clock and the reader's level when it was
issued. A cursor read at another level is refused with 409: what the reader may see changed as a
whole, and only a fresh copy (a dump, or `since=0`) is exact again.
"""

from __future__ import annotations

import base64
import binascii
import datetime

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

import siteurl
from membership.gating import Reader

from ..models import Change, Institution
from . import conditional, filters, resources
from .pagination import bounded_count
from .views import CachingHeadersMixin

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
_CURSOR_VERSION = "c1"


class TierChanged(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "Your tier changed since this cursor was issued, so what you may read changed as a whole: "
        "start again from a fresh copy (since=0, or a dump)."
    )
    default_code = "tier_changed"


# --- the cursor -------------------------------------------------------------------------------------------

def encode(txid: int, seq: int, level: int, clock: datetime.datetime) -> str:
    raw = f"{_CURSOR_VERSION}.{txid}.{seq}.{level}.{int(clock.timestamp() * 1_000_000)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[int, int, int, datetime.datetime]:
    """(txid, seq, level, clock) of a cursor this API issued; ValidationError (400) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, txid, seq, level, micros = raw.split(".")
        if version != _CURSOR_VERSION:
            raise ValueError
        clock = datetime.datetime.fromtimestamp(int(micros) / 1_000_000, tz=datetime.UTC)
        return int(txid), int(seq), int(level), clock
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        raise ValidationError({"since": ["Not a cursor this API issued."]}) from None


def start(reader: Reader, now: datetime.datetime) -> tuple[int, int, int, datetime.datetime]:
    """`since=0`: the whole log, read as it is now (so every profile published now comes from its rows)."""
    return -1, -1, reader.level, now


def latest(reader: Reader, now: datetime.datetime) -> tuple[int, int, int, datetime.datetime]:
    """`since=now`: the end of the log, for a mirror that has just copied everything another way."""
    last = Change.objects.committed().order_by("-txid", "-seq").values_list("txid", "seq").first() or (-1, -1)
    return *last, reader.level, now


def current_cursor(reader: Reader) -> str:
    """A cursor at the end of the log now, for this reader (a dump's manifest carries one)."""
    return encode(*latest(reader, timezone.now()))


# --- reading -----------------------------------------------------------------------------------------------

def read(reader: Reader, since: str, limit: int = DEFAULT_LIMIT) -> dict:
    """The next page of changes after `since` for this reader: records, the next cursor, and whether
    the log has more."""
    now = timezone.now()
    if since == "0":
        txid, seq, level, clock = start(reader, now)
    elif since == "now":
        txid, seq, level, clock = latest(reader, now)
    else:
        txid, seq, level, clock = decode(since)
    if level != reader.level:
        raise TierChanged
    rows = list(Change.objects.after(txid, seq)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        txid, seq = rows[-1].txid, rows[-1].seq
    changed = _last_per_resource(rows)
    if not more:
        # Read to the end: profiles that went live by the clock since the cursor's clock are changes too.
        went_live = Institution.objects.published(now).filter(published_at__gt=clock).values_list("pk", flat=True)
        for pk in went_live:
            changed.setdefault(("institution", pk), now)
        clock = now
    return {
        "results": write(reader, changed),
        "next": encode(txid, seq, reader.level, clock),
        "more": more,
    }


def _last_per_resource(rows) -> dict[tuple[str, int], datetime.datetime]:
    """Each changed resource once, in the order of its last change, with that change's time."""
    changed: dict[tuple[str, int], datetime.datetime] = {}
    for row in rows:
        changed.pop((row.kind, row.object_id), None)
        changed[(row.kind, row.object_id)] = row.at
    return changed


def write(reader: Reader, changed: dict[tuple[str, int], datetime.datetime]) -> list[dict]:
    """The records of the changed resources, for this reader: each once, profiles before their parts.

    A profile the reader may see brings every part of it they may see; one they may not brings a
    tombstone for each of its parts (ids only), so a mirror never keeps a part of a profile it dropped.
    """
    ids: dict[str, set[int]] = {kind: set() for kind in resources.BY_KIND}
    for kind, pk in changed:
        ids[kind].add(pk)
    at = {key: when.isoformat() for key, when in changed.items()}
    records: list[dict] = []
    shown_profiles: list[int] = []
    hidden_profiles: list[int] = []
    for kind, resource in resources.BY_KIND.items():
        if kind == "institution":
            shown_query, removed = Q(pk__in=ids[kind]), set()
        else:
            shown_query = Q(pk__in=ids[kind]) | resource.of_profiles(shown_profiles)
            removed = set(resource.visible(reader).model.objects.filter(resource.of_profiles(hidden_profiles))
                          .values_list("pk", flat=True)) if hidden_profiles else set()
        shown = list(resource.rows(reader).filter(shown_query).order_by("pk")) if ids[kind] or shown_profiles else []
        for obj, data in zip(shown, resource.write(shown, reader), strict=True):
            records.append(_record(kind, obj.pk, "upsert", at.get((kind, obj.pk)), data))
        shown_ids = {obj.pk for obj in shown}
        removed = (removed | ids[kind]) - shown_ids
        for pk in sorted(removed):
            records.append(_record(kind, pk, "remove", at.get((kind, pk)), None))
        if kind == "institution":
            shown_profiles, hidden_profiles = sorted(shown_ids), sorted(removed)
    return records


def _record(kind: str, pk: int, op: str, at: str | None, data: dict | None) -> dict:
    record = {"kind": kind, "id": pk, "op": op, "changed_at": at}
    if data is not None:
        record["data"] = data
    return record


# --- the endpoint ----------------------------------------------------------------------------------------

CHANGE_RECORD = inline_serializer(
    "ChangeRecord",
    {
        "kind": serializers.ChoiceField(choices=list(resources.BY_KIND)),
        "id": serializers.IntegerField(),
        "op": serializers.ChoiceField(choices=["upsert", "remove"]),
        "changed_at": serializers.DateTimeField(allow_null=True),
        "data": serializers.DictField(required=False, help_text="The resource as its own endpoint writes it "
                                      "(a profile whole); absent from a tombstone."),
    },
)


class ChangesView(CachingHeadersMixin, APIView):
    """Every change you could see since a cursor, with tombstones for what left your view."""

    @extend_schema(
        summary="Changes since a cursor",
        parameters=[
            OpenApiParameter("since", {"type": "string", "minLength": 1}, required=True,
                             description="A cursor from a previous page's `next` or a dump's manifest; `0` for "
                             "the whole log; `now` for its end."),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                             description=f"Log rows to read (default {DEFAULT_LIMIT}); a changed profile brings "
                             "its parts with it."),
        ],
        responses={
            200: inline_serializer(
                "ChangePage",
                {
                    "results": CHANGE_RECORD.__class__(many=True),
                    "next": serializers.CharField(help_text="The cursor to read from next."),
                    "more": serializers.BooleanField(help_text="True: read again at once with `next`."),
                    "next_url": serializers.URLField(),
                },
            ),
            400: OpenApiResponse(description="Missing or malformed cursor or limit"),
            409: OpenApiResponse(description="Your tier changed since the cursor was issued"),
        },
    )
    def get(self, request):
        filters.reject_unknown(request.query_params, ("since", "limit", "format"))
        since = request.query_params.get("since")
        if not since:
            raise ValidationError({"since": ["Required: a cursor, 0 for the whole log, or now for its end."]})
        limit = bounded_count(request.query_params, "limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        self.etag = conditional.etag_for(request, self.reader)
        if conditional.matches(request, self.etag):
            return Response(status=304)
        page = read(self.reader, since, limit)
        page["next_url"] = siteurl.absolute(f"{request.path}?since={page['next']}")
        return Response(page)


