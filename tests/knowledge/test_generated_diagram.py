"""The architecture diagram: a layered layout that tolerates cycles, dashed boxes for
dependencies the plan does not declare, escaped names, the same picture every time."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from watchkeeper.knowledge.diagram import (
    BOX_W,
    DiagramEdge,
    DiagramNode,
    layout,
    render_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.split("?>", 1)[-1] if svg.startswith("<?xml") else svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def paths(root: ET.Element, cls: str) -> list[ET.Element]:
    """The edges (not the arrowheads) with the class ``cls``."""
    return [
        p for p in root.iter(f"{SVG}path") if {"edge", cls} <= set((p.get("class") or "").split())
    ]


def test_callers_sit_above_what_they_depend_on() -> None:
    nodes = [DiagramNode("web"), DiagramNode("api"), DiagramNode("db"), DiagramNode("cache")]
    edges = [DiagramEdge("web", "api"), DiagramEdge("api", "db"), DiagramEdge("api", "cache")]
    placed = layout(nodes, edges)
    y = {name: placed.centres[name][1] for name in ("web", "api", "db", "cache")}
    assert y["web"] < y["api"] < y["db"] == y["cache"]
    left, right = sorted(placed.centres[n][0] for n in ("db", "cache"))
    assert right - left >= BOX_W  # boxes of a layer do not overlap
    assert not placed.reversed_edges


def test_a_cycle_is_laid_out_and_drawn_dashed_pointing_the_plans_way() -> None:
    nodes = [DiagramNode("a", team="t1"), DiagramNode("b"), DiagramNode("c")]
    edges = [DiagramEdge("a", "b"), DiagramEdge("b", "c"), DiagramEdge("c", "a")]
    placed = layout(nodes, edges)
    assert placed.reversed_edges == {DiagramEdge("c", "a")}
    layers = {n: i for i, layer in enumerate(placed.layers) for n in layer}
    assert layers["a"] < layers["b"] < layers["c"]
    # The cycle's edge still starts at its service (c, below) and ends at a (above).
    route = placed.routes[DiagramEdge("c", "a")]
    assert route[0][1] > route[-1][1]
    root = parse(render_svg(nodes, edges, standalone=True))
    cycle = paths(root, "cycle")
    assert len(cycle) == 2  # the edge and the legend's sample
    assert "c depends on a (closes a cycle)" in "".join(cycle[0].itertext())
    assert len(groups(root, "node")) == 3
    assert root.find(f"{SVG}style") is not None  # a file on its own carries its colours


def test_an_unknown_dependency_is_a_dashed_box() -> None:
    nodes = [DiagramNode("api", team="shop", health="down")]
    root = parse(render_svg(nodes, [DiagramEdge("api", "billing")]))
    unknown = groups(root, "undeclared")
    assert [g.get("data-service") for g in unknown] == ["billing"]
    assert "not declared in the plan" in "".join(unknown[0].itertext())
    assert len(paths(root, "to-undeclared")) == 1
    api = groups(root, "health-down")
    assert api and "shop · down" in "".join(api[0].itertext())
    assert root.find(f"{SVG}style") is None  # in a page, the page's stylesheet themes it


def test_self_dependency_repeated_edges_and_long_edges() -> None:
    nodes = [DiagramNode(n) for n in ("top", "mid", "low")]
    edges = [
        DiagramEdge("top", "mid"),
        DiagramEdge("mid", "low"),
        DiagramEdge("top", "low"),  # over two layers: through a virtual point
        DiagramEdge("top", "low"),
        DiagramEdge("low", "low"),
    ]
    placed = layout(nodes, edges)
    assert len(placed.routes) == 3 and len(placed.routes[DiagramEdge("top", "low")]) == 3
    assert placed.self_loops == [DiagramEdge("low", "low")]
    root = parse(render_svg(nodes, edges))
    assert "low depends on itself" in ET.tostring(root, encoding="unicode")


def test_names_are_escaped_and_long_ones_clipped() -> None:
    evil = '<script>alert("x")</script>-service-with-a-very-long-name'
    svg = render_svg([DiagramNode(evil, team="<b>t</b>")], [])
    assert "<script" not in svg and "<b>" not in svg
    root = parse(svg)
    names = [t for t in root.iter(f"{SVG}text") if t.get("class") == "name"]
    assert names[0].text is not None and names[0].text.endswith("…")
    assert evil in "".join(groups(root, "node")[0].itertext())  # whole in the tooltip


def test_the_same_plan_draws_the_same_picture() -> None:
    nodes = [DiagramNode(f"s{i}") for i in range(12)]
    edges = [DiagramEdge(f"s{i}", f"s{(i * 7 + 3) % 12}") for i in range(12)]
    assert render_svg(nodes, edges) == render_svg(nodes, edges)
    assert render_svg([], []) == ""
