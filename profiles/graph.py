"""The dependency map: approved relationships around one institution, up to two hops.

Only approved relationships between *published* profiles are drawn. Each hop is fetched with
one capped query, which also counts the ties it leaves out (the "and N more" line), so the page
costs the same few queries however large the graph is. Layout is computed here, server-side, as plain numbers
that the template turns into an inline SVG: no script, no external library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Count, Q, Window
from django.utils import timezone

from .models import Institution, Relationship

FANOUT_CAP = 12  # relationships drawn per hop
WIDTH, HEIGHT = 880, 640
RING = {0: 0, 1: 180, 2: 290}


@dataclass
class Node:
    pk: int
    name: str
    url: str
    type_label: str
    hop: int
    x: float = 0.0
    y: float = 0.0
    angle: float = 0.0


@dataclass
class Edge:
    source: Node
    target: Node
    kind: str
    kind_label: str
    description: str
    since: object = None


@dataclass
class Graph:
    center: Node
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    more: dict[int, int] = field(default_factory=dict)  # hop → relationships not drawn
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def kinds(self):
        seen = {}
        for e in self.edges:
            seen.setdefault(e.kind, e.kind_label)
        return sorted(seen.items())


#: What maps and summaries show of a tie and of each of its ends (the only fields they load).
TIE_FIELDS = ("id", "kind", "description", "since", "source", "target")
TIE_END_FIELDS = ("id", "name", "slug", "type")


def _public_relationships(at):
    return (
        Relationship.objects.public(at)
        .select_related("source", "target")
        .only(*TIE_FIELDS, *(f"{end}__{f}" for end in ("source", "target") for f in TIE_END_FIELDS))
        .order_by("kind", "pk")
    )


def _node(inst, hop) -> Node:
    return Node(inst.pk, inst.name, inst.get_absolute_url(), inst.get_type_display(), hop)


def neighbourhood(institution: Institution, *, cap: int = FANOUT_CAP, at=None) -> Graph:
    at = at or timezone.now()
    center = _node(institution, 0)
    graph = Graph(center=center, nodes=[center])
    by_pk = {center.pk: center}
    seen_edges: set[int] = set()
    frontier = [center.pk]
    for hop in (1, 2):
        touching = Q(source_id__in=frontier) | Q(target_id__in=frontier)
        # Each row also carries how many ties matched in all (a window count): no second query.
        candidates = _public_relationships(at).filter(touching).exclude(pk__in=seen_edges)
        rows = list(candidates.annotate(matched=Window(Count("pk")))[:cap])
        if rows and rows[0].matched > cap:
            graph.more[hop] = rows[0].matched - cap
        next_frontier = []
        for rel in rows:
            seen_edges.add(rel.pk)
            for end in (rel.source, rel.target):
                if end.pk not in by_pk:
                    by_pk[end.pk] = _node(end, hop)
                    graph.nodes.append(by_pk[end.pk])
                    next_frontier.append(end.pk)
            graph.edges.append(
                Edge(by_pk[rel.source_id], by_pk[rel.target_id], rel.kind, rel.get_kind_display(), rel.description,
                     rel.since)
            )
        frontier = next_frontier
        if not frontier:
            break
    _layout(graph)
    return graph


def _layout(graph: Graph) -> None:
    """Centre node in the middle, hop-1 nodes on a ring, hop-2 nodes beside their parent's angle."""
    cx, cy = graph.width / 2, graph.height / 2
    graph.center.x, graph.center.y = cx, cy
    first = [n for n in graph.nodes if n.hop == 1]
    for i, node in enumerate(first):
        node.angle = 2 * math.pi * i / max(len(first), 1) - math.pi / 2
    second = [n for n in graph.nodes if n.hop == 2]
    parents: dict[int, list[Node]] = {}
    for edge in graph.edges:
        for child, parent in ((edge.source, edge.target), (edge.target, edge.source)):
            if child.hop == 2 and parent.hop == 1:
                parents.setdefault(parent.pk, []).append(child)
    placed = set()
    spread = 2 * math.pi / max(len(first), 1) * 0.8
    for parent in first:
        children = [c for c in parents.get(parent.pk, []) if c.pk not in placed]
        for j, child in enumerate(children):
            offset = (j - (len(children) - 1) / 2) * spread / max(len(children), 1)
            child.angle = parent.angle + offset
            placed.add(child.pk)
    for i, node in enumerate(n for n in second if n.pk not in placed):
        node.angle = 2 * math.pi * i / max(len(second), 1)
    for node in graph.nodes:
        if node.hop:
            node.x = round(cx + RING[node.hop] * math.cos(node.angle), 1)
            node.y = round(cy + RING[node.hop] * 0.8 * math.sin(node.angle), 1)


@dataclass
class DependencySummary:
    depends_on: list[Institution]
    depended_on_by: list[Institution]


def dependency_rows(institution: Institution, *, cap: int = FANOUT_CAP, at=None):
    """The approved dependency ties of an institution, both ways, between published profiles:
    what `summarise_dependencies` reads (at most `cap` each way)."""
    at = at or timezone.now()
    kinds = [Relationship.Kind.DEPENDS_ON, Relationship.Kind.SUPPLIER]
    return _public_relationships(at).filter(Q(source=institution) | Q(target=institution), kind__in=kinds)[: cap * 2]


def summarise_dependencies(institution: Institution, rows, *, cap: int = FANOUT_CAP) -> DependencySummary:
    """Who this institution depends on and who depends on it, from `dependency_rows`.

    "A depends on B" and "B is a supplier to A" both mean A depends on B.
    """
    depends_on, depended_on_by = [], []
    for rel in rows:
        upstream, downstream = (
            (rel.target, rel.source) if rel.kind == Relationship.Kind.DEPENDS_ON else (rel.source, rel.target)
        )
        if downstream.pk == institution.pk:
            depends_on.append(upstream)
        else:
            depended_on_by.append(downstream)
    return DependencySummary(depends_on[:cap], depended_on_by[:cap])
