"""The change log: one row per write to anything a reader of the data layer may see.

The API's change stream (`/api/v1/changes/?since=`) and the dumps' `--since` read it. A row says
only *what* was written — the resource kind, its id, the profile it belongs to, whether it was
deleted — never its text: what a reader gets is decided when they read, by the gate, from the
row as it is then (`profiles.api.changes`).

Rows are served in commit order. Ids from a sequence are handed out when rows are inserted, not
when their transaction commits, so on PostgreSQL a later id can commit first; every row therefore
carries its writer's transaction id (`txid`), rows are ordered by (txid, seq), and a reader is
served only rows below the **horizon**: the oldest transaction still running, other than its own.
Every transaction below it has ended, and every later one has a higher id, so a cursor never
skips a row that commits late. SQLite runs one writer at a time, so its ids are already in commit
order; its `txid` is 0 and its horizon is unbounded.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

#: The highest 64-bit id: SQLite's horizon (it has no concurrent writers).
_UNBOUNDED = 2**63 - 1


class CurrentTransactionId(models.Func):
    """The writing transaction's id (PostgreSQL's xid8 as a bigint), 0 elsewhere: a column default."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra):
        return "(pg_current_xact_id()::text::bigint)", []


class Horizon(models.Func):
    """The first transaction id whose rows may still be uncommitted: the lowest id among the
    transactions of this database running now, leaving out the caller's own (so a writer reads its
    own rows), or the next id to be handed out when none runs. Computed in the statement that reads
    the rows, from the same snapshot."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra):
        return str(_UNBOUNDED), []

    def as_postgresql(self, compiler, connection, **extra):
        # Transaction ids are the cluster's: a transaction running in *another* database (as it shows in
        # pg_stat_activity) writes no row here and is left out. One that has ended since the snapshot
        # no longer shows there, so it is kept (its rows may be ones this snapshot cannot see).
        return (
            "(SELECT COALESCE("
            "(SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) AS x"
            " WHERE x::text::bigint IS DISTINCT FROM s.own"
            " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a"
            " WHERE a.backend_xid = xid(x) AND a.datname IS DISTINCT FROM current_database())),"
            " GREATEST(pg_snapshot_xmax(s.snap)::text::bigint, s.own + 1))"
            " FROM (SELECT pg_current_snapshot() AS snap,"
            " pg_current_xact_id_if_assigned()::text::bigint AS own) AS s)",
            [],
        )


class ChangeQuerySet(models.QuerySet):
    def committed(self):
        """Rows every transaction before them has finished writing, in commit order."""
        return self.filter(txid__lt=Horizon()).order_by("txid", "seq")

    def after(self, txid: int, seq: int):
        """Rows after the position (txid, seq), in commit order."""
        return self.committed().filter(Q(txid__gt=txid) | Q(txid=txid, seq__gt=seq))


class Change(models.Model):
    """A write to a resource of the data layer (what, never its text)."""

    class Kind(models.TextChoices):
        INSTITUTION = "institution", "Institution"
        EVIDENCE = "evidence", "Evidence"
        RELATIONSHIP = "relationship", "Relationship"
        WATCHPOINT = "watchpoint", "Watchpoint"
        TIMELINE = "timeline", "Timeline event"

    seq = models.BigAutoField(primary_key=True)
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.BigIntegerField()
    #: The profile the resource belongs to (a relationship's source): its page shows the change.
    institution_id = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)

    objects = ChangeQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["txid", "seq"], name="change_position_idx")]

    def __str__(self):
        return f"{self.kind} {self.object_id}{' deleted' if self.deleted else ''}"
