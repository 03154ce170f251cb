"""The one rule for names that reach generated code.

Network, target, layer, input and output names are hierarchical names:
ASCII identifiers joined by dots (``res5.0.conv1``; parts after the first
may start with a digit, as PyTorch numbers submodules).  The ``.seg``
grammar's ``IDENT`` is this rule; JSON graphs, ONNX import and the API are
checked against it (``verify_graph``, ``target_problems``, the JSON reader),
so a name never carries a quote, a newline or a shell character into C++,
Python, shell or Tcl.  The backends escape names all the same.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, SegError

if TYPE_CHECKING:
    from .graph import Graph

__all__ = ["NAME_RE", "NAME_RULE", "check_names", "graph_name_problems", "name_problem", "shown"]

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
NAME_RULE = "letters, digits and underscores (ASCII), in parts joined by dots, not starting with a digit"
_SHOWN_MAX = 60


def shown(name: object) -> str:
    """A name quoted for a message: printable ASCII, escapes for the rest,
    cut after a while, so an error never echoes control characters."""
    if isinstance(name, str) and NAME_RE.fullmatch(name) and len(name) <= _SHOWN_MAX:
        return f"'{name}'"
    text = ascii(name)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX - 3] + "..."


def name_problem(name: object, kind: str) -> str | None:
    """Why ``name`` cannot be a ``kind`` name ("network", "layer"…), or None."""
    if not isinstance(name, str):
        return f"a {kind} name must be a string, got {type(name).__name__}"
    if NAME_RE.fullmatch(name):
        return None
    return f"{shown(name)} is not a valid {kind} name ({NAME_RULE})"


def graph_name_problems(graph: Graph) -> list[str]:
    """The problems of the graph's network and target names (layers are
    checked one by one with their spans, see ``verify``)."""
    found = [name_problem(graph.name, "network")]
    if graph.target is not None:
        found.append(name_problem(graph.target.name, "target"))
    return [p for p in found if p]


def check_names(graph: Graph) -> None:
    """Raise SegError listing every invalid name of the graph (network,
    target, layers): what the code generators need before they emit."""
    problems = [Diagnostic(p) for p in graph_name_problems(graph)]
    problems += [Diagnostic(p, node.span) for node in graph.nodes() if (p := name_problem(node.name, "layer"))]
    if problems:
        raise SegError(problems)
