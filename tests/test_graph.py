"""The dependency map: approved ties between published profiles, two hops, capped."""

import pytest

from profiles import graph
from profiles.models import Institution, Relationship

from .factories import InstitutionFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

DEP = Relationship.Kind.DEPENDS_ON


def names(g, hop):
    return sorted(n.name for n in g.nodes if n.hop == hop)


def test_map_reaches_two_hops_in_both_directions():
    center, a, b, c = (InstitutionFactory(name=n) for n in ("Center", "A", "B", "C"))
    RelationshipFactory(source=center, target=a)
    RelationshipFactory(source=b, target=center)
    RelationshipFactory(source=a, target=c)
    g = graph.neighbourhood(center)
    assert names(g, 1) == ["A", "B"]
    assert names(g, 2) == ["C"]
    assert len(g.edges) == 3


def test_unapproved_relationships_are_not_drawn():
    center, a = InstitutionFactory(), InstitutionFactory()
    RelationshipFactory(source=center, target=a, review_state=Relationship.Review.SUBMITTED)
    assert graph.neighbourhood(center).edges == []


def test_relationships_to_unpublished_profiles_are_not_drawn():
    center = InstitutionFactory()
    RelationshipFactory(source=center, target=InstitutionFactory(status=Institution.Status.DRAFT))
    assert graph.neighbourhood(center).edges == []


def test_fan_out_is_capped_with_a_count_of_the_rest():
    center = InstitutionFactory()
    for _ in range(graph.FANOUT_CAP + 5):
        RelationshipFactory(source=center)
    g = graph.neighbourhood(center)
    assert len([n for n in g.nodes if n.hop == 1]) == graph.FANOUT_CAP
    assert g.more[1] == 5


@pytest.mark.parametrize("fan_out", [1, 200])
def test_map_queries_are_bounded(fan_out, django_assert_max_num_queries):
    center = InstitutionFactory()
    for _ in range(fan_out):
        RelationshipFactory(source=InstitutionFactory(), target=center)
    with django_assert_max_num_queries(4):
        graph.neighbourhood(center)


def test_every_node_sits_inside_the_drawing():
    center = InstitutionFactory()
    for _ in range(8):
        hop1 = RelationshipFactory(source=center).target
        RelationshipFactory(source=hop1)
    g = graph.neighbourhood(center)
    assert all(0 < n.x < g.width and 0 < n.y < g.height for n in g.nodes)


def test_dependency_summary_reads_depends_on_and_supplier_both_ways():
    inst, power, cloud, customer = (InstitutionFactory(name=n) for n in ("Inst", "Power", "Cloud", "Customer"))
    RelationshipFactory(source=inst, target=power, kind=DEP)
    RelationshipFactory(source=cloud, target=inst, kind=Relationship.Kind.SUPPLIER)
    RelationshipFactory(source=customer, target=inst, kind=DEP)
    summary = graph.summarise_dependencies(inst, graph.dependency_rows(inst))
    assert sorted(i.name for i in summary.depends_on) == ["Cloud", "Power"]
    assert [i.name for i in summary.depended_on_by] == ["Customer"]
