"""Keep the stored search vector inside the table row (PostgreSQL only).

A profile's row is wider than PostgreSQL's 2 kB TOAST threshold, and the default (EXTENDED) storage
moved its largest value — the ~1.5 kB search vector — out to the TOAST table. Ranking then fetched
every matching vector from there: for a query matching 12,500 of 100,000 profiles, 68 of the 75 ms
of `ts_rank` went to TOAST look-ups (EXPLAIN ANALYZE: 37,600 extra buffers). With MAIN storage the
long prose fields go out of line instead (the directory reads none of them except the short dek),
the vector stays in the heap page the search already visits, and the same ranking takes ~20 ms.

Existing vectors move in when they are rewritten: `|| ''::tsvector` builds a new, identical value,
which the TOAST code stores by the new rule. Run VACUUM (ANALYZE) on the table afterwards (or let
autovacuum do it) to reclaim the old row versions. SQLite has no such storage: nothing to do there.
"""

from django.db import migrations

FORWARD = [
    "ALTER TABLE profiles_institution ALTER COLUMN search_vector SET STORAGE MAIN",
    "UPDATE profiles_institution SET search_vector = search_vector || ''::tsvector WHERE search_vector IS NOT NULL",
]
BACKWARD = [
    "ALTER TABLE profiles_institution ALTER COLUMN search_vector SET STORAGE EXTENDED",
]


def _on_postgres(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("profiles", "0009_admin_ordering_indexes"),
    ]

    operations = [
        migrations.RunPython(_on_postgres(FORWARD), _on_postgres(BACKWARD), elidable=False),
    ]
