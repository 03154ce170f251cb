"""Graphviz DOT of a network: one box per layer (name, what it does, output
shape), layers grouped into clusters by the first part of their name."""

from __future__ import annotations

from collections import defaultdict

from ...ir import Graph, Node

__all__ = ["COLORS", "node_label", "to_dot"]

COLORS = {
    "input": "#d9ead3", "output": "#d9ead3", "conv": "#cfe2f3", "dconv": "#b4a7d6", "linear": "#cfe2f3",
    "bn": "#fff2cc", "add": "#f4cccc", "concat": "#f4cccc", "upsample": "#fce5cd",
    "maxpool": "#fce5cd", "avgpool": "#fce5cd",
}


def _pair(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"


def _detail(node: Node) -> str:
    a = node.attrs
    if node.op in ("conv", "dconv"):
        text = f"{node.op} {_pair(a['k'])}×{_pair(a['k'])}" if a["k"][0] == a["k"][1] else f"{node.op} {_pair(a['k'])}"
        text += f" /{_pair(a['stride'])}" if a["stride"] != (1, 1) else ""
        text += f" d{_pair(a['dilation'])}" if a["dilation"] != (1, 1) else ""
        text += f" g{a['groups']}" if a["groups"] != 1 else ""
        return text + (f" {a['shape']}" if node.op == "dconv" and a["shape"] != "full" else "")
    if node.op in ("maxpool", "avgpool"):
        return f"{node.op} global" if a.get("global") else f"{node.op} {_pair(a['k'])} /{_pair(a['stride'])}"
    if node.op == "upsample":
        how = "to size" if a["scale"] is None else f"×{a['scale'][0]:g}"
        return f"upsample {how} {a['mode']}"
    return node.op


def node_label(node: Node) -> str:
    """Three lines: name, what the layer does, output shape."""
    return f"{node.name}\n{_detail(node)}\n{list(node.shape)}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    lines = [
        f"digraph {_quote(graph.name)} {{",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=11];',
        '  node [shape=box, style="rounded,filled", fillcolor="#eeeeee", fontname="Helvetica", fontsize=10];',
        '  edge [color="#666666"];',
    ]
    groups: dict[str, list[Node]] = defaultdict(list)
    for node in graph.nodes():
        groups[node.name.split(".")[0] if "." in node.name else ""].append(node)
    for group, members in groups.items():
        indent = "  "
        if group and len(members) > 1:
            lines.append(f"  subgraph {_quote('cluster_' + group)} {{")
            lines.append(f'    label={_quote(group)}; style="rounded"; color="#999999";')
            indent = "    "
        for node in members:
            color = COLORS.get(node.op, "#eeeeee")
            lines.append(f"{indent}{_quote(node.name)} [label={_quote(node_label(node))}, fillcolor={_quote(color)}];")
        if indent == "    ":
            lines.append("  }")
    for node in graph.nodes():
        for source in dict.fromkeys(node.inputs):
            lines.append(f"  {_quote(source)} -> {_quote(node.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
