"""The relationship map as SVG geometry: circles, labels and edge lines for `graph.neighbourhood()`.

`graph` decides who is on the map and where (layout); this module turns those positions into what
the template prints (radii, label anchors, edge end points, the viewBox) and the map's text
equivalents (a one-sentence summary, the "and N more" lines). No database access: a pure function
of the graph.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .graph import Edge, Graph, Node
from .models import Relationship

#: Circle radius by hop: the profile itself is drawn largest.
NODE_RADIUS = {0: 30, 1: 17, 2: 11}
#: Room around graph.width × graph.height for the labels of the outer ring.
MAP_MARGIN_X, MAP_MARGIN_Y = 180, 36
#: The drawing is cropped to what is drawn, but never smaller than this (a map of one tie stays calm).
MAP_MIN_WIDTH, MAP_MIN_HEIGHT = 560, 320
MAP_PADDING = 12
LABEL_GAP = 6
#: Rough advance of one label character at the largest size labels are drawn (a phone's: 19px sans,
#: 21px bold serif for the centre; profiles/reader.css), for framing; generous, so that no label
#: is ever cut by the frame on any screen.
LABEL_CHAR_WIDTH, CENTER_CHAR_WIDTH = 10.6, 12.6
#: Longest label line by hop: longer names wrap onto more lines at word boundaries (never cut,
#: up to `LABEL_MAX_LINES`; only a name longer than that many lines ends with an ellipsis).
LABEL_CHARS = {0: 30, 1: 22, 2: 20}
LABEL_MAX_LINES = 4
#: Distance between the baselines of a label's lines.
LABEL_LINE_HEIGHT, CENTER_LINE_HEIGHT = 20, 23
#: Distance between parallel lines when two institutions are tied more than once.
PARALLEL_GAP = 7
#: Kinds drawn without an arrowhead: the tie reads the same both ways.
SYMMETRIC_KINDS = frozenset({Relationship.Kind.PARTNER})


def wrap_label(name: str, width: int, max_lines: int = LABEL_MAX_LINES) -> list[str]:
    """The name in lines of at most `width` characters, broken between words (a longer word gets a
    line of its own); past `max_lines` lines the last one ends with an ellipsis."""
    lines: list[str] = []
    for word in name.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        rest = " ".join(lines[max_lines - 1 :])
        lines = [*lines[: max_lines - 1], rest[: width - 1].rstrip() + "…"]
    return lines or [name]


@dataclass(frozen=True)
class LabelLine:
    text: str
    y: float


@dataclass(frozen=True)
class DrawnNode:
    node: Node
    r: float
    label_x: float
    label_y: float
    anchor: str  # SVG text-anchor: start, middle or end
    #: Where the label's lines go from `label_y`: "down" (below a node), "up" (above) or "centre" (beside).
    flow: str = "down"

    @property
    def is_center(self) -> bool:
        return self.node.hop == 0

    @property
    def label_lines(self) -> list[str]:
        """The whole name, wrapped shorter the further out the node sits (also in its tooltip and the table)."""
        return wrap_label(self.node.name, LABEL_CHARS[self.node.hop])

    @property
    def label(self) -> str:
        return " ".join(self.label_lines)

    @property
    def line_height(self) -> float:
        return CENTER_LINE_HEIGHT if self.is_center else LABEL_LINE_HEIGHT

    @property
    def lines(self) -> list[LabelLine]:
        """Each line of the label with its baseline, stacked in the label's `flow`."""
        texts = self.label_lines
        step = self.line_height
        first = {
            "down": self.label_y,
            "up": self.label_y - step * (len(texts) - 1),
            "centre": self.label_y - step * (len(texts) - 1) / 2,
        }[self.flow]
        return [LabelLine(text, round(first + k * step, 1)) for k, text in enumerate(texts)]

    @property
    def label_width(self) -> float:
        longest = max(len(line) for line in self.label_lines)
        return longest * (CENTER_CHAR_WIDTH if self.is_center else LABEL_CHAR_WIDTH)


@dataclass(frozen=True)
class DrawnEdge:
    edge: Edge
    x1: float
    y1: float
    x2: float
    y2: float
    arrow: bool


@dataclass
class MapDrawing:
    """The graph as SVG geometry plus its text equivalents; the template only prints numbers and words."""

    graph: Graph
    nodes: list[DrawnNode]
    edges: list[DrawnEdge]
    # The SVG's viewBox in the layout's coordinates (graph.width × graph.height plus room for labels),
    # cropped to what is drawn (never cutting a label); width and height are also its intrinsic size, so
    # it is drawn 1:1 where there is room and scaled down whole on a narrower screen (profiles/reader.css).
    min_x: int
    min_y: int
    width: int
    height: int
    summary: str
    more_direct: str = ""  # "and N more direct relationships not drawn"
    more_indirect: str = ""  # the same for ties two steps away

    @property
    def kinds(self):
        return self.graph.kinds

    @property
    def view_box(self) -> str:
        return f"{self.min_x} {self.min_y} {self.width} {self.height}"

    @property
    def more_lines(self) -> list[str]:
        return [line for line in (self.more_direct, self.more_indirect) if line]


def _label(node: Node, r: float) -> tuple[float, float, str, str]:
    """Labels sit outside the drawing's centre: beside nodes on the left and right, above or below
    nodes at the top and bottom of the inner ring, so neighbouring names rarely collide. The outer
    ring's labels always point away from the middle, as its nodes come in pairs.
    Returns (x, y of the first baseline, text-anchor, flow of further lines)."""
    if node.hop == 0:
        return node.x, node.y + r + 20, "middle", "down"
    dx, dy = math.cos(node.angle), math.sin(node.angle)
    side = 0.35 if node.hop == 1 else 0.08
    if dx > side:
        return node.x + r + LABEL_GAP, node.y + 5, "start", "centre"
    if dx < -side:
        return node.x - r - LABEL_GAP, node.y + 5, "end", "centre"
    if dy > 0:
        return node.x, node.y + r + 16, "middle", "down"
    return node.x, node.y - r - LABEL_GAP, "middle", "up"


def _extent(d: DrawnNode) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a node and its label, the label's width estimated from its length."""
    n = d.node
    label_width = d.label_width
    left = {"start": d.label_x, "end": d.label_x - label_width}.get(d.anchor, d.label_x - label_width / 2)
    lines = d.lines
    return (
        min(n.x - d.r, left),
        min(n.y - d.r, lines[0].y - 17),
        max(n.x + d.r, left + label_width),
        max(n.y + d.r, lines[-1].y + 5),
    )


def _frame(graph: Graph, nodes: list[DrawnNode]) -> tuple[int, int, int, int]:
    """The viewBox: everything drawn plus padding, at least the minimum size, inside the layout's frame."""
    extents = [_extent(d) for d in nodes]
    left = min(e[0] for e in extents) - MAP_PADDING
    top = min(e[1] for e in extents) - MAP_PADDING
    right = max(e[2] for e in extents) + MAP_PADDING
    bottom = max(e[3] for e in extents) + MAP_PADDING
    grow_x = max(MAP_MIN_WIDTH - (right - left), 0) / 2
    grow_y = max(MAP_MIN_HEIGHT - (bottom - top), 0) / 2
    # Growing to the minimum size stays within the layout's frame; what is drawn is never cropped.
    left = min(max(left - grow_x, -MAP_MARGIN_X), left)
    top = min(max(top - grow_y, -MAP_MARGIN_Y), top)
    right = max(min(right + grow_x, graph.width + MAP_MARGIN_X), right)
    bottom = max(min(bottom + grow_y, graph.height + MAP_MARGIN_Y), bottom)
    return math.floor(left), math.floor(top), math.ceil(right - left), math.ceil(bottom - top)


def _edge_geometry(edge: Edge, offset: float) -> tuple[float, float, float, float]:
    """A line from circle edge to circle edge (room left for the arrowhead), shifted sideways by `offset`."""
    s, t = edge.source, edge.target
    dx, dy = t.x - s.x, t.y - s.y
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux
    rs, rt = NODE_RADIUS[s.hop], NODE_RADIUS[t.hop] + 2
    if length <= rs + rt:
        rs = rt = 0
    return (
        round(s.x + ux * rs + nx * offset, 1),
        round(s.y + uy * rs + ny * offset, 1),
        round(t.x - ux * rt + nx * offset, 1),
        round(t.y - uy * rt + ny * offset, 1),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def map_summary(graph: Graph) -> str:
    """The map in one sentence, for screen readers (the SVG's accessible name) and as its caption."""
    others = len(graph.nodes) - 1
    counts = Counter(e.kind_label.lower() for e in graph.edges)
    kinds = ", ".join(f"{label} ({n})" for label, n in sorted(counts.items()))
    return (
        f"{graph.center.name} and {_plural(others, 'connected institution')}, linked by "
        f"{_plural(len(graph.edges), 'approved relationship')} up to two steps away: {kinds}."
    )


def map_more_lines(graph: Graph) -> tuple[str, str]:
    """The "and N more" lines for the relationships the fan-out cap left out of the drawing."""
    direct, indirect = graph.more.get(1, 0), graph.more.get(2, 0)
    return (
        f"and {direct} more direct relationship{'' if direct == 1 else 's'} not drawn" if direct else "",
        f"and {indirect} more relationship{'' if indirect == 1 else 's'} two steps away not drawn" if indirect else "",
    )


def map_drawing(graph: Graph) -> MapDrawing:
    """Turn `graph.neighbourhood()` into what the template draws: circles, labels and edge lines."""
    nodes = []
    for node in graph.nodes:
        r = NODE_RADIUS[node.hop]
        label_x, label_y, anchor, flow = _label(node, r)
        nodes.append(DrawnNode(node, r, round(label_x, 1), round(label_y, 1), anchor, flow))
    # Centre node last, so it is painted over the lines and labels of its neighbours.
    nodes.sort(key=lambda d: d.is_center)
    # Two institutions tied more than once get parallel lines, spread around the straight one.
    by_pair: dict[tuple[int, int], list[Edge]] = {}
    for edge in graph.edges:
        by_pair.setdefault(tuple(sorted((edge.source.pk, edge.target.pk))), []).append(edge)
    offsets = {}
    for pair, same in by_pair.items():
        for k, edge in enumerate(same):
            offset = (k - (len(same) - 1) / 2) * PARALLEL_GAP
            offsets[id(edge)] = offset if edge.source.pk == pair[0] else -offset  # the normal flips with direction
    edges = [
        DrawnEdge(edge, *_edge_geometry(edge, offsets[id(edge)]), arrow=edge.kind not in SYMMETRIC_KINDS)
        for edge in graph.edges
    ]
    return MapDrawing(graph, nodes, edges, *_frame(graph, nodes), map_summary(graph), *map_more_lines(graph))
