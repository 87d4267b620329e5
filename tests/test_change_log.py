"""The change log records every write to data-layer content, in the writing transaction, in commit
order — what was written, never its text."""

import pytest
from django.db import transaction

from profiles.change_log import record_institution
from profiles.models import Change

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    IdentifierFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    TimelineEventFactory,
    WatchpointFactory,
)

pytestmark = pytest.mark.django_db


def logged(**filters):
    return list(Change.objects.committed().filter(**filters).values_list("kind", "object_id", "deleted"))


def test_each_resource_write_is_logged_under_its_kind():
    institution = InstitutionFactory()
    evidence = EvidenceItemFactory(institution=institution)
    relationship = RelationshipFactory(source=institution)
    watchpoint = WatchpointFactory(institution=institution)
    event = TimelineEventFactory(institution=institution)
    for kind, pk in [
        ("institution", institution.pk),
        ("evidence", evidence.pk),
        ("relationship", relationship.pk),
        ("watchpoint", watchpoint.pk),
        ("timeline", event.pk),
    ]:
        assert (kind, pk, False) in logged(kind=kind)


@pytest.mark.parametrize("factory", [BriefingFactory, FAQItemFactory, IdentifierFactory])
def test_a_part_of_a_profile_changes_the_profile(factory):
    part = factory()
    Change.objects.all().delete()
    part.save()
    assert logged() == [("institution", part.institution_id, False)]
    part.delete()
    assert logged() == [("institution", part.institution_id, False)] * 2


def test_sector_changes_change_each_profile_that_shows_it():
    sector = SectorFactory()
    institutions = [InstitutionFactory(), InstitutionFactory()]
    Change.objects.all().delete()
    institutions[0].sectors.add(sector)
    sector.institutions.add(institutions[1])
    assert sorted(logged()) == sorted(("institution", i.pk, False) for i in institutions)
    Change.objects.all().delete()
    sector.name = "Renamed"
    sector.save()
    assert sorted(logged()) == sorted(("institution", i.pk, False) for i in institutions)


def test_deleting_a_profile_logs_it_and_its_resources_as_deleted():
    evidence = EvidenceItemFactory()
    institution = evidence.institution
    FAQItemFactory(institution=institution)
    pk = institution.pk
    Change.objects.all().delete()
    institution.delete()
    rows = logged()
    assert ("evidence", evidence.pk, True) in rows
    # The FAQ item went first (a "changed" row); the profile's own row comes last and says it went.
    assert [row for row in rows if row[0] == "institution"][-1] == ("institution", pk, True)


def test_a_rolled_back_write_leaves_no_row():
    institution = InstitutionFactory()
    before = Change.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        EvidenceItemFactory(institution=institution)
        raise RuntimeError
    assert Change.objects.count() == before


def test_rows_are_served_in_order_and_after_a_position():
    institution = InstitutionFactory()
    record_institution(institution.pk)
    rows = list(Change.objects.committed())
    assert [(r.txid, r.seq) for r in rows] == sorted((r.txid, r.seq) for r in rows)
    last = rows[-1]
    assert not Change.objects.after(last.txid, last.seq).exists()
    assert list(Change.objects.after(rows[0].txid, rows[0].seq)) == rows[1:]
