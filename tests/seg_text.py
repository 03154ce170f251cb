"""Helpers of the language tests (not a test module): a network around some
statements, and expressions observed through attributes — an integer ``E``
as ``conv(1000 + (E), k=1)`` (out - 1000), a boolean as ``conv(bias=E)``, a
positive number as ``bn(eps=E)``."""

from __future__ import annotations

import segc

__all__ = ["OFFSET", "bool_value", "float_value", "int_value", "network", "ops"]

OFFSET = 1000


def network(body: str, blocks: str = "", inputs: str = "input x: [16, 8, 8]", name: str = "n") -> str:
    """A network ``name`` whose statements are ``body`` (one per line)."""
    return f"{blocks}\nnetwork {name} {{\n    {inputs}\n{body}\n}}\n"


def int_value(expr: str) -> int:
    graph = segc.loads(network(f"output y = x -> conv({OFFSET} + ({expr}), k=1)", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["out"] - OFFSET


def bool_value(expr: str) -> bool:
    graph = segc.loads(network(f"output y = x -> conv(1, k=1, bias={expr})", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["bias"]


def float_value(expr: str) -> float:
    graph = segc.loads(network(f"output y = x -> bn(eps={expr})", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["eps"]


def ops(graph) -> list[str]:
    return [n.op for n in graph.nodes()]
