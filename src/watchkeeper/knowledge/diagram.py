"""Services and their dependencies drawn as an SVG, on the server: a layered layout of the
graph (callers above what they call), without JavaScript or an external library.

The layout is the classic one for directed graphs (Sugiyama): edges that close a cycle are
turned round for the layout only (and drawn dashed, pointing the way the plan says), nodes
go on layers by longest path, edges spanning several layers pass through virtual points,
and a few barycentre sweeps order each layer to keep crossings down. A dependency the plan
does not declare as a service is drawn as a dashed box. Everything is deterministic: the
same plan draws the same picture.

The SVG is themed by CSS classes: inside a page of the UI by the page's stylesheet (whose
Content-Security-Policy allows no inline styles), on its own (``standalone``, for the
offline bundle) by a ``<style>`` element with light and dark colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from markupsafe import escape

Health = Literal["up", "degraded", "down", "unknown"]
HEALTH_WORDS: dict[str, str] = {
    "up": "healthy",
    "degraded": "degraded",
    "down": "down",
    "unknown": "health unknown",
}
BOX_W, BOX_H = 190, 58
GAP_X, GAP_Y = 28, 64
VIRTUAL_W = 16
MARGIN = 20
LEGEND_H = 34
SWEEPS = 6
NAME_CHARS, META_CHARS = 24, 30


@dataclass(frozen=True)
class DiagramNode:
    """A box: a declared service (team, health, a tooltip line) or an undeclared name."""

    name: str
    team: str = ""
    health: Health = "unknown"
    detail: str = ""
    declared: bool = True


@dataclass(frozen=True)
class DiagramEdge:
    """``source`` depends on (calls) ``target``."""

    source: str
    target: str


@dataclass
class Layout:
    """Where everything goes: node centres, each layer's order (virtual points included)
    and the points every edge passes through, from its source to its target."""

    layers: list[list[str]]
    centres: dict[str, tuple[float, float]]
    routes: dict[DiagramEdge, list[tuple[float, float]]]
    reversed_edges: set[DiagramEdge]
    self_loops: list[DiagramEdge]
    width: float
    height: float
    nodes: dict[str, DiagramNode] = field(default_factory=dict)

    def is_virtual(self, name: str) -> bool:
        return name not in self.nodes


def _all_nodes(nodes: Sequence[DiagramNode], edges: Sequence[DiagramEdge]) -> list[DiagramNode]:
    known = {n.name for n in nodes}
    missing = sorted({e.target for e in edges} - known) + sorted(
        {e.source for e in edges} - known - {e.target for e in edges}
    )
    return [*nodes, *(DiagramNode(name, declared=False) for name in missing)]


def _back_edges(order: list[str], out: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first search taken in ``order`` (iterative)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for root in order:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    return back


def _layers_of(order: list[str], dag: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering of an acyclic graph: sources on layer 0."""
    incoming = dict.fromkeys(order, 0)
    out: dict[str, list[str]] = {n: [] for n in order}
    for a, b in dag:
        out[a].append(b)
        incoming[b] += 1
    layer = dict.fromkeys(order, 0)
    ready = [n for n in order if incoming[n] == 0]
    while ready:
        node = ready.pop(0)
        for child in out[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    return layer


def _crossings(upper: list[str], lower: list[str], links: list[tuple[str, str]]) -> int:
    pos_u = {n: i for i, n in enumerate(upper)}
    pos_l = {n: i for i, n in enumerate(lower)}
    pairs = sorted((pos_u[a], pos_l[b]) for a, b in links if a in pos_u and b in pos_l)
    return sum(
        1 for i, (a1, b1) in enumerate(pairs) for a2, b2 in pairs[i + 1 :] if a1 != a2 and b1 > b2
    )


def _total_crossings(layers: list[list[str]], links: list[tuple[str, str]]) -> int:
    return sum(_crossings(layers[i], layers[i + 1], links) for i in range(len(layers) - 1))


def _sweep(
    layers: list[list[str]], links: list[tuple[str, str]], downward: bool
) -> list[list[str]]:
    """Reorder each layer by the mean position of its neighbours in the layer before."""
    result = [list(layer) for layer in layers]
    indices = range(1, len(result)) if downward else range(len(result) - 2, -1, -1)
    for i in indices:
        fixed = result[i - 1] if downward else result[i + 1]
        pos = {n: k for k, n in enumerate(fixed)}
        neighbours: dict[str, list[int]] = {n: [] for n in result[i]}
        for a, b in links:
            mine, other = (b, a) if downward else (a, b)
            if mine in neighbours and other in pos:
                neighbours[mine].append(pos[other])
        keys = {
            name: (sum(found) / len(found) if found else float(k), k)
            for k, name in enumerate(result[i])
            for found in (neighbours[name],)
        }
        result[i].sort(key=keys.__getitem__)
    return result


def layout(nodes: Sequence[DiagramNode], edges: Sequence[DiagramEdge]) -> Layout:
    """Place ``nodes`` and route ``edges`` (targets that are not nodes become undeclared
    boxes; repeated edges are drawn once)."""
    every = _all_nodes(nodes, edges)
    by_name = {n.name: n for n in every}
    order = list(by_name)
    unique = list(dict.fromkeys(e for e in edges))
    self_loops = [e for e in unique if e.source == e.target]
    real = [e for e in unique if e.source != e.target]
    out: dict[str, list[str]] = {n: [] for n in order}
    for e in real:
        out[e.source].append(e.target)
    back = _back_edges(order, out)
    reversed_edges = {e for e in real if (e.source, e.target) in back}
    dag = [(e.target, e.source) if e in reversed_edges else (e.source, e.target) for e in real]
    level = _layers_of(order, list(dict.fromkeys(dag)))
    depth = max(level.values(), default=0) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for name in order:
        layers[level[name]].append(name)
    # Edges over several layers pass through one virtual point per layer crossed.
    chains: dict[DiagramEdge, list[str]] = {}
    links: list[tuple[str, str]] = []
    for e, (top, bottom) in zip(real, dag, strict=True):
        chain = [top]
        for k in range(level[top] + 1, level[bottom]):
            virtual = f"\x00{len(chains)}:{k}"
            layers[k].append(virtual)
            chain.append(virtual)
        chain.append(bottom)
        links += list(zip(chain, chain[1:], strict=False))
        chains[e] = chain
    best, best_count = layers, _total_crossings(layers, links)
    current = layers
    for i in range(SWEEPS):
        current = _sweep(current, links, downward=i % 2 == 0)
        count = _total_crossings(current, links)
        if count < best_count:
            best, best_count = current, count
    return _place(best, by_name, chains, reversed_edges, self_loops)


def _width(name: str, by_name: dict[str, DiagramNode]) -> float:
    return BOX_W if name in by_name else VIRTUAL_W


def _place(
    layers: list[list[str]],
    by_name: dict[str, DiagramNode],
    chains: dict[DiagramEdge, list[str]],
    reversed_edges: set[DiagramEdge],
    self_loops: list[DiagramEdge],
) -> Layout:
    widths = [
        sum(_width(n, by_name) for n in layer) + GAP_X * max(0, len(layer) - 1) for layer in layers
    ]
    loop_room = 40 if self_loops else 0
    inner = max(widths, default=0.0)
    centres: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        x = MARGIN + (inner - widths[i]) / 2
        y = MARGIN + i * (BOX_H + GAP_Y) + BOX_H / 2
        for name in layer:
            w = _width(name, by_name)
            centres[name] = (x + w / 2, y)
            x += w + GAP_X
    routes = _routes(chains, centres, by_name, reversed_edges)
    height = MARGIN * 2 + len(layers) * BOX_H + max(0, len(layers) - 1) * GAP_Y + LEGEND_H
    return Layout(
        layers=layers,
        centres=centres,
        routes=routes,
        reversed_edges=reversed_edges,
        self_loops=self_loops,
        width=max(inner + 2 * MARGIN + loop_room, 700.0),
        height=height,
        nodes=by_name,
    )


def _ports(
    chains: dict[DiagramEdge, list[str]], centres: dict[str, tuple[float, float]]
) -> dict[tuple[DiagramEdge, str], float]:
    """Spread the edges that meet a box over its bottom (leaving) and top (arriving) sides,
    in the order of their other ends, so that they do not all meet in one point."""
    sides: dict[tuple[str, str], list[tuple[float, DiagramEdge]]] = {}
    for e, chain in chains.items():
        top, after_top = chain[0], chain[1]
        bottom, before_bottom = chain[-1], chain[-2]
        sides.setdefault((top, "bottom"), []).append((centres[after_top][0], e))
        sides.setdefault((bottom, "top"), []).append((centres[before_bottom][0], e))
    offsets: dict[tuple[DiagramEdge, str], float] = {}
    for (name, side), found in sides.items():
        found.sort(key=lambda item: (item[0], item[1].source, item[1].target))
        span = BOX_W * 0.6
        for k, (_, e) in enumerate(found):
            share = 0.0 if len(found) == 1 else span * (k / (len(found) - 1) - 0.5)
            offsets[(e, side)] = centres[name][0] + share
    return offsets


def _routes(
    chains: dict[DiagramEdge, list[str]],
    centres: dict[str, tuple[float, float]],
    by_name: dict[str, DiagramNode],
    reversed_edges: set[DiagramEdge],
) -> dict[DiagramEdge, list[tuple[float, float]]]:
    ports = _ports(chains, centres)
    routes = {}
    for e, chain in chains.items():
        points = [(ports[(e, "bottom")], centres[chain[0]][1] + BOX_H / 2)]
        points += [centres[v] for v in chain[1:-1]]
        points.append((ports[(e, "top")], centres[chain[-1]][1] - BOX_H / 2))
        # Drawn from the service to what it depends on, whichever way the layout placed it.
        routes[e] = points[::-1] if e in reversed_edges else points
    return routes


def _path(points: list[tuple[float, float]]) -> str:
    """A smooth path through ``points`` with vertical tangents (layers are horizontal)."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        mid = (y0 + y1) / 2
        parts.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


STANDALONE_CSS = """
.arch-diagram{font:13px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#5d6b7e}
.arch-diagram .box{fill:#fff;stroke:#c4ccd8;stroke-width:1.2}
.arch-diagram .undeclared .box{fill:none;stroke-dasharray:5 4}
.arch-diagram .name{fill:#1b2330;font-weight:600}
.arch-diagram .meta,.arch-diagram .legend text{fill:#5d6b7e;font-size:11.5px}
.arch-diagram .edge{fill:none;stroke:#8795a8;stroke-width:1.4}
.arch-diagram .edge.cycle{stroke:#b45309;stroke-dasharray:6 4}
.arch-diagram .edge.to-undeclared{stroke-dasharray:2 3}
.arch-diagram .arrowhead{fill:#8795a8}.arch-diagram .arrowhead.cycle{fill:#b45309}
.arch-diagram .dot{fill:#9aa5b4}.arch-diagram .health-up .dot{fill:#15803d}
.arch-diagram .health-degraded .dot{fill:#ca8a04}.arch-diagram .health-down .dot{fill:#b91c1c}
.arch-diagram .health-down .box{stroke:#b91c1c;stroke-width:2}
.arch-diagram .legend .sample{fill:none;stroke:#c4ccd8;stroke-dasharray:5 4}
@media (prefers-color-scheme:dark){
.arch-diagram{color:#93a1b3}.arch-diagram .box{fill:#161d27;stroke:#3a4757}
.arch-diagram .undeclared .box{fill:none}.arch-diagram .name{fill:#e4e9f0}
.arch-diagram .meta,.arch-diagram .legend text{fill:#93a1b3}
.arch-diagram .edge{stroke:#6b7a8f}.arch-diagram .arrowhead{fill:#6b7a8f}
.arch-diagram .edge.cycle{stroke:#f59e0b}.arch-diagram .arrowhead.cycle{fill:#f59e0b}
.arch-diagram .health-up .dot{fill:#4ade80}.arch-diagram .health-degraded .dot{fill:#facc15}
.arch-diagram .health-down .dot{fill:#f87171}.arch-diagram .health-down .box{stroke:#f87171}
.arch-diagram .legend .sample{stroke:#3a4757}}
"""


def _node_svg(name: str, node: DiagramNode, centre: tuple[float, float]) -> str:
    x, y = centre[0] - BOX_W / 2, centre[1] - BOX_H / 2
    if node.declared:
        meta = f"{node.team or 'no team'} · {HEALTH_WORDS[node.health]}"
        tip = f"{name} (team: {node.team or 'none'}): {HEALTH_WORDS[node.health]}"
        tip += f"; {node.detail}" if node.detail else ""
        cls = f"node health-{node.health}"
    else:
        meta = "not declared in the plan"
        tip = f"{name}: named in depends_on, but not declared in releases.services"
        cls = "node undeclared"
    dot = (
        f'<circle class="dot" cx="{x + 16:.1f}" cy="{y + 21:.1f}" r="5" fill="#9aa5b4"/>'
        if node.declared
        else ""
    )
    text_x = x + (28 if node.declared else 14)
    return (
        f'<g class="{cls}" data-service="{escape(name)}"><title>{escape(tip)}</title>'
        f'<rect class="box" x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
        f'fill="#fff" stroke="#c4ccd8"/>{dot}'
        f'<text class="name" x="{text_x:.1f}" y="{y + 25:.1f}">{escape(_clip(name, NAME_CHARS))}'
        f"</text>"
        f'<text class="meta" x="{text_x:.1f}" y="{y + 44:.1f}">{escape(_clip(meta, META_CHARS))}'
        f"</text></g>"
    )


def _legend(y: float, uid: str) -> str:
    items = []
    x = MARGIN
    for health in ("up", "degraded", "down", "unknown"):
        items.append(
            f'<g class="health-{health}"><circle class="dot" cx="{x + 5}" cy="{y}" r="5" '
            f'fill="#9aa5b4"/><text x="{x + 14}" y="{y + 4}">{HEALTH_WORDS[health]}</text></g>'
        )
        x += 14 + 8 * len(HEALTH_WORDS[health]) + 16
    items.append(
        f'<path class="edge cycle" d="M{x},{y} L{x + 34},{y}" fill="none" stroke="#b45309" '
        f'marker-end="url(#{uid}-arrow-cycle)"/><text x="{x + 42}" y="{y + 4}">closes a cycle'
        "</text>"
    )
    x += 42 + 100
    items.append(
        f'<rect class="sample" x="{x}" y="{y - 7}" width="24" height="14" rx="3" fill="none" '
        f'stroke="#c4ccd8"/><text x="{x + 32}" y="{y + 4}">not declared</text>'
    )
    return f'<g class="legend">{"".join(items)}</g>'


def render_svg(
    nodes: Sequence[DiagramNode],
    edges: Sequence[DiagramEdge],
    *,
    standalone: bool = False,
    uid: str = "arch",
    title: str = "Architecture overview",
) -> str:
    """Return the diagram of ``nodes`` and ``edges`` as SVG markup; "" when there are no
    nodes. ``standalone`` adds the XML namespace's file form and a ``<style>`` with light
    and dark colours; ``uid`` keeps marker ids unique in a page."""
    if not nodes and not edges:
        return ""
    placed = layout(nodes, edges)
    paths = []
    for e, points in placed.routes.items():
        cycle = e in placed.reversed_edges
        target = placed.nodes[e.target]
        cls = "edge cycle" if cycle else "edge" + ("" if target.declared else " to-undeclared")
        marker = f"{uid}-arrow-cycle" if cycle else f"{uid}-arrow"
        paths.append(
            f'<path class="{cls}" d="{_path(points)}" fill="none" stroke="#8795a8" '
            f'marker-end="url(#{marker})"><title>{escape(e.source)} depends on '
            f"{escape(e.target)}{' (closes a cycle)' if cycle else ''}</title></path>"
        )
    for e in placed.self_loops:
        cx, cy = placed.centres[e.source]
        x = cx + BOX_W / 2
        paths.append(
            f'<path class="edge cycle" d="M{x:.1f},{cy - 12:.1f} C{x + 36:.1f},{cy - 34:.1f} '
            f'{x + 36:.1f},{cy + 34:.1f} {x + 2:.1f},{cy + 12:.1f}" fill="none" '
            f'stroke="#b45309" marker-end="url(#{uid}-arrow-cycle)"><title>'
            f"{escape(e.source)} depends on itself</title></path>"
        )
    boxes = [
        _node_svg(name, placed.nodes[name], placed.centres[name])
        for layer in placed.layers
        for name in layer
        if not placed.is_virtual(name)
    ]
    declared = sum(1 for n in placed.nodes.values() if n.declared)
    summary = (
        f"{declared} service{'s' if declared != 1 else ''} and "
        f"{len(placed.routes) + len(placed.self_loops)} dependenc"
        f"{'ies' if len(placed.routes) + len(placed.self_loops) != 1 else 'y'}"
    )
    w, h = placed.width, placed.height
    arrow = (
        f'<marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path class="arrowhead" '
        f'd="M0,0 L10,5 L0,10 z" fill="#8795a8"/></marker>'
        f'<marker id="{uid}-arrow-cycle" viewBox="0 0 10 10" refX="9" refY="5" '
        f'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path '
        f'class="arrowhead cycle" d="M0,0 L10,5 L0,10 z" fill="#b45309"/></marker>'
    )
    style = f"<style>{STANDALONE_CSS}</style>" if standalone else ""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    return (
        f'{head}<svg xmlns="http://www.w3.org/2000/svg" class="arch-diagram" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" height="{h:.0f}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(summary)}</desc>{style}<defs>{arrow}</defs>'
        f"{''.join(paths)}{''.join(boxes)}{_legend(h - LEGEND_H / 2 - 4, uid)}</svg>"
    )
